//! `custos package-files --out DIR` (hidden): the manual pages and the shell
//! completions of this very command line, written for a package to install.
//!
//! The Debian package (`packaging/`, `cargo deb`) takes them from
//! `DIR/man/` and `DIR/completions/`; they are made from the same clap
//! definition the program parses with, so they never drift from it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct PackageFilesArgs {
    /// The folder to write `man/` and `completions/` into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The shells a completion script is written for, with the file name each
/// one's loader looks for.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "custos"),
    (Shell::Zsh, "_custos"),
    (Shell::Fish, "custos.fish"),
];

pub fn run(args: PackageFilesArgs, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let man = args.out.join("man");
    let completions = args.out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    command.build();
    clap_mangen::generate_to(command.clone(), &man)
        .with_context(|| format!("cannot write the manual pages into {}", man.display()))?;
    remove_help_pages(&man)?;
    for (shell, name) in SHELLS {
        write_completion(shell, &mut command, &completions.join(name))?;
    }
    let pages = std::fs::read_dir(&man)?.count();
    println!(
        "wrote {pages} manual pages to {} and {} completion scripts to {}",
        man.display(),
        SHELLS.len(),
        completions.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// clap's generated `help` subcommands (`custos help`, `custos keys help
/// rotate`, ...) only repeat the pages of the commands they name.
fn remove_help_pages(man: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(man)? {
        let path = entry?.path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem.split('-').any(|word| word == "help") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn write_completion(shell: Shell, command: &mut clap::Command, path: &Path) -> anyhow::Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, command, "custos", &mut text);
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
