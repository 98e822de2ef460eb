//! See `main.rs`: the hostile_peer cases.
