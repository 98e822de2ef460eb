//! People through real processes: `custos init` makes the first
//! administrator, `custos user add` a user whose secrets are printed once,
//! who then signs in through the client API of a running `custos serve`
//! with a TOTP code this test computes itself (RFC 6238 over HMAC-SHA-1),
//! and acts with the session; `custos token` creates, lists and revokes a
//! token of theirs.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use std::ffi::OsStr;

use serde_json::{Value, json};

use crate::common::{Answer, Network, totp_now};

fn post(net: &Network, path: &str, bearer: Option<&str>, body: &Value) -> Answer {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(b) = bearer {
        headers.push(("authorization", format!("Bearer {b}")));
    }
    net.http_with(
        "POST",
        "FR",
        path.to_owned(),
        headers,
        serde_json::to_vec(body).unwrap(),
    )
}

fn get(net: &Network, path: &str, bearer: &str) -> Answer {
    net.http_with(
        "GET",
        "FR",
        path.to_owned(),
        vec![("authorization", format!("Bearer {bearer}"))],
        Vec::new(),
    )
}

#[test]
fn a_user_added_at_the_command_line_signs_in_through_the_api_of_a_serving_node() {
    let net = Network::start(&["FR"]);
    let dir = net.dir("FR");
    let data = dir.as_os_str();

    // `custos init` makes the first administrator and prints their
    // secrets once.
    let other = net.scratch("it-node");
    let made = net.run_ok(&[
        OsStr::new("init"),
        OsStr::new("--data"),
        other.as_os_str(),
        OsStr::new("--state"),
        OsStr::new("IT"),
        OsStr::new("--name"),
        OsStr::new("IT test node"),
        OsStr::new("--admin-user"),
        OsStr::new("chief"),
    ]);
    assert!(made.contains("First administrator"), "{made}");
    assert!(
        made.contains("TOTP URI       otpauth://totp/Custos-IT:chief?"),
        "{made}"
    );
    let users: Value = serde_json::from_str(&net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("list"),
        OsStr::new("--data"),
        other.as_os_str(),
        OsStr::new("--json"),
    ]))
    .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["name"], "chief");
    assert_eq!(users[0]["roles"], json!(["administrator"]));
    assert!(
        !users.to_string().contains("otpauth"),
        "no secret is listed"
    );

    let added: Value = serde_json::from_str(&net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("add"),
        OsStr::new("ana"),
        OsStr::new("--roles"),
        OsStr::new("duty-officer,auditor"),
        OsStr::new("--email"),
        OsStr::new("ana@justice.example"),
        OsStr::new("--data"),
        data,
        OsStr::new("--json"),
    ]))
    .unwrap();
    let password = added["password"].as_str().unwrap().to_owned();
    let secret = added["second_factor"]["totp_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = post(
        &net,
        "/api/v1/sign-in",
        None,
        &json!({ "user": "ana", "password": "not her password", "code": totp_now(&secret) }),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.json);
    assert_eq!(wrong.json["error"]["code"], "unauthorized");

    // A code can straddle a step boundary: one retry with the next code.
    let mut signed_in = post(
        &net,
        "/api/v1/sign-in",
        None,
        &json!({ "user": "ana", "password": password, "code": totp_now(&secret) }),
    );
    if signed_in.status != 200 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        signed_in = post(
            &net,
            "/api/v1/sign-in",
            None,
            &json!({ "user": "ana", "password": password, "code": totp_now(&secret) }),
        );
    }
    assert_eq!(signed_in.status, 200, "{}", signed_in.json);
    let session = signed_in.json["session"].as_str().unwrap().to_owned();
    let listed = get(&net, "/api/v1/requests", &session);
    assert_eq!(listed.status, 200, "{}", listed.json);

    // Roles changed at the command line apply to the running node at once.
    net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("roles"),
        OsStr::new("ana"),
        OsStr::new("--set"),
        OsStr::new(""),
        OsStr::new("--data"),
        data,
    ]);
    let users = get(&net, "/api/v1/users", &session);
    assert_eq!(users.status, 403, "{}", users.json);
    net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("disable"),
        OsStr::new("ana"),
        OsStr::new("--data"),
        data,
    ]);
    assert_eq!(get(&net, "/api/v1/requests", &session).status, 401);
    net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("enable"),
        OsStr::new("ana"),
        OsStr::new("--data"),
        data,
    ]);
    net.run_ok(&[
        OsStr::new("user"),
        OsStr::new("roles"),
        OsStr::new("ana"),
        OsStr::new("--add"),
        OsStr::new("auditor"),
        OsStr::new("--data"),
        data,
    ]);

    // A token of hers: wider than her roles is refused; listed; revoked.
    let wide = net.run(&[
        OsStr::new("token"),
        OsStr::new("create"),
        OsStr::new("--user"),
        OsStr::new("ana"),
        OsStr::new("--scope"),
        OsStr::new("caseworker"),
        OsStr::new("--data"),
        data,
    ]);
    assert!(!wide.status.success());
    assert!(
        String::from_utf8_lossy(&wide.stderr).contains("within its user's roles"),
        "{}",
        String::from_utf8_lossy(&wide.stderr)
    );
    let token = net
        .run_ok(&[
            OsStr::new("token"),
            OsStr::new("create"),
            OsStr::new("--user"),
            OsStr::new("ana"),
            OsStr::new("--name"),
            OsStr::new("case tool"),
            OsStr::new("--expires-in"),
            OsStr::new("7d"),
            OsStr::new("--data"),
            data,
        ])
        .trim()
        .to_owned();
    assert_eq!(get(&net, "/api/v1/cases", &token).status, 200);
    let tokens: Value = serde_json::from_str(&net.run_ok(&[
        OsStr::new("token"),
        OsStr::new("list"),
        OsStr::new("--user"),
        OsStr::new("ana"),
        OsStr::new("--json"),
        OsStr::new("--data"),
        data,
    ]))
    .unwrap();
    assert_eq!(tokens[0]["scopes"], json!(["auditor"]));
    assert!(!tokens.to_string().contains(&token));
    let id = tokens[0]["id"].as_str().unwrap();
    net.run_ok(&[
        OsStr::new("token"),
        OsStr::new("revoke"),
        OsStr::new(id),
        OsStr::new("--data"),
        data,
    ]);
    assert_eq!(get(&net, "/api/v1/cases", &token).status, 401);
}
