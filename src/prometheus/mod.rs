//! Prometheus text exposition of `Health` (feature `prometheus`): under construction for issue 9.
