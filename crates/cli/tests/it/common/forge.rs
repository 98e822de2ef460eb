//! Evidence packages forged the way a hostile peer in the directory would
//! make them (tar stream, age segments and signed manifest written by
//! hand), and the raw HTTP calls that upload them to a node of the
//! [`Network`].

use super::*;

/// One file of a forged package: the path the manifest lists, the name its
/// tar entry carries (a hostile peer may make them differ) and its bytes.
pub struct ForgedFile {
    pub path: String,
    pub tar_name: String,
    pub bytes: Vec<u8>,
}

impl ForgedFile {
    /// A file whose tar entry carries the name the manifest lists.
    pub fn new(path: &str, bytes: Vec<u8>) -> ForgedFile {
        ForgedFile {
            path: path.to_owned(),
            tar_name: path.to_owned(),
            bytes,
        }
    }
}

/// An evidence package as a hostile peer in the directory makes it: tar
/// stream, age segments and signed manifest written by hand, with the
/// peer's real signing key and the directory's real encryption keys, so
/// that it can say what a sealing node never would.
pub struct Forge {
    pub from: String,
    pub to: Vec<String>,
    pub request: String,
    pub created_at: time::OffsetDateTime,
    pub files: Vec<ForgedFile>,
    /// Tar entries beyond the files (not in the manifest): name and bytes.
    pub extra_entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Encrypt the segments to the sender's own key only.
    pub sender_only: bool,
}

impl Forge {
    /// A package from `from` to `to` answering `request`, made now.
    pub fn new(from: &str, to: &str, request: &str) -> Forge {
        // A forged package is dated by the wall clock, as a peer would.
        #[allow(clippy::disallowed_methods)]
        let now = time::OffsetDateTime::now_utc();
        Forge {
            from: from.to_owned(),
            to: vec![to.to_owned()],
            request: request.to_owned(),
            created_at: now,
            files: vec![ForgedFile::new(
                "notes.txt",
                b"seized 2026-11-28\n".to_vec(),
            )],
            extra_entries: Vec::new(),
            sender_only: false,
        }
    }
}

/// A forged package: its folder, id and the 64 hex digits of the id.
pub struct Forged {
    pub dir: PathBuf,
    pub id: String,
    pub hex: String,
    pub manifest: Vec<u8>,
    pub segments: usize,
}

/// An HTTP request for [`Network::http_all`]: method, node, path, headers, body.
pub type HttpCall<'a> = (
    &'a str,
    &'a str,
    String,
    Vec<(&'static str, String)>,
    Vec<u8>,
);

/// A ustar header for a regular file named `name` (at most 100 bytes, any bytes).
fn raw_tar_header(name: &[u8], size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(1_795_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    if let Some(ustar) = header.as_ustar_mut() {
        ustar.name[..name.len()].copy_from_slice(name);
    }
    header.set_cksum();
    header
}

impl Network {
    /// Writes the package `forge` describes into the new folder `out`.
    pub fn forge(&self, forge: &Forge, out: &std::path::Path) -> Forged {
        use custos_protocol::evidence::{
            Content, FileEntry, MIN_SEGMENT_SIZE, Manifest, Segment, SegmentHash, Totals,
            sign_manifest,
        };
        use sha2::Digest as _;

        let mut tar = tar::Builder::new(Vec::new());
        for f in &forge.files {
            let header = raw_tar_header(f.tar_name.as_bytes(), f.bytes.len() as u64);
            tar.append(&header, f.bytes.as_slice())
                .expect("a tar entry is written");
        }
        for (name, bytes) in &forge.extra_entries {
            let header = raw_tar_header(name, bytes.len() as u64);
            tar.append(&header, bytes.as_slice())
                .expect("a tar entry is written");
        }
        let stream = tar.into_inner().expect("the tar stream ends");

        // The keys in force now (a manifest may claim any date).
        #[allow(clippy::disallowed_methods)]
        let at = time::OffsetDateTime::now_utc();
        let directory = self.directory(at);
        let mut keys = directory.current_recipients(state(&forge.from), at);
        if !forge.sender_only {
            for to in &forge.to {
                keys.extend(directory.current_recipients(state(to), at));
            }
        }
        std::fs::create_dir_all(out.join("segments")).expect("the package folder is made");
        let mut segments = Vec::new();
        for (i, plain) in stream.chunks(MIN_SEGMENT_SIZE as usize).enumerate() {
            let ciphertext = custos_seal::encrypt(plain, &keys).expect("a segment encrypts");
            std::fs::write(out.join(format!("segments/{i:06}.age")), &ciphertext)
                .expect("a segment is written");
            segments.push(Segment::new(
                i as u64,
                plain.len() as u64,
                ciphertext.len() as u64,
                SegmentHash::Blake3,
                blake3::hash(&ciphertext).to_hex().to_string(),
            ));
        }
        let files: Vec<FileEntry> = forge
            .files
            .iter()
            .map(|f| FileEntry {
                path: f.path.clone(),
                size: f.bytes.len() as u64,
                sha256: sha2::Sha256::digest(&f.bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                mtime: time::OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("a time"),
            })
            .collect();
        let manifest = Manifest {
            v: 2,
            request: forge.request.clone(),
            sender: state(&forge.from),
            recipients: forge.to.iter().map(|t| state(t)).collect(),
            created_at: custos_protocol::timestamp::truncate(forge.created_at),
            use_limits: Value::Null,
            confidentiality: Value::Null,
            personal_data: None,
            totals: Totals {
                files: files.len() as u64,
                bytes: files.iter().map(|f| f.size).sum(),
            },
            files,
            content: Content {
                format: "tar".into(),
                size: stream.len() as u64,
                segment_size: MIN_SEGMENT_SIZE,
            },
            segments,
        };
        let bytes = sign_manifest(&manifest, &self.signing_key(&forge.from))
            .expect("the forged manifest is signed");
        std::fs::write(out.join("manifest.dsse.json"), &bytes).expect("the manifest is written");
        let payload = custos_seal::Envelope::from_json(&bytes)
            .expect("an envelope")
            .payload;
        let id = custos_protocol::evidence::package_id(&payload);
        Forged {
            dir: out.to_owned(),
            hex: id.trim_start_matches("sha256:").to_owned(),
            id,
            manifest: bytes,
            segments: manifest.segments.len(),
        }
    }

    /// The `custos-upload-auth` header value `from` signs for calls about
    /// `package` to `to`, with its real key, now.
    pub fn upload_auth(&self, from: &str, to: &str, package: &str) -> String {
        #[allow(clippy::disallowed_methods)]
        let now = time::OffsetDateTime::now_utc();
        custos_protocol::evidence_upload::sign_upload_auth(
            package,
            state(from),
            state(to),
            now,
            &self.signing_key(from),
        )
        .expect("the authorisation is signed")
    }

    /// Sends HTTP requests to nodes all at once and returns the answers in
    /// order: `(method, to, path, headers, body)`.
    pub fn http_all(&self, calls: Vec<HttpCall<'_>>) -> Vec<Answer> {
        let requests: Vec<_> = calls
            .into_iter()
            .map(|(method, to, path, headers, body)| {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
                let typed = headers.iter().any(|(name, _)| *name == "content-type");
                let mut request = self
                    .client
                    .request(method, format!("{}{path}", self.url(to)));
                if !typed {
                    request = request.header("content-type", "application/octet-stream");
                }
                let mut request = request
                    // Offers of manifests near the size limit are checked
                    // by a debug build, which takes its time on a busy
                    // machine: longer than the client's usual deadline.
                    .timeout(Duration::from_secs(300))
                    .body(body);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                send(request)
            })
            .collect();
        self.block_on(futures_util::future::join_all(requests))
    }

    /// One HTTP request with headers (see [`Network::http_all`]).
    pub fn http_with(
        &self,
        method: &str,
        to: &str,
        path: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Answer {
        self.http_all(vec![(method, to, path, headers, body)])
            .pop()
            .expect("one answer")
    }

    /// Uploads a forged package from `from` to `to` as its sender would:
    /// offer, every segment, acceptance, each signed by `from`. Returns the
    /// answers: offer, segments..., acceptance.
    pub fn upload_forged(&self, from: &str, to: &str, pkg: &Forged) -> Vec<Answer> {
        let auth = || vec![("custos-upload-auth", self.upload_auth(from, to, &pkg.id))];
        let mut answers = vec![self.http_with(
            "POST",
            to,
            "/federation/v1/evidence".into(),
            auth(),
            pkg.manifest.clone(),
        )];
        for i in 0..pkg.segments {
            let body = std::fs::read(pkg.dir.join(format!("segments/{i:06}.age")))
                .expect("a segment reads");
            answers.push(self.http_with(
                "PUT",
                to,
                format!("/federation/v1/evidence/{}/segments/{i}", pkg.hex),
                auth(),
                body,
            ));
        }
        answers.push(self.http_with(
            "POST",
            to,
            format!("/federation/v1/evidence/{}/complete", pkg.hex),
            auth(),
            Vec::new(),
        ));
        answers
    }

    /// The kinds and subjects of the entries in the node's ledger, queued ones included.
    pub fn ledger_entries(&self, cc: &str) -> Vec<Value> {
        let store = self.store(cc);
        // The queue first: an entry only ever moves from the queue into the
        // ledger, so one sequenced between the two reads is then found in
        // both (and kept once) rather than in neither.
        let queued = self
            .block_on(store.pending_ledger(100_000))
            .expect("the queue reads");
        let sequenced = self
            .block_on(store.ledger_entries(0, 100_000))
            .expect("the ledger reads");
        let held: std::collections::HashSet<&[u8]> =
            sequenced.iter().map(|r| r.entry.as_slice()).collect();
        sequenced
            .iter()
            .map(|r| r.entry.as_slice())
            .chain(
                queued
                    .iter()
                    .map(|p| p.entry.as_slice())
                    .filter(|e| !held.contains(e)),
            )
            .map(|e| serde_json::from_slice(e).expect("an entry is JSON"))
            .collect()
    }
}
