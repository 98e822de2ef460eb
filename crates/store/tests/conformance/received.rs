//! The index of what other States provided (issue 18; `SafeguardStore::index_received`
//! to `SafeguardStore::received_files`), on both backends: a package is indexed
//! once with its files' hashes, indexing it again changes nothing, and a
//! hash finds every received package holding that file.

use super::*;
use custos_store::ReceivedOrigin;

fn origin(package: &str, provider: &str) -> ReceivedOrigin {
    ReceivedOrigin {
        package_id: format!("sha256:{package}"),
        provider: provider.to_owned(),
        request: "thr-00000000-0000-0000-0000-000000000001".to_owned(),
    }
}

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

pub(crate) async fn received_files_are_indexed_once_and_found_by_hash(fx: Fixture) {
    let s = &fx.store;
    assert!(s.received_origins().await.unwrap().is_empty());
    assert!(s.received_files(&[hash(1)]).await.unwrap().is_empty());
    let a = origin("aa", "DE");
    let b = origin("bb", "NL");
    s.index_received(&a, &[hash(1), hash(2)]).await.unwrap();
    s.index_received(&a, &[hash(1), hash(2)]).await.unwrap();
    s.index_received(&b, &[hash(2)]).await.unwrap();
    // A package without files is indexed too.
    let empty = origin("cc", "DE");
    s.index_received(&empty, &[]).await.unwrap();
    let origins = s.received_origins().await.unwrap();
    assert_eq!(origins, [a.clone(), b.clone(), empty]);

    let found = s.received_files(&[hash(1)]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].sha256.as_str(), &found[0].origin),
        (hash(1).as_str(), &a)
    );
    let mut both: Vec<_> = s
        .received_files(&[hash(2), hash(3)])
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.origin.provider)
        .collect();
    both.sort();
    assert_eq!(both, ["DE", "NL"]);
    assert!(s.received_files(&[]).await.unwrap().is_empty());
    // Text a column cannot hold is refused before anything is written.
    let bad = ReceivedOrigin {
        provider: "D\u{0}E".to_owned(),
        ..origin("dd", "DE")
    };
    assert!(s.index_received(&bad, &[hash(4)]).await.is_err());
    assert!(s.received_files(&[hash(4)]).await.unwrap().is_empty());
}
