//! OTLP/HTTP exporter (feature `otlp`): under construction for issue 9.
