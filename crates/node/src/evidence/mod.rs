//! Evidence packages: sealing files and folders into a signed, encrypted,
//! segmented package ([`package`]), and moving packages between nodes in
//! verified, resumable chunks ([`transfer`] on the sending side, [`receive`]
//! on the receiving side).

pub mod expiry;
pub mod package;
pub mod receive;
pub mod service;
pub mod staged;
pub mod transfer;
mod unpack;
pub mod upload;
