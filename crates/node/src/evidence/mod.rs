//! Evidence packages: sealing files and folders into a signed, encrypted,
//! segmented package folder ([`seal`]), verifying and opening one
//! ([`open`]), doing either as a custody event of the node ([`service`]),
//! and moving packages between nodes in verified, resumable chunks
//! ([`transfer`] on the sending side, [`receive`] on the receiving side).
//!
//! A package is a folder holding `manifest.dsse.json` (the signed manifest,
//! [`custos_protocol::evidence::Manifest`]) and `segments/NNNNNN.age`, the
//! tar stream of the sealed files cut into segments and each encrypted as an
//! ordinary age file. The format is in `docs/formats/evidence.md`.
//!
//! The modules depend on each other one way. At the bottom: [`layout`]
//! (names and paths in a package folder, reading the manifest, hashing
//! segments), [`pipeline`] (buffers, workers and queues of the threaded
//! pipelines, and their [`pipeline::Progress`]), `direct_io` (aligned
//! buffers and `O_DIRECT` writes) and `guard` (an output folder cleaned up on
//! failure). [`seal`] and [`open`] are built on those; [`service`] runs them
//! for the node; [`transfer`], [`receive`], [`upload`], [`staged`] and
//! [`expiry`] move packages between nodes; `audit` checks the packages the
//! node accepted for the deep check.

pub(crate) mod audit;
mod direct_io;
pub mod expiry;
mod guard;
pub mod layout;
pub mod open;
pub mod pipeline;
pub mod receive;
pub mod seal;
pub mod service;
pub mod staged;
pub mod transfer;
pub mod upload;
