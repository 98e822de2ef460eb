//! The two backends' migration folders must stay in step: the same file
//! names, numbered 0001, 0002, … without gaps, so every schema change is
//! written for both databases.

use std::path::Path;

fn names(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("a directory entry reads");
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
    assert!(!sqlite.is_empty());
}

#[test]
fn migrations_are_numbered_from_0001_without_gaps() {
    for (expected, name) in (1..).zip(names("sqlite")) {
        let (number, rest) = name
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected NNNN_description.sql"));
        assert_eq!(
            number,
            format!("{expected:04}"),
            "{name} is out of sequence"
        );
        assert!(
            rest.ends_with(".sql") && rest.len() > ".sql".len(),
            "{name}: expected NNNN_description.sql"
        );
        assert!(
            rest.trim_end_matches(".sql")
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: use lowercase letters, digits and underscores"
        );
    }
}
