//! Evidence uploaded through the application layer, as the desk and the
//! client API do it: a file arrives in chunks at any offset, in any order
//! and several at once; a chunk sent again changes nothing, one past the
//! declared size is refused, and the status names the ranges still missing,
//! across a restart of the node too (also for an upload started before the
//! node kept that record); the upload is sealed for the case's counterpart, sent over
//! loopback, listed on both sides with its custody history, opened on the
//! receiving node, and a file downloaded, the download recorded under the
//! person's name.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::path::PathBuf;
use std::sync::Arc;

use custos_model::{RequestKind, template, validate};
use custos_node::app::evidence::{SealMarks, TransferView};
use custos_node::app::{AuditFilter, ByteRange, UploadError, UploadView};
use custos_node::{Actor, NodeError};
use custos_testkit::{NetworkBuilder, NodeBuilder, TestNode};
use serde_json::{Value, json};

fn actor() -> Actor {
    Actor::Cli {
        user: "alice".into(),
    }
}

fn range(start: usize, end: usize) -> ByteRange {
    ByteRange {
        start: start as u64,
        end: end as u64,
    }
}

fn bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_a_cut_then_is_sealed_sent_opened_and_downloaded() {
    let net = NetworkBuilder::new(&["FR", "DE"])
        .served()
        .build()
        .await
        .unwrap();
    let (fr, de) = (net.node("FR"), net.node("DE"));
    // Germany asks France; France answers with evidence.
    let mut draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    draft["requesting_state"] = json!("DE");
    draft["requested_state"] = json!("FR");
    let sent = de.submit(draft, &actor()).await.unwrap();
    let reply = net.carry("DE", &sent.message_id, "FR").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let case = sent.thread.clone();

    let data = bytes(3 << 20);
    let up = fr
        .start_upload(&actor(), &case, "image.dd", data.len() as u64)
        .await
        .unwrap();
    assert_eq!((up.received, up.complete), (0, false));
    assert_eq!(up.missing, [range(0, data.len())]);

    // A bad name and an impossible size are refused before anything is kept.
    let err = fr
        .start_upload(&actor(), &case, "../x", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Upload(UploadError::BadName { .. })),
        "{err}"
    );

    let first = 1 << 20;
    let v = fr
        .upload_chunk(&actor(), &up.id, 0, data[..first].to_vec())
        .await
        .unwrap();
    assert_eq!(v.received, first as u64);
    // The connection was cut and the browser lost count: the chunk sent
    // again writes the same bytes again, and the status says what is left.
    let v = fr
        .upload_chunk(&actor(), &up.id, 0, data[..first].to_vec())
        .await
        .unwrap();
    assert_eq!(v.received, first as u64);
    let status = fr.upload_status(&actor(), &up.id).await.unwrap();
    assert_eq!(status.received, first as u64);
    assert_eq!(status.missing, [range(first, data.len())]);
    // A chunk crossing the declared size is refused, typed.
    let mut too_long = data[first..].to_vec();
    too_long.push(0);
    let err = fr
        .upload_chunk(&actor(), &up.id, first as u64, too_long)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Upload(UploadError::PastEnd { .. })),
        "{err}"
    );
    assert_eq!(err.code().as_str(), "too-large");
    // Another person does not see the upload.
    let other = Actor::Cli { user: "bob".into() };
    assert!(matches!(
        fr.upload_status(&other, &up.id).await.unwrap_err(),
        NodeError::NotFound(_)
    ));
    // Sealing an unfinished upload is refused.
    let err = fr
        .seal_uploads(
            &actor(),
            &case,
            std::slice::from_ref(&up.id),
            &SealMarks::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Upload(UploadError::Incomplete { .. })),
        "{err}"
    );
    // Resumed from the reported offset, to the end.
    let v = fr
        .upload_chunk(&actor(), &up.id, status.received, data[first..].to_vec())
        .await
        .unwrap();
    assert!(v.complete);
    assert_eq!(fr.case_uploads(&actor(), &case).await.unwrap().len(), 1);

    let sealed = fr
        .seal_uploads(
            &actor(),
            &case,
            std::slice::from_ref(&up.id),
            &SealMarks::default(),
        )
        .await
        .unwrap();
    assert_eq!(sealed.files, 1);
    assert_eq!(sealed.bytes, data.len() as u64);
    assert!(
        fr.case_uploads(&actor(), &case).await.unwrap().is_empty(),
        "a sealed upload is removed"
    );
    let hex = sealed
        .package_id
        .strip_prefix("sha256:")
        .unwrap()
        .to_owned();
    let outcomes = fr.send_case_package(&actor(), &case, &hex).await.unwrap();
    assert!(
        matches!(outcomes.as_slice(), [TransferView::Accepted(a)] if a.to.as_str() == "DE"),
        "{outcomes:?}"
    );
    fr.sequence_all().await.unwrap();
    let on_fr = fr.case_evidence(&actor(), &case).await.unwrap();
    assert_eq!(on_fr.sealed.len(), 1);
    let p = &on_fr.sealed[0];
    assert!(p.signature_verified && p.complete);
    assert_eq!(
        p.receipted_by
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["DE"]
    );
    let kinds: Vec<&str> = p.custody.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"evidence-sealed"), "{kinds:?}");
    assert!(kinds.contains(&"evidence-sent"), "{kinds:?}");

    // Germany opens it and downloads the file.
    let report = de.open_case_package(&actor(), &case, &hex).await.unwrap();
    assert!(report.is_ok());
    let err = de
        .open_case_package(&actor(), &case, &hex)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::EvidencePackage { .. }),
        "opened once: {err}"
    );
    de.sequence_all().await.unwrap();
    let on_de = de.case_evidence(&actor(), &case).await.unwrap();
    assert_eq!(on_de.received.len(), 1);
    let p = &on_de.received[0];
    assert_eq!(p.checked_ok, Some(true));
    assert_eq!(p.opened_files.len(), 1);
    assert_eq!(p.opened_files[0].path, "image.dd");

    let filter = AuditFilter {
        person: Some("alice".into()),
        case: Some(case.clone()),
        limit: Some(1000),
        ..AuditFilter::default()
    };
    let opens = |rows: &[custos_node::app::AccessView]| {
        rows.iter()
            .filter(|r| r.operation == "open-evidence")
            .count()
    };
    let before = opens(&de.audit(&actor(), &filter).await.unwrap());
    let download = de
        .download_opened_file(&actor(), &case, &hex, "image.dd")
        .await
        .unwrap();
    assert_eq!(std::fs::read(&download.path).unwrap(), data);
    let after = opens(&de.audit(&actor(), &filter).await.unwrap());
    assert_eq!(
        after,
        before + 1,
        "the download is in the record of who saw what"
    );
    for bad in ["../image.dd", "/etc/passwd", "nothing.txt", ""] {
        assert!(
            de.download_opened_file(&actor(), &case, &hex, bad)
                .await
                .is_err(),
            "{bad:?}"
        );
    }
    de.sequence_all().await.unwrap();
    let p = &de.case_evidence(&actor(), &case).await.unwrap().received[0];
    assert!(
        p.custody
            .iter()
            .any(|e| e.kind == "exported" && e.detail["what"] == "evidence-file-download"),
        "{:?}",
        p.custody
    );
}

/// A node of the template draft's requesting State in `dir` (made there,
/// or opened again when `reopen`), and that draft saved as its case.
async fn node_with_a_case(dir: &std::path::Path, reopen: bool) -> (TestNode, String) {
    let draft = validate::parse(&template::render(RequestKind::Preservation)).unwrap();
    let state = draft["requesting_state"].as_str().unwrap().to_owned();
    let builder = NodeBuilder::new(&state).in_dir(dir);
    if reopen {
        let node = builder.reopen().build().await.unwrap();
        let case = node
            .requests(&actor(), &Default::default())
            .await
            .unwrap()
            .remove(0)
            .id;
        return (node, case);
    }
    let node = builder.build().await.unwrap();
    let case = node.save_draft(draft, &actor()).await.unwrap();
    (node, case)
}

/// Where an upload's bytes are kept on `node`.
fn upload_dir(node: &TestNode, up: &UploadView) -> PathBuf {
    node.dir().join("evidence").join("uploads").join(&up.id)
}

const CHUNK: usize = 64 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunks_arrive_in_any_order_and_at_once_and_a_restart_keeps_what_was_received() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, case) = node_with_a_case(tmp.path(), false).await;
    let data = bytes(16 * CHUNK + 123);
    let len = data.len();
    let up = node
        .start_upload(&actor(), &case, "disk.img", len as u64)
        .await
        .unwrap();
    // The last chunk first, then three in the middle.
    for i in [16, 9, 3, 4] {
        let chunk = data[i * CHUNK..((i + 1) * CHUNK).min(len)].to_vec();
        node.upload_chunk(&actor(), &up.id, (i * CHUNK) as u64, chunk)
            .await
            .unwrap();
    }
    // Past the end, or crossing it: refused, and nothing counts.
    for (offset, n) in [(len - 10, 11), (len, 1), (len + 5, 1)] {
        let err = node
            .upload_chunk(&actor(), &up.id, offset as u64, vec![0u8; n])
            .await
            .unwrap_err();
        assert!(
            matches!(err, NodeError::Upload(UploadError::PastEnd { .. })),
            "{offset}+{n}: {err}"
        );
    }
    // The node stops and starts again: what was received is still known.
    node.close().await;
    drop(node);
    let (node, again) = node_with_a_case(tmp.path(), true).await;
    assert_eq!(again, case);
    let status = node.upload_status(&actor(), &up.id).await.unwrap();
    assert_eq!(status.received, (3 * CHUNK + 123) as u64);
    assert!(!status.complete);
    assert_eq!(
        status.missing,
        [
            range(0, 3 * CHUNK),
            range(5 * CHUNK, 9 * CHUNK),
            range(10 * CHUNK, 16 * CHUNK)
        ]
    );
    // Every missing chunk at once, each from a task of its own, one of
    // them twice.
    let node = Arc::new(node);
    let data = Arc::new(data);
    let mut tasks = Vec::new();
    for r in &status.missing {
        for at in (r.start..r.end).step_by(CHUNK) {
            for _ in 0..if at == 0 { 2 } else { 1 } {
                let (node, data, id) = (node.clone(), data.clone(), up.id.clone());
                tasks.push(tokio::spawn(async move {
                    let at = at as usize;
                    let chunk = data[at..at + CHUNK].to_vec();
                    node.upload_chunk(&actor(), &id, at as u64, chunk).await
                }));
            }
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let status = node.upload_status(&actor(), &up.id).await.unwrap();
    assert!(status.complete, "{status:?}");
    assert_eq!(status.received, len as u64);
    assert!(status.missing.is_empty());
    let file = upload_dir(&node, &up).join("files").join("disk.img");
    assert_eq!(std::fs::read(file).unwrap(), *data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_started_before_the_record_of_ranges_resumes_from_its_files_length() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, case) = node_with_a_case(tmp.path(), false).await;
    let data = bytes(4 * CHUNK);
    let up = node
        .start_upload(&actor(), &case, "old.bin", data.len() as u64)
        .await
        .unwrap();
    // As the earlier version left it: no record, and the bytes received
    // are the file's first bytes.
    let dir = upload_dir(&node, &up);
    std::fs::remove_file(dir.join("received.json")).unwrap();
    let meta_path = dir.join("upload.json");
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("ranges").unwrap();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let file = dir.join("files").join("old.bin");
    std::fs::write(&file, &data[..CHUNK + 7]).unwrap();

    let status = node.upload_status(&actor(), &up.id).await.unwrap();
    assert_eq!(status.received, (CHUNK + 7) as u64);
    assert_eq!(status.missing, [range(CHUNK + 7, data.len())]);
    // The new way from there on: the end first, then the gap.
    let v = node
        .upload_chunk(
            &actor(),
            &up.id,
            (3 * CHUNK) as u64,
            data[3 * CHUNK..].to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(v.missing, [range(CHUNK + 7, 3 * CHUNK)]);
    let v = node
        .upload_chunk(
            &actor(),
            &up.id,
            (CHUNK + 7) as u64,
            data[CHUNK + 7..3 * CHUNK].to_vec(),
        )
        .await
        .unwrap();
    assert!(v.complete, "{v:?}");
    assert_eq!(std::fs::read(&file).unwrap(), data);
    assert_eq!(node.case_uploads(&actor(), &case).await.unwrap(), [v]);
}
