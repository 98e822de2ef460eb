//! See `main.rs`: the edges cases.
