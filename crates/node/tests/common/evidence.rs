//! Evidence for the node's tests: files sealed into a package on one node
//! and sent over loopback to another (the network must be served).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use custos_model::StateCode;
use custos_node::Actor;
use custos_node::app::evidence::SealMarks;
use custos_node::evidence::pipeline::NoProgress;
use custos_node::evidence::transfer::{SendObserver, SendOptions};
use custos_protocol::evidence::MIN_SEGMENT_SIZE;
use custos_testkit::{Network, TestNode};

pub fn st(code: &str) -> StateCode {
    code.parse()
        .unwrap_or_else(|_| panic!("{code} is a State code"))
}

/// Says nothing.
pub struct Quiet;

impl SendObserver for Quiet {
    fn say(&self, _line: &str) {}
    fn start(&self, _total: u64, _label: &str) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// Seals, on `from`'s node, files made under `scratch/<name>` (`mib` MiB of
/// pseudo-random bytes and a note) into `scratch/<name>-pkg`, answering
/// `request`, for `to`; gives the package's folder.
pub async fn seal(
    from: &TestNode,
    to: &str,
    request: &str,
    scratch: &Path,
    name: &str,
    mib: usize,
    actor: &Actor,
) -> PathBuf {
    let files = scratch.join(name);
    std::fs::create_dir_all(&files).expect("a scratch folder");
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ name.len() as u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(files.join("image.dd"), &data).expect("a file to seal");
    std::fs::write(files.join("notes.txt"), format!("{name}: seized on site\n"))
        .expect("a file to seal");
    let options = from
        .evidence_seal_options(
            request,
            &[st(to)],
            MIN_SEGMENT_SIZE,
            &SealMarks::default(),
            actor,
        )
        .await
        .expect("seal options");
    let pkg = scratch.join(format!("{name}-pkg"));
    from.seal_evidence(
        vec![files.join("image.dd"), files.join("notes.txt")],
        options,
        pkg.clone(),
        Arc::new(NoProgress),
        actor,
    )
    .await
    .expect("the package is sealed");
    pkg
}

/// Seals a package of `mib` MiB and a note on `from`'s node for `request`
/// and sends it to `to`, which accepts it; gives the package id an
/// execution cites.
#[allow(clippy::too_many_arguments)]
pub async fn sent_package(
    net: &Network,
    from: &str,
    to: &str,
    request: &str,
    scratch: &Path,
    name: &str,
    mib: usize,
    actor: &Actor,
) -> String {
    let node = net.node(from);
    let pkg = seal(node, to, request, scratch, name, mib, actor).await;
    let local = node.check_package_for_send(&pkg).expect("a sealed package");
    let options = SendOptions {
        retry_for: Duration::from_secs(30),
        ..SendOptions::default()
    };
    node.send_evidence(&local, st(to), &options, &Quiet, actor)
        .await
        .expect("the package is sent and receipted")
        .package
}
