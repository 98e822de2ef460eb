//! Backing up a node while it serves: one tar archive holding a consistent
//! copy of the database, the node's own files and, only when asked, its
//! keys encrypted with age; with a manifest of every member's SHA-256.
//!
//! The archive's members, in order:
//!
//! - `database/<name>`: the SQLite database as of one commit
//!   ([`custos_store::Store::snapshot_into`], `VACUUM INTO` beside the
//!   writer); absent from a `--files-only` backup (a PostgreSQL node, whose
//!   database `pg_dump` copies);
//! - `files/<path>`: every other file of the data folder (configuration,
//!   directory mark, checkpoint mark, treaty registry, received evidence
//!   packages, ...), except the keys, uploads still in progress and lock
//!   files;
//! - `keys.tar.age`: the `keys/` folder as a tar stream encrypted with age to
//!   a passphrase (scrypt) or to a recipient, only with `--with-keys`;
//! - `manifest.json`, last: the format, the node, the schema version, and
//!   the path, size and SHA-256 of every member above.
//!
//! Two orderings make the copy consistent with itself. The checkpoint mark
//! (`latest-checkpoint`) is read before the database is copied: it only
//! grows after the ledger grew, so the copy's ledger is never behind the
//! mark that goes with it (a restored node would otherwise refuse custody).
//! And the received evidence folders are listed under the exclusive
//! acceptance lock ([`ACCEPT_LOCK`]) while the database is copied: a package
//! is logged and moved into `evidence/received/` under the shared lock, so
//! every listed folder is logged in the copy and every package logged in
//! the copy has its folder listed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Actor;
use super::access::Operation;
use crate::custody_health::CHECKPOINT_MARK_FILE;
use crate::{Node, NodeError};

/// The archive format this release writes and reads.
pub const FORMAT: &str = "custos-backup/1";
/// The manifest's name in the archive (its last member).
pub const MANIFEST: &str = "manifest.json";
/// The folder of the database copy in the archive.
pub const DATABASE_DIR: &str = "database";
/// The folder of the data folder's files in the archive.
pub const FILES_DIR: &str = "files";
/// The encrypted keys in the archive.
pub const KEYS_MEMBER: &str = "keys.tar.age";
/// The lock `custos serve` holds (shared) on its data folder while it runs.
pub const SERVE_LOCK: &str = "serve.lock";
/// The lock, under `evidence/`, that accepting a package holds shared and a
/// backup holds exclusive while it copies the database.
pub const ACCEPT_LOCK: &str = "accept.lock";
/// The node's keys folder in the data folder.
pub const KEYS_DIR: &str = "keys";

/// How the node's keys go into a backup.
#[derive(Debug)]
pub enum KeyProtection {
    /// Left out: the backup holds no secret key.
    Without,
    /// Encrypted with age to this passphrase (scrypt).
    Passphrase(SecretString),
    /// Encrypted with age to this recipient (`age1...`).
    Recipient(String),
}

impl KeyProtection {
    fn name(&self) -> &'static str {
        match self {
            KeyProtection::Without => "none",
            KeyProtection::Passphrase(_) => "passphrase",
            KeyProtection::Recipient(_) => "recipient",
        }
    }
}

/// What to back up, and where.
#[derive(Debug)]
pub struct BackupOptions {
    /// The archive to write; it must not exist.
    pub out: PathBuf,
    /// Whether and how the keys go in.
    pub keys: KeyProtection,
    /// Only the node's own files, not the database (a PostgreSQL node).
    pub files_only: bool,
}

/// One member of the archive as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberHash {
    /// The member's path in the archive (`database/...`, `files/...`,
    /// `keys.tar.age`).
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// The archive's manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`FORMAT`].
    pub format: String,
    /// The node's State and name.
    pub state: String,
    pub node: String,
    /// When the backup was taken (RFC 3339).
    pub created_at: String,
    /// The database's schema version (the newest migration applied), when
    /// the database is in the archive.
    pub schema_version: Option<i64>,
    /// The ledger's size when the copy began (the copy holds at least this).
    pub ledger_size: u64,
    /// The database file's path relative to the data folder, when the
    /// archive holds it.
    pub database: Option<String>,
    /// `none`, `passphrase` or `recipient`.
    pub keys: String,
    /// Every other member, with its size and SHA-256.
    pub members: Vec<MemberHash>,
}

/// What a backup wrote.
#[derive(Clone, Debug, Serialize)]
pub struct BackupReport {
    pub out: PathBuf,
    /// The archive's size.
    pub bytes: u64,
    /// The archive's own SHA-256, to note beside it.
    pub sha256: String,
    /// Members in the archive, the manifest aside.
    pub members: usize,
    /// Whether the database is in it.
    pub database: bool,
    pub schema_version: Option<i64>,
    pub ledger_size: u64,
    /// `none`, `passphrase` or `recipient`.
    pub keys: &'static str,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Authorisation, the store or the ledger.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The archive named already exists.
    #[error("{} already exists; name a new file for the backup", .0.display())]
    OutputExists(PathBuf),
    /// A PostgreSQL node's database is copied with `pg_dump`.
    #[error(
        "this node keeps its database in PostgreSQL, which the node does not copy: run pg_dump \
         (see docs/operations-backup.md) and back up the node's own files with \
         `custos backup --files-only`"
    )]
    NeedsPgDump,
    /// The keys could not be encrypted (a malformed recipient).
    #[error("cannot encrypt the node's keys: {0}")]
    Encrypt(String),
    /// The restore target already holds a node.
    #[error(
        "{} already holds a node (it has custos.toml); nothing was changed. Restore into a new \
         folder, or move this one away first",
        .0.display()
    )]
    ExistingNode(PathBuf),
    /// A node is serving from the restore target.
    #[error(
        "a node is serving from {} (its serve lock is held); nothing was changed. Stop it and \
         restore into a new folder",
        .0.display()
    )]
    Serving(PathBuf),
    /// The restore target holds other files.
    #[error("{} is not empty; nothing was changed. Restore into a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// The archive is not a Custos backup or is cut short.
    #[error("the backup is damaged or not a Custos backup: {0}")]
    Damaged(String),
    /// A member does not match the manifest.
    #[error(
        "{0} in the backup does not match the SHA-256 its manifest gives: the backup was altered \
         or damaged; nothing was restored"
    )]
    HashMismatch(String),
    /// The archive holds encrypted keys and no secret was given.
    #[error(
        "the backup holds the node's keys, encrypted to a {0}: give --passphrase-file or \
         --identity to restore them"
    )]
    KeysLocked(String),
    /// The keys could not be decrypted.
    #[error("cannot decrypt the node's keys: {0}")]
    Decrypt(String),
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

impl Node {
    /// Writes a backup of this node to `options.out` while it may be
    /// serving (operation `back-up`, the administrator's; the access record
    /// and the ledger name who took it and when).
    pub async fn backup(
        &self,
        actor: &Actor,
        options: BackupOptions,
    ) -> Result<BackupReport, BackupError> {
        self.authorize(actor, Operation::BackUp, None).await?;
        let database_file = self.store.database_file();
        if database_file.is_none() && !options.files_only {
            return Err(BackupError::NeedsPgDump);
        }
        if options.out.exists() {
            return Err(BackupError::OutputExists(options.out));
        }
        // Compared path by path below: every path in its canonical form.
        let data = canonical(&self.settings.data_dir)?;
        let database_file = match database_file {
            Some(f) => Some(canonical(&f)?),
            None => None,
        };
        let out = match (options.out.parent(), options.out.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                canonical(parent)?.join(name)
            }
            _ => {
                return Err(BackupError::Io {
                    what: format!("{} names no file", options.out.display()),
                    source: io::Error::from(io::ErrorKind::InvalidInput),
                });
            }
        };
        let partial = partial_path(&out);
        let scratch = partial.with_extension("db-copy");
        let _ = fs::remove_file(&scratch);

        // The mark before the database (see the module's note).
        let mark = fs::read(data.join(CHECKPOINT_MARK_FILE)).ok();
        let ledger_size = self.store.ledger_size().await.map_err(NodeError::from)?;
        let schema_version = if options.files_only {
            None
        } else {
            Some(self.store.schema_version().await.map_err(NodeError::from)?)
        };

        // The database and the received packages, under the acceptance lock.
        let lock = {
            let data = data.clone();
            blocking(move || AcceptLock::exclusive(&data)).await?
        };
        let copied = if options.files_only {
            Ok(())
        } else {
            self.store.snapshot_into(&scratch).await
        };
        let received = {
            let data = data.clone();
            blocking(move || list_files(&received_root(&data))).await
        };
        drop(lock);
        if let Err(e) = copied {
            let _ = fs::remove_file(&scratch);
            return Err(NodeError::from(e).into());
        }
        let received = received.inspect_err(|_| {
            let _ = fs::remove_file(&scratch);
        })?;

        let database = database_file.as_deref().map(|f| relative_name(&data, f));
        let manifest = BackupManifest {
            format: FORMAT.to_owned(),
            state: self.state().to_string(),
            node: self.settings.name.clone(),
            created_at: self
                .clock
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            schema_version,
            ledger_size,
            database: database.clone().filter(|_| !options.files_only),
            keys: options.keys.name().to_owned(),
            members: Vec::new(),
        };
        let keys_name = options.keys.name();
        let excluded = Excluded {
            data: data.clone(),
            database: database_file,
            out: out.clone(),
            partial: partial.clone(),
            scratch: scratch.clone(),
        };
        let written = {
            let (partial, scratch) = (partial.clone(), scratch.clone());
            blocking(move || {
                write_archive(
                    &partial,
                    &data,
                    &excluded,
                    manifest,
                    mark,
                    &scratch,
                    received,
                    options.keys,
                )
            })
            .await
        };
        let _ = fs::remove_file(&scratch);
        let (members, bytes, sha256) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        };
        fs::rename(&partial, &out).map_err(io_error(format!(
            "cannot move the finished backup to {}",
            out.display()
        )))?;
        Ok(BackupReport {
            out,
            bytes,
            sha256,
            members,
            database: !options.files_only,
            schema_version,
            ledger_size,
            keys: keys_name,
        })
    }
}

/// What the walk of the data folder leaves out.
struct Excluded {
    data: PathBuf,
    database: Option<PathBuf>,
    out: PathBuf,
    partial: PathBuf,
    scratch: PathBuf,
}

impl Excluded {
    fn skips(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.data) else {
            return true;
        };
        let rel_text = rel.to_string_lossy();
        if rel_text == SERVE_LOCK
            || rel.starts_with(KEYS_DIR)
            || rel.starts_with(Path::new("evidence").join("incoming"))
            || rel.starts_with(Path::new("evidence").join("received"))
            || rel == Path::new("evidence").join(ACCEPT_LOCK)
            || rel_text == CHECKPOINT_MARK_FILE
        {
            return true;
        }
        if path == self.out || path == self.partial || path == self.scratch {
            return true;
        }
        if let Some(db) = &self.database {
            let db = db.as_os_str();
            let p = path.as_os_str();
            if p == db
                || ["-wal", "-shm", "-journal"].iter().any(|suffix| {
                    let mut side = db.to_os_string();
                    side.push(suffix);
                    p == side
                })
            {
                return true;
            }
        }
        false
    }
}

fn canonical(path: &Path) -> Result<PathBuf, BackupError> {
    fs::canonicalize(path).map_err(io_error(format!("cannot find {}", path.display())))
}

/// Where a backup is written until it is whole.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// `file`'s path relative to `data`, or its bare name when it lies outside.
fn relative_name(data: &Path, file: &Path) -> String {
    match file.strip_prefix(data) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "custos.db".to_owned()),
    }
}

pub(crate) fn received_root(data: &Path) -> PathBuf {
    crate::evidence::receive::received_root(data)
}

/// Every regular file under `root` (none when it does not exist), sorted.
fn list_files(root: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    if root.exists() {
        walk(root, &mut out).map_err(io_error(format!("cannot list {}", root.display())))?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Appends `size` bytes of `reader` as `name`, returning its hash.
fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    reader: impl Read,
) -> Result<MemberHash, BackupError> {
    let mut hashing = Hashing {
        inner: reader.take(size),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut h = header(size);
    tar.append_data(&mut h, name, &mut hashing)
        .map_err(io_error(format!("cannot write {name} into the backup")))?;
    if hashing.bytes != size {
        return Err(BackupError::Io {
            what: format!("{name} changed while it was copied"),
            source: io::Error::other("short read"),
        });
    }
    Ok(MemberHash {
        path: name.to_owned(),
        size,
        sha256: hex::encode(hashing.hasher.finalize()),
    })
}

fn append_file(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    path: &Path,
) -> Result<Option<MemberHash>, BackupError> {
    let file = match File::open(path) {
        Ok(f) => f,
        // Removed since it was listed (a retention purge): not part of the copy.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(format!("cannot read {}", path.display()))(e)),
    };
    let size = file
        .metadata()
        .map_err(io_error(format!("cannot read {}", path.display())))?
        .len();
    append(tar, name, size, file).map(Some)
}

fn member_name(data: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(data).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{FILES_DIR}/{}", parts.join("/"))
}

/// Writes the whole archive to `partial`; returns the members (the
/// manifest aside), the archive's size and its SHA-256.
#[allow(clippy::too_many_arguments)]
fn write_archive(
    partial: &Path,
    data: &Path,
    excluded: &Excluded,
    mut manifest: BackupManifest,
    mark: Option<Vec<u8>>,
    database_copy: &Path,
    received: Vec<PathBuf>,
    keys: KeyProtection,
) -> Result<(usize, u64, String), BackupError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(partial)
        .map_err(io_error(format!("cannot create {}", partial.display())))?;
    let sink = HashingWriter {
        inner: BufWriter::new(file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut tar = tar::Builder::new(sink);
    let mut members = Vec::new();

    if let Some(name) = &manifest.database {
        let member = format!("{DATABASE_DIR}/{name}");
        members.extend(append_file(&mut tar, &member, database_copy)?);
    }
    if let Some(mark) = mark {
        let name = format!("{FILES_DIR}/{CHECKPOINT_MARK_FILE}");
        members.push(append(&mut tar, &name, mark.len() as u64, &mark[..])?);
    }
    let mut files = Vec::new();
    walk(data, &mut files).map_err(io_error(format!("cannot list {}", data.display())))?;
    files.retain(|p| !excluded.skips(p));
    files.sort();
    for path in files.iter().chain(received.iter()) {
        let name = member_name(data, path);
        members.extend(append_file(&mut tar, &name, path)?);
    }
    if let Some(encrypted) = encrypt_keys(&data.join(KEYS_DIR), keys)? {
        members.push(append(
            &mut tar,
            KEYS_MEMBER,
            encrypted.len() as u64,
            &encrypted[..],
        )?);
    }
    manifest.members = members;
    let count = manifest.members.len();
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Damaged(format!("cannot write the manifest: {e}")))?;
    let mut h = header(text.len() as u64);
    tar.append_data(&mut h, MANIFEST, &text[..])
        .map_err(io_error("cannot write the manifest into the backup"))?;
    let mut sink = tar
        .into_inner()
        .map_err(io_error("cannot finish the backup"))?;
    sink.flush().map_err(io_error("cannot finish the backup"))?;
    let bytes = sink.bytes;
    let sha256 = hex::encode(sink.hasher.finalize());
    let file = sink
        .inner
        .into_inner()
        .map_err(|e| io_error("cannot finish the backup")(e.into_error()))?;
    file.sync_all()
        .map_err(io_error("cannot sync the backup to disk"))?;
    Ok((count, bytes, sha256))
}

/// The keys folder as a tar stream, encrypted as asked; `None` without keys.
fn encrypt_keys(dir: &Path, keys: KeyProtection) -> Result<Option<Vec<u8>>, BackupError> {
    let encryptor = match keys {
        KeyProtection::Without => return Ok(None),
        KeyProtection::Passphrase(p) => age::Encryptor::with_user_passphrase(p),
        KeyProtection::Recipient(text) => {
            let recipient: age::x25519::Recipient = text.trim().parse().map_err(|e: &str| {
                BackupError::Encrypt(format!("{text:?} is not an age recipient: {e}"))
            })?;
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| BackupError::Encrypt(e.to_string()))?
        }
    };
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(io_error(format!("cannot list {}", dir.display())))?;
    files.sort();
    let mut inner = tar::Builder::new(Vec::new());
    for path in &files {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let bytes = fs::read(path).map_err(io_error(format!("cannot read {}", path.display())))?;
        let mut h = header(bytes.len() as u64);
        inner
            .append_data(&mut h, rel, &bytes[..])
            .map_err(io_error("cannot pack the keys"))?;
    }
    let plain = inner
        .into_inner()
        .map_err(io_error("cannot pack the keys"))?;
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| BackupError::Encrypt(e.to_string()))?;
    writer
        .write_all(&plain)
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| BackupError::Encrypt(e.to_string()))?;
    Ok(Some(out))
}

/// Runs file work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Io {
            what: "a file-system task".into(),
            source: io::Error::other(e.to_string()),
        })?
}

/// The advisory lock on `DATA/evidence/accept.lock`: accepting a package
/// holds it shared, a backup exclusive while it copies the database. The
/// kernel releases it when its holder dies.
#[derive(Debug)]
pub(crate) struct AcceptLock(File);

impl AcceptLock {
    fn open(data: &Path) -> io::Result<File> {
        let dir = data.join("evidence");
        fs::create_dir_all(&dir)?;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(ACCEPT_LOCK))
    }

    /// Waits for the lock, shared (an acceptance).
    pub(crate) fn shared(data: &Path) -> io::Result<AcceptLock> {
        let file = Self::open(data)?;
        file.lock_shared()?;
        Ok(AcceptLock(file))
    }

    /// Waits for the lock, exclusive (a backup).
    fn exclusive(data: &Path) -> Result<AcceptLock, BackupError> {
        let file =
            Self::open(data).map_err(io_error("cannot open the evidence acceptance lock"))?;
        file.lock()
            .map_err(io_error("cannot take the evidence acceptance lock"))?;
        Ok(AcceptLock(file))
    }
}

impl Drop for AcceptLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The lock `custos serve` holds, shared, on `DATA/serve.lock` while it
/// runs, so that a restore can tell a serving node's folder. Released by the
/// kernel when the process ends, however it ends.
#[derive(Debug)]
pub struct ServeLock(#[allow(dead_code)] File);

impl ServeLock {
    /// Takes the lock for a node serving from `data`.
    pub fn hold(data: &Path) -> Result<ServeLock, BackupError> {
        let path = data.join(SERVE_LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(format!("cannot open {}", path.display())))?;
        file.lock_shared()
            .map_err(io_error(format!("cannot lock {}", path.display())))?;
        Ok(ServeLock(file))
    }

    /// Whether a node serves from `data` now.
    pub fn is_held(data: &Path) -> bool {
        let Ok(file) = OpenOptions::new().write(true).open(data.join(SERVE_LOCK)) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}
