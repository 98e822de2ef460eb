//! `custos directory` and `custos registry`: the signed network directory.
//!
//! Each State signs its own entry (`directory entry`); the registry signs the
//! list of entries with its own key, a version and an expiry (`directory
//! sign`); every node verifies the list against the registry key it trusts and
//! imports it (`directory import`). See ARCHITECTURE.md, "Trust model".

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use custos_model::clock::Clock;
use custos_node::app::DirectoryView;
use custos_node::directory::EntryDetails;
use custos_protocol::{Directory, DirectoryList};
use custos_seal::{Envelope, SigningKey};
use time::format_description::well_known::Rfc3339;

use crate::clock::SystemClock;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Write this node's directory entry, signed with its current key, for the registry to include.
    Entry {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The URL where peers reach this node (https://..., or http://127.0.0.1:PORT for tests).
        #[arg(long)]
        url: String,
        /// The 24/7 point of contact (name, telephone, e-mail).
        #[arg(long, value_name = "TEXT")]
        contact: Option<String>,
        /// The central authority for mutual legal assistance.
        #[arg(long, value_name = "TEXT")]
        central_authority: Option<String>,
        /// A language requests may be written in (repeat for several).
        #[arg(long = "language", value_name = "LANG")]
        languages: Vec<String>,
        /// Where the State's treaty status is recorded (a reference into the treaty registry).
        #[arg(long, value_name = "TEXT")]
        treaty_status: Option<String>,
        /// Where to write the signed entry (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// As the registry: sign a list of entries into a directory with a version and an expiry.
    Sign {
        /// The registry's secret key file (from `custos registry keygen`).
        #[arg(long, value_name = "FILE")]
        registry_key: PathBuf,
        /// The registry's name, shown to nodes.
        #[arg(long, default_value = "Custos network registry")]
        name: String,
        /// The directory's version: nodes accept only versions newer than the one they hold.
        #[arg(long, value_name = "N")]
        directory_version: u64,
        /// How many days the directory stays valid.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        /// Where to write the signed directory.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The signed entries to include.
        #[arg(required = true)]
        entries: Vec<PathBuf>,
    },
    /// Verify a signed directory against a registry's public key and print it.
    Verify {
        /// The signed directory file.
        file: PathBuf,
        /// The registry's public key (ed25519:...).
        #[arg(long, value_name = "KEY")]
        registry_key: String,
    },
    /// Verify a signed directory and make it the one this node trusts.
    Import {
        /// The signed directory file.
        file: PathBuf,
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// The registry's public key; recorded in custos.toml when the node has none yet.
        #[arg(long, value_name = "KEY")]
        registry_key: Option<String>,
    },
    /// Print the directory this node trusts.
    Show {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
    },
    /// Write the signed directory file this node trusts, byte for byte as it was imported.
    Export {
        /// The node's data directory.
        #[arg(long, value_name = "DIR", env = "CUSTOS_DATA")]
        data: PathBuf,
        /// Where to write the signed directory file (it must not exist yet).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Create a registry signing key (the secret file is readable only by you) and print its public key.
    Keygen {
        /// Where to write the secret key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

pub fn run_registry(cmd: RegistryCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RegistryCommand::Keygen { out } => {
            let key = SigningKey::generate();
            write_private(&out, key.to_secret_text().as_bytes())?;
            println!("{}", key.verifying_key().to_text());
            eprintln!(
                "Registry secret key written to {}; give nodes the public key above.",
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a new file; refuses to overwrite.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes a new secret file with mode 0600; refuses to overwrite.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn run(cmd: DirectoryCommand) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    match cmd {
        DirectoryCommand::Entry {
            data,
            url,
            contact,
            central_authority,
            languages,
            treaty_status,
            out,
        } => {
            reqwest::Url::parse(&url).with_context(|| format!("--url {url:?} is not a URL"))?;
            let env = rt.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                let details = EntryDetails {
                    node_url: url,
                    contact_24_7: contact,
                    central_authority,
                    languages,
                    treaty_status,
                };
                anyhow::Ok(node.signed_entry(&details)?)
            })?;
            std::fs::write(&out, env.to_json())
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("Signed directory entry written to {}", out.display());
        }
        DirectoryCommand::Sign {
            registry_key,
            name,
            directory_version: version,
            valid_days,
            out,
            entries,
        } => {
            let text = std::fs::read_to_string(&registry_key)
                .with_context(|| format!("cannot read {}", registry_key.display()))?;
            let key = SigningKey::from_secret_text(text.trim()).with_context(|| {
                format!("{} is not a registry secret key", registry_key.display())
            })?;
            let mut envelopes = Vec::new();
            for e in &entries {
                let bytes =
                    std::fs::read(e).with_context(|| format!("cannot read {}", e.display()))?;
                envelopes.push(
                    Envelope::from_json(&bytes).with_context(|| {
                        format!("{} is not a signed directory entry", e.display())
                    })?,
                );
            }
            let now = SystemClock.now();
            let list = DirectoryList {
                v: 1,
                version,
                registry: name,
                issued_at: now,
                expires_at: now + time::Duration::days(i64::from(valid_days)),
                entries: envelopes,
            };
            let signed = list.sign(&key)?;
            // Check what we produced before handing it out.
            let dir = Directory::verify(&signed, &key.verifying_key(), now)
                .context("the signed directory does not verify")?;
            std::fs::write(&out, &signed)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "Directory version {version} with {} entries written to {}",
                dir.entries().count(),
                out.display()
            );
        }
        DirectoryCommand::Verify { file, registry_key } => {
            let key = crate::key_forms::registry_key("--registry-key", &registry_key)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let dir = Directory::verify(&bytes, &key, SystemClock.now())
                .with_context(|| format!("{} does not verify", file.display()))?;
            print_directory(&DirectoryView::from(&dir));
        }
        DirectoryCommand::Import {
            file,
            data,
            registry_key,
        } => {
            let mut config = Config::load(&data)?;
            if let Some(k) = registry_key {
                crate::key_forms::registry_key("--registry-key", &k)?;
                match &config.directory.registry_key {
                    Some(existing) if *existing != k => bail!(
                        "this node already trusts registry key {existing}; edit directory.registry_key in custos.toml to change it"
                    ),
                    Some(_) => {}
                    None => {
                        config.directory.registry_key = Some(k);
                        config.save(&data)?;
                    }
                }
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let dir = rt.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                anyhow::Ok(
                    node.import_directory(&crate::operator::operator()?, &bytes)
                        .await?,
                )
            })?;
            println!("Imported directory version {}.", dir.version());
            print_directory(&DirectoryView::from(&dir));
        }
        DirectoryCommand::Export { data, out } => {
            let signed = rt.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                let signed = node.directory_file(&crate::operator::operator()?).await;
                node.close().await;
                anyhow::Ok(signed?)
            })?;
            let Some(signed) = signed else {
                bail!("this node has no directory yet; import one with `custos directory import`");
            };
            write_new(&out, &signed)?;
            println!(
                "Signed directory file ({} bytes) written to {}",
                signed.len(),
                out.display()
            );
        }
        DirectoryCommand::Show { data } => {
            let dir = rt.block_on(async {
                let (_, node) = super::node::open(&data).await?;
                let view = node.directory_view(&crate::operator::operator()?).await;
                node.close().await;
                anyhow::Ok(view?)
            })?;
            match dir {
                Some(d) => print_directory(&d),
                None => println!(
                    "This node has no directory yet; import one with `custos directory import`."
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_directory(dir: &DirectoryView) {
    let t = |d: time::OffsetDateTime| d.format(&Rfc3339).unwrap_or_default();
    println!(
        "Directory version {} (expires {})",
        dir.version,
        t(dir.expires_at)
    );
    for e in &dir.entries {
        println!("  {}  {}  {}", e.state, e.node_url, e.name);
        for k in &e.signing_keys {
            let status = if k.revoked_at.is_some() {
                "revoked".to_owned()
            } else {
                k.valid_until
                    .map(|u| format!("until {}", t(u)))
                    .unwrap_or_else(|| "current".into())
            };
            println!("      signing key {} ({status})", k.key_id);
        }
    }
}
