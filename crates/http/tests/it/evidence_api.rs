//! The client API's evidence: a file uploaded in chunks (out of order; one
//! crossing the declared size refused, typed), sealed for the
//! case's counterpart with what the sealing State adds (a confidentiality
//! mark, conditions on use, personal data and its conditions), and the
//! signed manifest holding them; marks the node refuses are answered with
//! the typed error and nothing is sealed.

use axum::http::Method;
use custos_protocol::evidence::read_manifest_unverified;
use custos_testkit::{Network, request};
use serde_json::{Value, json};

use crate::{preservation_draft, sent_to_germany};

#[tokio::test]
async fn a_file_uploaded_through_the_api_is_sealed_with_the_marks_given() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let fr_token = net.node("FR").token("alice").await.unwrap();
    let de_token = net.node("DE").token("bruno").await.unwrap();
    let de = net.node("DE");
    let id = sent_to_germany(&net, &fr_token, preservation_draft()).await;
    // The request is confidential: Germany's officer takes it on first.
    let assigned = de
        .post_json(
            &format!("/api/v1/cases/{id}/assignees"),
            Some(&de_token),
            &json!({"person": "bruno"}),
        )
        .await
        .unwrap();
    assert_eq!(assigned.status, 201, "{}", assigned.text());

    // One file in two chunks, the second sent first.
    let bytes = b"2026-11-20 10:00 203.0.113.7 subscriber 4711\n".to_vec();
    let started = de
        .post_json(
            &format!("/api/v1/cases/{id}/evidence/uploads"),
            Some(&de_token),
            &json!({"name": "subscriber.log", "size": bytes.len()}),
        )
        .await
        .unwrap();
    assert_eq!(started.status, 200, "{}", started.text());
    let upload = started.json()["id"].as_str().unwrap().to_owned();
    let half = bytes.len() / 2;
    let put = |offset: usize, chunk: Vec<u8>| {
        let path = format!("/api/v1/evidence/uploads/{upload}?offset={offset}");
        let put = request(
            Method::PUT,
            &path,
            Some(&de_token),
            chunk,
            Some("application/octet-stream"),
        )
        .unwrap();
        async move { de.call(put).await.unwrap() }
    };
    let reply = put(half, bytes[half..].to_vec()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let view = reply.json();
    assert_eq!(view["received"], bytes.len() - half, "{view}");
    assert_eq!(
        view["missing"],
        json!([{"start": 0, "end": half}]),
        "{view}"
    );
    assert_eq!(view["complete"], false, "{view}");
    // A chunk crossing the declared size is refused, typed.
    let reply = put(half, [&bytes[half..], b"!"].concat()).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(
        reply.json()["error"]["code"],
        "too-large",
        "{}",
        reply.text()
    );
    let reply = put(0, bytes[..half].to_vec()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let view = reply.json();
    assert_eq!(view["received"], bytes.len(), "{view}");
    assert_eq!(view["missing"], json!([]), "{view}");
    assert_eq!(view["complete"], true, "{view}");

    let token = de_token.as_str();
    let seal = |marks: Value| {
        let path = format!("/api/v1/cases/{id}/evidence/seal");
        let body = json!({"uploads": [upload], "marks": marks});
        async move { de.post_json(&path, Some(token), &body).await.unwrap() }
    };
    // Personal data of no category: refused, typed; the upload stays.
    let refused = seal(json!({"personal_data": {"conditions": ["Delete after trial."]}})).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "invalid-evidence-input");
    // A field the node does not know: refused before anything is done.
    let unknown = seal(json!({"secret": true})).await;
    assert_eq!(unknown.status.as_u16() / 100, 4, "{}", unknown.text());

    let sealed = seal(json!({
        "confidential": "An informant is named.",
        "conditions": ["Not for tax proceedings."],
        "personal_data": {
            "categories": ["traffic data"],
            "conditions": ["Delete after the trial."],
            "delete_by": "2099-12-31"
        }
    }))
    .await;
    assert_eq!(sealed.status, 200, "{}", sealed.text());
    let folder = sealed.json()["package"].as_str().unwrap().to_owned();
    let signed = std::fs::read(std::path::Path::new(&folder).join("manifest.dsse.json")).unwrap();
    let m = serde_json::to_value(read_manifest_unverified(&signed).unwrap().manifest).unwrap();
    assert_eq!(m["confidentiality"]["required"], true, "{m}");
    assert_eq!(
        m["confidentiality"]["provider_reasons"],
        "An informant is named."
    );
    assert!(
        m["use_limits"]["conditions"]
            .to_string()
            .contains("Not for tax proceedings."),
        "{m}"
    );
    assert_eq!(m["personal_data"]["categories"], json!(["traffic data"]));
    assert_eq!(m["personal_data"]["delete_by"], "2099-12-31");
}
