//! Node keys, signed envelopes and encryption to recipients (filled by the federation work).
