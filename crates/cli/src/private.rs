//! Keeping a node's data folder private to its user.
//!
//! Everything under a data folder is case content or key material: the
//! database holds every request, the key folder the node's secrets. The
//! binary sets its umask to `077` before it creates anything, so every file
//! it writes is `0600` and every folder `0700` whatever the operator's
//! umask; `init` also tightens what already exists in the folder it is
//! given; and `serve` refuses to start when the folder or a key file is open
//! to other users, naming the `chmod` command that fixes it.

use std::path::Path;

use anyhow::Context;

/// Makes every file and folder this process creates private to its user
/// (umask `077`). Called first thing in `main`.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Sets `dir` to `0700` and everything below it to `0700` (folders) or
/// `0600` (files); symbolic links are left alone (they are not followed).
pub fn tighten(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?;
        let mode = if meta.is_dir() {
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            return Ok(());
        };
        if meta.permissions().mode() & 0o7777 != mode {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot restrict {} to mode {mode:o}", dir.display()))?;
        }
        if meta.is_dir() {
            for item in
                std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
            {
                let item = item.with_context(|| format!("cannot list {}", dir.display()))?;
                tighten(&item.path())?;
            }
        }
    }
    Ok(())
}

/// Refuses a data folder that other users can enter, read or write, or a
/// key file (or the key folder) they can read or write; the error names
/// the `chmod` command that fixes it.
pub fn check(data: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if data.exists() {
        let keys = data.join("keys");
        check_one(data, 0o700, data)?;
        if keys.is_dir() {
            check_one(&keys, 0o700, data)?;
            for item in std::fs::read_dir(&keys)
                .with_context(|| format!("cannot list {}", keys.display()))?
            {
                let path = item
                    .with_context(|| format!("cannot list {}", keys.display()))?
                    .path();
                if path.is_dir() {
                    check_one(&path, 0o700, data)?;
                    for inner in std::fs::read_dir(&path)
                        .with_context(|| format!("cannot list {}", path.display()))?
                    {
                        let inner = inner
                            .with_context(|| format!("cannot list {}", path.display()))?
                            .path();
                        check_one(&inner, 0o600, data)?;
                    }
                } else {
                    check_one(&path, 0o600, data)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn check_one(path: &Path, want: u32, data: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        let what = if want == 0o700 { "folder" } else { "file" };
        anyhow::bail!(
            "the {what} {} is open to other users (mode {:03o}); it holds case content or keys. \
             Fix it with `chmod {want:o} {}` (or `chmod -R go-rwx {}` for the whole data folder) \
             and start again",
            path.display(),
            mode & 0o777,
            shell_quote(path),
            shell_quote(data),
        );
    }
    Ok(())
}

/// `path` as one word for a POSIX shell.
#[cfg(unix)]
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
