//! `docs/formats/messages.md` §11 documents every action's message kind and
//! every refusal code exactly as this crate defines them.
//! `UPDATE_DOCS=1 cargo test -p custos-case --test docs` rewrites the two
//! tables in place.

use std::path::Path;

use custos_case::RefusalCode;
use custos_case::kinds::markdown_table;

/// Replaces the table that starts with `table`'s header line and runs to the
/// next blank line.
fn replace_table(doc: &str, table: &str) -> Option<String> {
    let header = table.lines().next()?;
    let start = doc.find(&format!("\n{header}\n"))? + 1;
    let end = doc[start..]
        .find("\n\n")
        .map_or(doc.len(), |i| start + i + 1);
    Some(format!("{}{}{}", &doc[..start], table, &doc[end..]))
}

#[test]
fn the_message_format_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/formats/messages.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let tables = [
        ("custos_case::kinds::markdown_table()", markdown_table()),
        (
            "RefusalCode::markdown_table()",
            RefusalCode::markdown_table(),
        ),
    ];
    if std::env::var_os("UPDATE_DOCS").is_some() {
        for (_, table) in &tables {
            doc = replace_table(&doc, table).expect("the section holds a table with this header");
        }
        std::fs::write(&path, &doc).unwrap();
    }
    for (name, table) in &tables {
        assert!(
            doc.contains(table.as_str()),
            "docs/formats/messages.md §11 must contain the table of {name} \
             (UPDATE_DOCS=1 cargo test -p custos-case --test docs)"
        );
    }
}
