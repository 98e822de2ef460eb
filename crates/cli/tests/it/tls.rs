//! TLS between real node processes: a node serving HTTPS that requires client
//! certificates, a peer that presents one, and the refusals around them.
//!
//! Certificates are made for the test with rcgen: one CA, a server certificate
//! for `localhost`, and a client certificate for the sending node.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

fn custos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client: String,
}

fn make_pki() -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Custos test network CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let client_key = KeyPair::generate().expect("client key");
    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client_params
        .distinguished_name
        .push(DnType::CommonName, "FR node");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .expect("client certificate");

    Pki {
        ca: ca_cert.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client: format!("{}{}", client_cert.pem(), client_key.serialize_pem()),
    }
}

fn set_http_options(data: &Path, options: &[(&str, &Path)]) {
    let path = data.join("custos.toml");
    let mut table: toml::Table = std::fs::read_to_string(&path)
        .expect("config")
        .parse()
        .expect("TOML");
    let http = table
        .entry("http")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    for (k, v) in options {
        http.as_table_mut().expect("[http] is a table").insert(
            (*k).to_owned(),
            toml::Value::String(v.display().to_string()),
        );
    }
    std::fs::write(&path, toml::to_string(&table).expect("TOML")).expect("config written");
}

#[test]
fn a_message_crosses_mutual_tls_and_a_peer_without_a_certificate_is_turned_away() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |name: &str| d.join(name);
    let s = |name: &str| d.join(name).display().to_string();

    let pki = make_pki();
    std::fs::write(p("ca.pem"), &pki.ca).unwrap();
    std::fs::write(p("de.crt"), &pki.server_cert).unwrap();
    std::fs::write(p("de.key"), &pki.server_key).unwrap();
    std::fs::write(p("fr-client.pem"), &pki.client).unwrap();

    let registry = ok(custos(&["registry", "keygen", "--out", &s("registry.key")]))
        .trim()
        .to_owned();
    for (cc, dir) in [("FR", "fr"), ("DE", "de")] {
        ok(custos(&[
            "init",
            "--data",
            &s(dir),
            "--state",
            cc,
            "--name",
            cc,
            "--registry-key",
            &registry,
        ]));
    }
    let (fr_port, de_port) = (free_port(), free_port());
    ok(custos(&[
        "directory",
        "entry",
        "--data",
        &s("fr"),
        "--url",
        &format!("https://localhost:{fr_port}"),
        "--out",
        &s("fr.json"),
    ]));
    ok(custos(&[
        "directory",
        "entry",
        "--data",
        &s("de"),
        "--url",
        &format!("https://localhost:{de_port}"),
        "--out",
        &s("de.json"),
    ]));
    ok(custos(&[
        "directory",
        "sign",
        "--registry-key",
        &s("registry.key"),
        "--directory-version",
        "1",
        "--out",
        &s("dir.json"),
        &s("fr.json"),
        &s("de.json"),
    ]));
    for dir in ["fr", "de"] {
        ok(custos(&[
            "directory",
            "import",
            &s("dir.json"),
            "--data",
            &s(dir),
        ]));
    }
    set_http_options(
        &p("fr"),
        &[
            ("peer_ca", &p("ca.pem")),
            ("client_identity", &p("fr-client.pem")),
        ],
    );

    // Plain HTTP off loopback is refused before anything listens.
    let plain = custos(&[
        "serve",
        "--data",
        &s("de"),
        "--listen",
        &format!("0.0.0.0:{de_port}"),
    ]);
    assert_eq!(plain.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );

    let log = std::fs::File::create(p("de.log")).unwrap();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_custos"))
            .args([
                "serve",
                "--data",
                &s("de"),
                "--listen",
                &format!("127.0.0.1:{de_port}"),
            ])
            .args([
                "--tls-cert",
                &s("de.crt"),
                "--tls-key",
                &s("de.key"),
                "--client-ca",
                &s("ca.pem"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve starts"),
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = reqwest::Certificate::from_pem(pki.ca.as_bytes()).unwrap();
    let with_cert = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .identity(reqwest::Identity::from_pem(pki.client.as_bytes()).unwrap())
        .build()
        .unwrap();
    let without_cert = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = format!("https://localhost:{de_port}/healthz");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = with_cert.get(&health).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the TLS node did not come up: {}",
                std::fs::read_to_string(p("de.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            without_cert.get(&health).send().await.is_err(),
            "a peer without a client certificate was let in"
        );
    });

    std::fs::write(
        p("preservation.json"),
        ok(custos(&["request", "template", "preservation"])),
    )
    .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&ok(custos(&[
        "request",
        "send",
        &s("preservation.json"),
        "--data",
        &s("fr"),
        "--json",
        "--allow-sample",
    ])))
    .unwrap();
    assert_eq!(sent["delivery"], "delivered", "{sent}");

    let listed: serde_json::Value = serde_json::from_str(&ok(custos(&[
        "request",
        "list",
        "--data",
        &s("de"),
        "--json",
    ])))
    .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], sent["id"]);
}
