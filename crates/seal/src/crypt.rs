//! age encryption (C2SP age v1, X25519 recipients, ChaCha20-Poly1305 in
//! 64 KiB chunks) of messages and streams, in the binary (not armored) form.
//!
//! Whole-message functions work on byte slices and take a size limit on the
//! way in; the streaming pair wraps any `Write`/`Read` for evidence packages.
//! Failures become typed [`SealError`]s: the wrong identity is
//! [`SealError::NoMatchingIdentity`], a broken header
//! [`SealError::MalformedCiphertext`], an altered or truncated body
//! [`SealError::DecryptionFailed`].

use std::fmt;
use std::io::{self, Read, Write};

use crate::SealError;
use crate::keys::{EncryptionIdentity, EncryptionRecipient};

/// Encrypts `plaintext` to every recipient in the list (any one of them can
/// decrypt). Fails with [`SealError::NoRecipients`] on an empty list.
pub fn encrypt(plaintext: &[u8], recipients: &[EncryptionRecipient]) -> Result<Vec<u8>, SealError> {
    // Header (~50 bytes per recipient, plus ~100) and 16 bytes of tag per
    // 64 KiB chunk.
    let overhead = 128 + 96 * recipients.len() + 16 * (plaintext.len() / 65_536 + 1);
    let mut writer = encrypt_writer(Vec::with_capacity(plaintext.len() + overhead), recipients)?;
    writer.write_all(plaintext).map_err(encrypt_io)?;
    writer.finish()
}

/// Decrypts a whole age message with one identity, refusing ciphertext
/// longer than `limit` bytes before doing any work.
pub fn decrypt(
    ciphertext: &[u8],
    identity: &EncryptionIdentity,
    limit: u64,
) -> Result<Vec<u8>, SealError> {
    decrypt_any(ciphertext, std::slice::from_ref(identity), limit)
}

/// Decrypts a whole age message with whichever of `identities` it is
/// addressed to (for key rotation: the current and the previous identity).
pub fn decrypt_any(
    ciphertext: &[u8],
    identities: &[EncryptionIdentity],
    limit: u64,
) -> Result<Vec<u8>, SealError> {
    let too_large = u64::try_from(ciphertext.len()).map_or(true, |len| len > limit);
    if too_large {
        return Err(SealError::TooLarge { limit });
    }
    let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(from_age)?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| &i.0 as &dyn age::Identity))
        .map_err(from_age)?;
    let mut plaintext = Vec::with_capacity(ciphertext.len());
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| from_stream_io(&e))?;
    Ok(plaintext)
}

/// Starts an encrypted stream to `recipients` on `output`; the header is
/// written at once. Call [`EncryptingWriter::finish`] at the end: without it
/// the last chunk is missing and the output will not decrypt.
pub fn encrypt_writer<W: Write>(
    output: W,
    recipients: &[EncryptionRecipient],
) -> Result<EncryptingWriter<W>, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| &r.0 as &dyn age::Recipient))
            .map_err(|e| SealError::EncryptionFailed(e.to_string()))?;
    let inner = encryptor.wrap_output(output).map_err(encrypt_io)?;
    Ok(EncryptingWriter { inner })
}

/// Opens an encrypted stream with `identity`; the header is read and checked
/// at once, the body as it is read. Read errors caused by altered or
/// truncated ciphertext have kind `InvalidData` and carry
/// [`SealError::DecryptionFailed`] as their inner error.
pub fn decrypt_reader<R: Read>(
    input: R,
    identity: &EncryptionIdentity,
) -> Result<DecryptingReader<R>, SealError> {
    let decryptor = age::Decryptor::new(input).map_err(from_age)?;
    let inner = decryptor
        .decrypt(std::iter::once(&identity.0 as &dyn age::Identity))
        .map_err(from_age)?;
    Ok(DecryptingReader { inner })
}

/// Encrypts what is written to it and passes the ciphertext to the wrapped
/// writer.
pub struct EncryptingWriter<W: Write> {
    inner: age::stream::StreamWriter<W>,
}

impl<W: Write> EncryptingWriter<W> {
    /// Writes the final chunk, flushes the wrapped writer and returns it.
    pub fn finish(self) -> Result<W, SealError> {
        let mut output = self.inner.finish().map_err(encrypt_io)?;
        output.flush().map_err(encrypt_io)?;
        Ok(output)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptingWriter(..)")
    }
}

/// Decrypts the wrapped reader's ciphertext as it is read.
pub struct DecryptingReader<R> {
    inner: age::stream::StreamReader<R>,
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::InvalidData, SealError::DecryptionFailed)
            }
            _ => e,
        })
    }
}

impl<R> fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecryptingReader(..)")
    }
}

fn encrypt_io(err: io::Error) -> SealError {
    SealError::EncryptionFailed(format!("writing output: {err}"))
}

/// Classifies an error met while reading the decrypted body of an in-memory
/// ciphertext: every failure there is the ciphertext's.
fn from_stream_io(err: &io::Error) -> SealError {
    match err.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => SealError::DecryptionFailed,
        _ => SealError::MalformedCiphertext(err.to_string()),
    }
}

fn from_age(err: age::DecryptError) -> SealError {
    use age::DecryptError as E;
    match err {
        E::NoMatchingKeys => SealError::NoMatchingIdentity,
        E::DecryptionFailed | E::KeyDecryptionFailed | E::InvalidMac => SealError::DecryptionFailed,
        E::InvalidHeader => SealError::MalformedCiphertext("invalid header".into()),
        E::UnknownFormat => SealError::MalformedCiphertext("unknown age version".into()),
        E::ExcessiveWork { .. } => {
            SealError::MalformedCiphertext("passphrase-encrypted files are not accepted".into())
        }
        E::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            SealError::MalformedCiphertext("header is truncated".into())
        }
        E::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            SealError::MalformedCiphertext(format!("header: {e}"))
        }
        E::Io(e) => SealError::Io(e),
        other => SealError::MalformedCiphertext(other.to_string()),
    }
}
