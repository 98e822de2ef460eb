//! Evidence uploaded through the application layer, as the desk and the
//! client API do it: a file arrives in chunks, a chunk at the wrong offset
//! is refused and the status says where to continue (as after a cut
//! connection); the upload is sealed for the case's counterpart, sent over
//! loopback, listed on both sides with its custody history, opened on the
//! receiving node, and a file downloaded, the download recorded under the
//! person's name.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_model::{RequestKind, template, validate};
use custos_node::app::evidence::{SealMarks, TransferView};
use custos_node::app::{AuditFilter, UploadError};
use custos_node::{Actor, NodeError};
use custos_testkit::NetworkBuilder;
use serde_json::json;

fn actor() -> Actor {
    Actor::Cli {
        user: "alice".into(),
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
        .upload_chunk(&actor(), &up.id, 0, &data[..first])
        .await
        .unwrap();
    assert_eq!(v.received, first as u64);
    // The connection was cut and the browser lost count: a chunk sent
    // again from the start is refused, and the status says where to go on.
    let err = fr
        .upload_chunk(&actor(), &up.id, 0, &data[..first])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NodeError::Upload(UploadError::WrongOffset { expected, got: 0 }) if expected == first as u64
        ),
        "{err}"
    );
    assert_eq!(err.code().as_str(), "out-of-order");
    let status = fr.upload_status(&actor(), &up.id).await.unwrap();
    assert_eq!(status.received, first as u64);
    // A chunk past the declared size is refused.
    let mut too_long = data[first..].to_vec();
    too_long.push(0);
    let err = fr
        .upload_chunk(&actor(), &up.id, first as u64, &too_long)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Upload(UploadError::PastEnd { .. })),
        "{err}"
    );
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
        .upload_chunk(&actor(), &up.id, status.received, &data[first..])
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
