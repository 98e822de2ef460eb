//! Security: Custos tried as an attacker would, against real node processes.
//!
//! Each module takes one kind of attacker: someone with access to a node's
//! machine and its database files (`at_rest`), a hostile peer that is in the
//! directory and signs with its real keys (`hostile_peer`), a peer or client
//! that holds resources or finds the node in a bad state (`edges`), and an
//! outside expert who must be able to check proofs without trusting the node
//! (`proofs`). Every finding of the integrity review has a test here that
//! fails without its fix.

mod at_rest;
mod edges;
mod hostile_peer;
mod proofs;
