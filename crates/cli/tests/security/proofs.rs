//! See `main.rs`: the proofs cases.
