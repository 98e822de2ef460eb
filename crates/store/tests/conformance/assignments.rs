//! Conformance cases for confidential cases and case assignments (issue
//! 18): an assignment and its ending each queue their ledger entry with
//! them, a person is assigned to a case at most once at a time (a second
//! assignment writes nothing, not even its entry), marks are kept once per
//! reason, and the listings leave out the confidential cases not assigned
//! to the person they are asked for.

use custos_store::{CaseAssignment, CaseRowFilter, ConfidentialMark, RequestFilter};

use super::*;

fn assignment(case: &str, person: &str, seconds: i64) -> CaseAssignment {
    CaseAssignment {
        id: 0,
        case_id: case.to_owned(),
        person: person.to_owned(),
        assigned_by: "desk:duty".to_owned(),
        assigned_at: at(seconds),
        unassigned_by: None,
        unassigned_at: None,
    }
}

pub async fn assignments_and_marks_are_kept_with_their_entries_and_hide_cases_from_listings(
    f: Fixture,
) {
    let s = &f.store;
    for id in ["thr-open", "thr-secret"] {
        s.insert_request(&request(id, Direction::Incoming, RequestKind::Mla, "FR"))
            .await
            .unwrap();
    }
    s.bulk_put_cases(&[
        cases::derived("thr-open", 2, None),
        cases::derived("thr-secret", 2, None),
    ])
    .await
    .unwrap();

    // Marks: kept once per reason, none for a case not marked.
    assert!(s.confidential_marks("thr-secret").await.unwrap().is_empty());
    for source in ["request", "request", "package:sha256:ab"] {
        s.mark_confidential(&ConfidentialMark {
            case_id: "thr-secret".into(),
            source: source.into(),
            marked_at: at(5),
        })
        .await
        .unwrap();
    }
    let marks = s.confidential_marks("thr-secret").await.unwrap();
    let sources: Vec<&str> = marks.iter().map(|m| m.source.as_str()).collect();
    assert_eq!(sources, ["package:sha256:ab", "request"]);
    assert_eq!(marks[0].marked_at, at(5));
    s.mark_confidential(&ConfidentialMark {
        case_id: "thr-other".into(),
        source: "answer:m1".into(),
        marked_at: at(6),
    })
    .await
    .unwrap();
    let every: Vec<(String, String)> = s
        .all_confidential_marks()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.case_id, m.source))
        .collect();
    assert_eq!(
        every,
        [
            ("thr-other".to_owned(), "answer:m1".to_owned()),
            ("thr-secret".to_owned(), "package:sha256:ab".to_owned()),
            ("thr-secret".to_owned(), "request".to_owned()),
        ]
    );

    let cases_for = |person: Option<&str>| {
        let s = Arc::clone(s);
        let person = person.map(str::to_owned);
        async move {
            let cases: Vec<String> = s
                .list_cases(&CaseRowFilter {
                    limit: 100,
                    hidden_from: person.clone(),
                    ..CaseRowFilter::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            let mut requests: Vec<String> = s
                .list_requests(&RequestFilter {
                    hidden_from: person,
                    ..RequestFilter::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            requests.sort();
            let mut sorted = cases.clone();
            sorted.sort();
            assert_eq!(sorted, requests, "both listings agree");
            sorted
        }
    };
    assert_eq!(cases_for(None).await, ["thr-open", "thr-secret"]);
    assert_eq!(cases_for(Some("ana")).await, ["thr-open"]);

    // Assigned: with its entry; twice: nothing written.
    let id = s
        .assign_case(&assignment("thr-secret", "ana", 10), b"assigned-ana")
        .await
        .unwrap()
        .expect("a first assignment");
    assert!(id > 0);
    assert_eq!(
        s.assign_case(&assignment("thr-secret", "ana", 11), b"twice")
            .await
            .unwrap(),
        None
    );
    assert_eq!(cases_for(Some("ana")).await, ["thr-open", "thr-secret"]);
    assert_eq!(cases_for(Some("bo")).await, ["thr-open"]);

    // Ended: with its entry; ending again writes nothing.
    assert_eq!(
        s.unassign_case("thr-secret", "ana", "desk:duty", at(20), b"unassigned-ana")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.unassign_case("thr-secret", "ana", "desk:duty", at(21), b"again")
            .await
            .unwrap(),
        0
    );
    assert_eq!(cases_for(Some("ana")).await, ["thr-open"]);
    // Assigned again after the end: a new row.
    s.assign_case(&assignment("thr-secret", "ana", 30), b"assigned-again")
        .await
        .unwrap()
        .expect("a new assignment");
    let all = s.case_assignments("thr-secret").await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].unassigned_at, Some(at(20)));
    assert_eq!(all[0].unassigned_by.as_deref(), Some("desk:duty"));
    assert!(!all[0].in_force() && all[1].in_force());
    assert_eq!(all[1].assigned_at, at(30));

    let queued = s.pending_ledger(100).await.unwrap();
    let entries: Vec<&[u8]> = queued.iter().map(|p| p.entry.as_slice()).collect();
    assert_eq!(
        entries,
        [&b"assigned-ana"[..], b"unassigned-ana", b"assigned-again"]
    );
}
