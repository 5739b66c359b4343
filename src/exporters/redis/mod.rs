//! Redis Streams exporter and heartbeats (feature `redis`): under construction for issue 9.
