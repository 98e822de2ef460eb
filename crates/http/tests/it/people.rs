//! People through the client API: an administrator's token adds a user,
//! the user signs in with password and TOTP code and acts with their
//! session, and every refusal has its code: `unauthorized` (the same for
//! every cause of a failed sign-in), `forbidden` for a role that does not
//! allow the call, `invalid-user` for a token wider than its user.

use custos_node::app::Role;
use custos_node::app::secrets::{totp_code, totp_step};
use custos_testkit::TestNode;
use custos_testkit::request;
use serde_json::{Value, json};

fn code(node: &TestNode, secret_base32: &str, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .unwrap();
    let step = totp_step(node.now().unix_timestamp()) + offset;
    format!("{:06}", totp_code(&secret, step).unwrap())
}

#[tokio::test]
async fn an_administrator_adds_a_user_who_signs_in_and_acts_with_their_roles() {
    let fr = TestNode::new("FR").await.unwrap();
    let admin = fr
        .token_with("root", [Role::Administrator].into_iter().collect())
        .await
        .unwrap();

    let added = fr
        .post_json(
            "/api/v1/users",
            Some(&admin),
            &json!({ "name": "ana", "roles": ["auditor"], "email": "ana@justice.example" }),
        )
        .await
        .unwrap();
    assert_eq!(added.status, 201, "{}", added.text());
    let secrets: Value = added.json();
    let password = secrets["password"].as_str().unwrap().to_owned();
    let totp = secrets["second_factor"]["totp_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secrets["user"]["roles"], json!(["auditor"]));

    // Every wrong sign-in gets one answer.
    let good = code(&fr, &totp, 0);
    for body in [
        json!({ "user": "ana", "password": "wrong password!", "code": good }),
        json!({ "user": "nobody", "password": password, "code": good }),
        json!({ "user": "ana", "password": password, "code": "000000x" }),
    ] {
        let reply = fr.post_json("/api/v1/sign-in", None, &body).await.unwrap();
        assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));
        assert_eq!(
            reply.json()["error"]["message"],
            "the user name, password or second-factor code is not right",
            "{}",
            reply.text()
        );
    }
    let signed_in = fr
        .post_json(
            "/api/v1/sign-in",
            None,
            &json!({ "user": "ana", "password": password, "code": good }),
        )
        .await
        .unwrap();
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let session = signed_in.json()["session"].as_str().unwrap().to_owned();
    assert!(signed_in.json()["expires_at"].is_string());

    // The auditor may list cases; managing users is not theirs.
    let cases = fr.get("/api/v1/cases", Some(&session)).await.unwrap();
    assert_eq!(cases.status, 200, "{}", cases.text());
    let users = fr.get("/api/v1/users", Some(&session)).await.unwrap();
    assert_eq!(users.status, 200, "auditors list users: {}", users.text());
    let refused = fr
        .post_json(
            "/api/v1/users/ana/roles",
            Some(&session),
            &json!({ "add": ["administrator"] }),
        )
        .await
        .unwrap();
    assert_eq!(refused.refusal(), (403, Some("forbidden".into())));

    // Their own token, within their roles; wider is refused.
    let wide = fr
        .post_json(
            "/api/v1/tokens",
            Some(&session),
            &json!({ "name": "tool", "scopes": ["caseworker"] }),
        )
        .await
        .unwrap();
    assert_eq!(wide.refusal(), (422, Some("invalid-user".into())));
    let created = fr
        .post_json("/api/v1/tokens", Some(&session), &json!({ "name": "tool" }))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let token = created.json()["secret"].as_str().unwrap().to_owned();
    let id = created.json()["token"]["id"].as_str().unwrap().to_owned();
    let mine = fr.get("/api/v1/tokens", Some(&token)).await.unwrap();
    assert_eq!(mine.json().as_array().unwrap().len(), 1);
    assert!(!mine.text().contains(&token), "a secret is never listed");

    // The administrator disables ana: her session and token stop at once.
    let disabled = fr
        .post_json("/api/v1/users/ana/disable", Some(&admin), &json!({}))
        .await
        .unwrap();
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    for bearer in [&session, &token] {
        let reply = fr.get("/api/v1/cases", Some(bearer)).await.unwrap();
        assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));
    }
    fr.post_json("/api/v1/users/ana/enable", Some(&admin), &json!({}))
        .await
        .unwrap();
    let revoke = fr
        .call(
            request(
                axum::http::Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                Some(&admin),
                Vec::new(),
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(revoke.status, 200, "{}", revoke.text());
    assert!(revoke.json()["revoked_at"].is_string());
    let reply = fr.get("/api/v1/cases", Some(&token)).await.unwrap();
    assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));

    // Signing out ends the session.
    let out = fr
        .post_json("/api/v1/sign-out", Some(&session), &json!({}))
        .await
        .unwrap();
    assert_eq!(out.status, 204, "{}", out.text());
    let reply = fr.get("/api/v1/cases", Some(&session)).await.unwrap();
    assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));

    // A new second factor through the API works for the next sign-in.
    let reset = fr
        .post_json(
            "/api/v1/users/ana/reset-second-factor",
            Some(&admin),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(reset.status, 200, "{}", reset.text());
    let new_secret = reset.json()["totp_secret"].as_str().unwrap().to_owned();
    let again = fr
        .post_json(
            "/api/v1/sign-in",
            None,
            &json!({ "user": "ana", "password": password, "code": code(&fr, &new_secret, 0) }),
        )
        .await
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.text());

    // Ana sees her open session; the administrator lists hers and ends it,
    // and its bearer stops at once.
    let second = again.json()["session"].as_str().unwrap().to_owned();
    let mine = fr.get("/api/v1/sessions", Some(&second)).await.unwrap();
    assert_eq!(mine.status, 200, "{}", mine.text());
    assert!(!mine.text().contains(&second), "a secret is never listed");
    let open: Vec<String> = mine
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["user"] == "ana" && s["revoked_at"].is_null())
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(open.len(), 1, "{}", mine.text());
    let hers = fr
        .get("/api/v1/sessions?user=ana", Some(&admin))
        .await
        .unwrap();
    assert!(hers.text().contains(&open[0]), "{}", hers.text());
    let ended = fr
        .call(
            request(
                axum::http::Method::DELETE,
                &format!("/api/v1/sessions/{}", open[0]),
                Some(&admin),
                Vec::new(),
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ended.status, 200, "{}", ended.text());
    assert!(ended.json()["revoked_at"].is_string());
    let reply = fr.get("/api/v1/cases", Some(&second)).await.unwrap();
    assert_eq!(reply.refusal(), (401, Some("unauthorized".into())));
}
