//! Direct I/O for the large files of evidence packages: buffers aligned for
//! `O_DIRECT`, switching a file to direct I/O and back, writing one aligned
//! block (through the page cache where the file system refuses it), the
//! page-cache advice used where direct I/O is not available, and settling a
//! finished file. The seal's segment writer, the open's file writer and the
//! receiving side's segment uploads are built on these.
//!
//! A package is written once and read later, if at all, so caching it buys
//! nothing, and finding page-cache memory for gigabytes costs more CPU than
//! the write itself (much more on virtual machines that hand free memory
//! back to the host).

use std::fs::File;
use std::io;
use std::sync::mpsc::Receiver;

/// Alignment of direct writes (memory address, file offset and length): the
/// largest logical block size of common disks.
pub(crate) const DIRECT_ALIGN: usize = 4096;
/// Ciphertext gathered before each direct write.
pub(crate) const DIRECT_BUFFER: usize = 1 << 20;

/// An aligned buffer for direct writes, carved out of a slightly larger
/// allocation (so no unsafe code is needed for the alignment).
pub(crate) struct DirectBuffer {
    raw: Vec<u8>,
    start: usize,
    pub(crate) fill: usize,
}

impl DirectBuffer {
    pub(crate) fn new() -> Self {
        let raw = vec![0u8; DIRECT_BUFFER + DIRECT_ALIGN];
        // The vector is never resized, so its bytes stay where they are.
        let start = (DIRECT_ALIGN - raw.as_ptr().addr() % DIRECT_ALIGN) % DIRECT_ALIGN;
        Self {
            raw,
            start,
            fill: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.fill]
    }

    /// One handed back on `pool` if there is one, else a new one.
    pub(crate) fn from_pool(pool: &Receiver<DirectBuffer>) -> Self {
        pool.try_recv().unwrap_or_else(|_| Self::new())
    }

    /// The gathered bytes from `from` on.
    pub(crate) fn bytes_from(&self, from: usize) -> &[u8] {
        &self.raw[self.start + from..self.start + self.fill]
    }

    /// The room left after the gathered bytes.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let at = self.start + self.fill;
        &mut self.raw[at..self.start + DIRECT_BUFFER]
    }

    /// The gathered bytes followed by zeros up to the next aligned length.
    fn padded(&mut self) -> &[u8] {
        let len = self.fill.next_multiple_of(DIRECT_ALIGN);
        let block = &mut self.raw[self.start..self.start + len];
        block[self.fill..].fill(0);
        block
    }
}

/// Writes one direct buffer at `offset`. A refused direct write (`EINVAL`:
/// alignment rules stricter than [`DIRECT_ALIGN`]) switches the file to the
/// page cache and writes the bytes there.
#[cfg(unix)]
pub(crate) fn write_block(file: &File, offset: u64, buf: &mut DirectBuffer) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    match file.write_all_at(buf.padded(), offset) {
        Err(e) if e.raw_os_error() == Some(EINVAL) && disable_direct(file) => {
            file.write_all_at(buf.bytes(), offset)
        }
        done => done,
    }
}

#[cfg(not(unix))]
pub(crate) fn write_block(_file: &File, _offset: u64, _buf: &mut DirectBuffer) -> io::Result<()> {
    Err(io::Error::other("direct writes are not supported here"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EINVAL: i32 = 22;

/// Switches `file` to direct I/O; false where the file system does not
/// support it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn enable_direct(file: &File) -> bool {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    fcntl_getfl(file).is_ok_and(|flags| fcntl_setfl(file, flags | OFlags::DIRECT).is_ok())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn enable_direct(_file: &File) -> bool {
    false
}

/// Switches `file` back to the page cache; false if that failed.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn disable_direct(file: &File) -> bool {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    fcntl_getfl(file).is_ok_and(|flags| fcntl_setfl(file, flags - OFlags::DIRECT).is_ok())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn disable_direct(_file: &File) -> bool {
    false
}

/// Starts writing `len` bytes of `file` from `offset` to disk without waiting
/// for it: `POSIX_FADV_DONTNEED` starts writeback of dirty pages (and drops
/// only pages already clean). Advice only, so a failure is ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Drops a synced segment's pages from the page cache (page-cache mode; a
/// direct-written file has none there). Advice only, so a failure is
/// ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn drop_cached(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn drop_cached(_file: &File) {}

/// Cuts a written file to `size` (a direct write ends on a whole block),
/// syncs it and drops its pages from the page cache.
pub(crate) fn settle(file: &File, size: u64) -> io::Result<()> {
    if file.metadata()?.len() != size {
        file.set_len(size)?;
    }
    file.sync_all()?;
    drop_cached(file);
    Ok(())
}

/// Data for the tests of the writers built on direct I/O.
#[cfg(test)]
pub(crate) mod tests {
    use super::{DIRECT_ALIGN, DIRECT_BUFFER};

    /// Bytes that differ from their neighbours, `len` of them.
    pub(crate) fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Lengths around the direct buffer and the alignment, where a direct
    /// writer's padding and cutting can go wrong.
    pub(crate) const EDGE_SIZES: [usize; 7] = [
        0,
        1,
        DIRECT_ALIGN - 1,
        DIRECT_ALIGN + 1,
        DIRECT_BUFFER,
        DIRECT_BUFFER + 16,
        3 * DIRECT_BUFFER - 7,
    ];
}
