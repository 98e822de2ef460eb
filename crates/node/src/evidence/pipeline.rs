//! The shape shared by the sealing and the opening pipelines: the size of
//! the buffers passed between their threads, the number of encryption (or
//! decryption) workers, how many buffers each may have queued, and the
//! [`Progress`] they report to.

/// Size of the buffers passed between the threads.
pub(crate) const BUFFER: usize = 1 << 20;
/// Buffers waiting per worker.
pub(crate) const QUEUE: usize = 4;

/// The most buffers queued per encryption worker while sealing (bounds memory).
const MAX_SEAL_QUEUE: usize = 24;
/// Encryption (or decryption) workers: the machine this targets has two
/// cores, and with the reader thread this keeps both busy.
pub(crate) const WORKERS: usize = 2;

/// Buffers (of [`BUFFER`] bytes) queued per encryption worker while sealing
/// (and per decryption worker while opening or verifying): one segment's
/// worth plus its start and end, at least [`QUEUE`], at most
/// [`MAX_SEAL_QUEUE`].
pub(crate) fn seal_queue_depth(segment_size: u64) -> usize {
    let per_segment = usize::try_from(segment_size.div_ceil(BUFFER as u64)).unwrap_or(usize::MAX);
    per_segment.saturating_add(2).clamp(QUEUE, MAX_SEAL_QUEUE)
}

/// Reports how far a long operation has got. The CLI draws a bar or prints
/// lines; other callers pass [`NoProgress`]. Implementations are called from
/// worker threads.
pub trait Progress: Send + Sync {
    /// The operation starts; `total_bytes` is what [`Progress::advance`] adds
    /// up to.
    fn start(&self, total_bytes: u64, label: &str);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The operation ended (successfully or not).
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total_bytes: u64, _label: &str) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}
