//! See `main.rs`: the at_rest cases.
