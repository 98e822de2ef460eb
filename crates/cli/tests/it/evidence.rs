//! Evidence packages end to end with the real `custos` binary: sealing a
//! tree, verifying and opening it on the sender, a recipient and a bystander,
//! tampering (a segment byte, the manifest signature), inputs that must be
//! refused, and the standard-tool recipe of `docs/formats/evidence.md` run
//! for real (age, tar, sha256sum, jq, openssl).

// Setup helpers outside `#[test]` functions fail the test loudly too.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{Network, draft, noise};
use custos_model::RequestKind;
use serde_json::Value;

const MIB: usize = 1 << 20;

/// A tree with nested folders, an empty file, an empty folder, a 5 MiB file
/// and a unicode name.
fn make_tree(root: &Path) -> PathBuf {
    let case = root.join("case-42");
    fs::create_dir_all(case.join("disk/partitions/p1")).unwrap();
    fs::create_dir_all(case.join("empty-folder")).unwrap();
    fs::write(case.join("disk/image.dd"), noise(5 * MIB, 1)).unwrap();
    fs::write(case.join("disk/partitions/p1/table.txt"), b"p1 0 2048\n").unwrap();
    fs::write(case.join("empty.bin"), b"").unwrap();
    fs::write(
        case.join("témoin – déclaration.txt"),
        "Déclaration\n".as_bytes(),
    )
    .unwrap();
    case
}

struct Setup {
    net: Network,
    request: String,
    src: PathBuf,
    pkg: PathBuf,
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// DE records a request and seals the tree for FR with 1 MiB segments.
fn sealed() -> Setup {
    let net = Network::offline(&["DE", "FR", "IT"]);
    let request = net.save_request("DE", &draft(RequestKind::Preservation, "DE", "FR"));
    let src = make_tree(&net.scratch("src"));
    let pkg = net.scratch("pkg");
    let de = net.dir("DE");
    let out = net.run_ok(&[
        os("evidence"),
        os("seal"),
        src.as_os_str(),
        os("--request"),
        os(&request),
        os("--to"),
        os("FR"),
        os("--out"),
        pkg.as_os_str(),
        os("--data"),
        de.as_os_str(),
        os("--segment-size"),
        os("1048576"),
        os("--json"),
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["files"], 4, "{v}");
    assert!(v["segments"].as_u64().unwrap() >= 5, "{v}");
    Setup {
        net,
        request,
        src,
        pkg,
    }
}

fn verify(s: &Setup, cc: &str, pkg: &Path) -> (Output, Value) {
    let dir = s.net.dir(cc);
    let out = s.net.run(&[
        os("evidence"),
        os("verify"),
        pkg.as_os_str(),
        os("--data"),
        dir.as_os_str(),
        os("--json"),
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn open(s: &Setup, cc: &str, pkg: &Path, out_dir: &Path) -> (Output, Value) {
    let dir = s.net.dir(cc);
    let out = s.net.run(&[
        os("evidence"),
        os("open"),
        pkg.as_os_str(),
        os("--out"),
        out_dir.as_os_str(),
        os("--data"),
        dir.as_os_str(),
        os("--json"),
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

/// Every regular file under `root`, relative, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn mtime(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn seal_verify_and_open_round_trip() {
    let s = sealed();
    let segments = fs::read_dir(s.pkg.join("segments")).unwrap().count();
    assert!(segments >= 5);
    assert!(
        !files_under(&s.pkg).iter().any(|f| f.ends_with(".part")),
        "no partial segment is left"
    );

    // The sender and the recipient decrypt and check everything.
    for cc in ["DE", "FR"] {
        let (out, v) = verify(&s, cc, &s.pkg);
        assert!(
            out.status.success(),
            "{cc}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(v["decrypted"], true, "{cc}: {v}");
        assert_eq!(v["files_verified"], 4, "{cc}: {v}");
        assert_eq!(v["request"], s.request.as_str());
    }
    // A bystander checks the signature and the segment hashes only.
    let (out, v) = verify(&s, "IT", &s.pkg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["decrypted"], false, "{v}");
    let it_out = s.net.scratch("it-open");
    let (out, _) = open(&s, "IT", &s.pkg, &it_out);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot decrypt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !it_out.exists(),
        "nothing is created for a node that cannot decrypt"
    );

    // The recipient opens it: identical files, mtimes kept.
    let opened = s.net.scratch("opened");
    let (out, v) = open(&s, "FR", &s.pkg, &opened);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["files_written"].as_array().unwrap().len(), 4, "{v}");
    let root = opened.join("case-42");
    assert_eq!(files_under(&root), files_under(&s.src));
    for f in files_under(&s.src) {
        assert_eq!(
            fs::read(root.join(&f)).unwrap(),
            fs::read(s.src.join(&f)).unwrap(),
            "{f}"
        );
        assert_eq!(mtime(&root.join(&f)), mtime(&s.src.join(&f)), "{f}");
    }
    assert!(root.join("empty-folder").is_dir(), "empty folders survive");

    // The manifest in `sha256sum -c` form checks the opened folder.
    let lines = s.net.run_ok(&[
        os("evidence"),
        os("manifest"),
        s.pkg.as_os_str(),
        os("--sha256sum"),
    ]);
    assert_eq!(lines.lines().count(), 4);
    assert!(
        lines.lines().all(|l| l.len() > 66 && &l[64..66] == "  "),
        "{lines}"
    );
    let sums = s.net.scratch("sums.txt");
    fs::write(&sums, &lines).unwrap();
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(&sums)
        .current_dir(&opened)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // The manifest with --data checks the signature; the output folder must be new.
    let de = s.net.dir("DE");
    let shown = s.net.run_ok(&[
        os("evidence"),
        os("manifest"),
        s.pkg.as_os_str(),
        os("--data"),
        de.as_os_str(),
    ]);
    assert!(shown.contains("verified against the directory"), "{shown}");
    let (out, _) = open(&s, "FR", &s.pkg, &opened);
    assert!(
        !out.status.success(),
        "opening into a non-empty folder is refused"
    );
}

#[test]
fn a_flipped_segment_byte_is_reported_and_nothing_unverified_is_kept() {
    let s = sealed();
    let bad = s.net.scratch("bad-pkg");
    copy_dir(&s.pkg, &bad);
    // Segment 2 lies inside the 5 MiB image.
    let seg = bad.join("segments/000002.age");
    let mut bytes = fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();

    for cc in ["DE", "FR"] {
        let (out, v) = verify(&s, cc, &bad);
        assert!(!out.status.success(), "{cc}: tampering must fail verify");
        let problems = v["mismatches"].as_array().unwrap();
        assert!(
            problems
                .iter()
                .any(|m| m["subject"] == "segments/000002.age"),
            "{cc}: {v}"
        );
        assert!(
            problems
                .iter()
                .any(|m| m["subject"] == "case-42/disk/image.dd"),
            "{cc}: the file the segment holds is reported: {v}"
        );
    }
    // The bystander sees the hash mismatch without decrypting.
    let (out, v) = verify(&s, "IT", &bad);
    assert!(!out.status.success());
    assert_eq!(v["mismatches"][0]["subject"], "segments/000002.age", "{v}");

    let opened = s.net.scratch("opened-bad");
    let (out, _) = open(&s, "FR", &bad, &opened);
    assert!(!out.status.success());
    let kept = files_under(&opened);
    assert!(
        !kept
            .iter()
            .any(|f| f.contains("image.dd") || f.contains(".custos-")),
        "{kept:?}"
    );
    for f in &kept {
        let original = s.src.join(f.strip_prefix("case-42/").unwrap());
        assert_eq!(
            fs::read(opened.join(f)).unwrap(),
            fs::read(original).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_tampered_manifest_signature_is_refused() {
    let s = sealed();
    let bad = s.net.scratch("bad-sig");
    copy_dir(&s.pkg, &bad);
    let path = bad.join("manifest.dsse.json");
    let mut envelope: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let sig = envelope["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    envelope["signatures"][0]["sig"] = Value::String(format!("{flipped}{}", &sig[1..]));
    fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();

    let (out, _) = verify(&s, "FR", &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not verify"), "{err}");
    let opened = s.net.scratch("opened-bad-sig");
    let (out, _) = open(&s, "FR", &bad, &opened);
    assert!(!out.status.success());
    assert!(!opened.exists());
}

#[test]
fn bad_inputs_are_refused_with_the_path_named() {
    let net = Network::offline(&["DE", "FR"]);
    let request = net.save_request("DE", &draft(RequestKind::Preservation, "DE", "FR"));
    let root = net.scratch("inputs");
    fs::create_dir_all(root.join("tree/sub")).unwrap();
    fs::write(root.join("tree/sub/a.txt"), b"a").unwrap();
    fs::write(root.join("outside.txt"), b"secret").unwrap();

    let with_link = root.join("linked");
    fs::create_dir_all(&with_link).unwrap();
    std::os::unix::fs::symlink(root.join("outside.txt"), with_link.join("escape")).unwrap();
    let with_fifo = root.join("fifo-dir");
    fs::create_dir_all(&with_fifo).unwrap();
    let made = Command::new("mkfifo")
        .arg(with_fifo.join("pipe"))
        .status()
        .unwrap();
    assert!(made.success());

    let de = net.dir("DE");
    let cases: Vec<(PathBuf, &str)> = vec![
        (root.join("tree/sub/../sub"), "`..`"),
        (with_link.clone(), "leaves the sealed folders"),
        (with_fifo.clone(), "FIFO"),
        (
            PathBuf::from("/nonexistent/custos/evidence"),
            "does not exist",
        ),
    ];
    for (i, (path, expected)) in cases.iter().enumerate() {
        let pkg = net.scratch(&format!("pkg-{i}"));
        let out = net.run(&[
            os("evidence"),
            os("seal"),
            path.as_os_str(),
            os("--request"),
            os(&request),
            os("--to"),
            os("FR"),
            os("--out"),
            pkg.as_os_str(),
            os("--data"),
            de.as_os_str(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{path:?} was sealed");
        assert!(err.contains(expected), "{path:?}: {err}");
        assert!(err.contains("cannot seal"), "{path:?}: {err}");
        assert!(!pkg.exists(), "{path:?}: a refused seal leaves no folder");
    }
    // An unknown request and a State without a directory entry are refused too.
    let pkg = net.scratch("pkg-x");
    let src = root.join("tree");
    for (req, to, expected) in [
        ("no-such-request", "FR", "no request"),
        (request.as_str(), "JP", "JP"),
    ] {
        let out = net.run(&[
            os("evidence"),
            os("seal"),
            src.as_os_str(),
            os("--request"),
            os(req),
            os("--to"),
            os(to),
            os("--out"),
            pkg.as_os_str(),
            os("--data"),
            de.as_os_str(),
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
        assert!(!pkg.exists());
    }
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The recipe of docs/formats/evidence.md, "Checking a package with
/// standard tools alone" (kept identical to the document: a test in this
/// file compares them). Inputs: PKG, IDENTITY, DIRECTORY, OUT. It needs
/// bash (for `pipefail`).
const RECIPE: &str = r#"set -eu -o pipefail
M="$PKG/manifest.dsse.json"
for t in jq base64 xxd openssl b3sum age tar sha256sum; do
  command -v "$t" > /dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
# 1. The manifest's signature, by the sender's key in the directory.
jq -r .payload "$M" | base64 -d > manifest.json
TYPE=$(jq -r .payloadType "$M")
{ printf 'DSSEv1 %d %s %d ' "${#TYPE}" "$TYPE" "$(wc -c < manifest.json)"; cat manifest.json; } > manifest.pae
jq -r '.signatures[0].sig' "$M" | base64 -d > manifest.sig
KEYID=$(jq -r '.signatures[0].keyid' "$M")
SENDER=$(jq -r .sender manifest.json)
rm -f sender.der
jq -r .payload "$DIRECTORY" | base64 -d | jq -r '.entries[].payload' \
  | while read -r p; do printf '%s' "$p" | base64 -d; echo; done \
  | jq -r --arg s "$SENDER" 'select(.state == $s) | .signing_keys[] | select(.revoked_at == null) | .key' \
  | while read -r k; do
      printf '%s' "${k#ed25519:}" | base64 -d > key.raw
      if [ "$(sha256sum key.raw | cut -c1-32)" = "$KEYID" ]; then
        { printf '302a300506032b6570032100' | xxd -r -p; cat key.raw; } > sender.der
      fi
    done
[ -s sender.der ] || { echo "no unrevoked key of $SENDER in the directory has key id $KEYID" >&2; exit 1; }
openssl pkeyutl -verify -pubin -keyform DER -inkey sender.der -rawin -in manifest.pae -sigfile manifest.sig
# 2. Every segment against the signed manifest, before decrypting anything.
jq -r '.segments[] | "\(.blake3) \(.index)"' manifest.json \
  | while read -r h i; do printf '%s  %s/segments/%06d.age\n' "$h" "$PKG" "$i"; done \
  | b3sum -c --quiet
# 3. Decrypt, unpack, and check every file; stop at the first segment that does not decrypt.
mkdir -p "$OUT"
for f in "$PKG"/segments/*.age; do
  age -d -i "$IDENTITY" "$f" || { echo "cannot decrypt $f: stopping" >&2; exit 1; }
done | tar -x -C "$OUT"
jq -r '.files[] | "\(.sha256)  \(.path)"' manifest.json > manifest.sha256
SUMS="$(pwd)/manifest.sha256"
(cd "$OUT" && sha256sum -c --quiet "$SUMS")
echo "All files match the signed manifest."
"#;

#[test]
fn the_standard_tool_recipe_works() {
    let missing: Vec<_> = [
        "age",
        "jq",
        "openssl",
        "tar",
        "sha256sum",
        "b3sum",
        "xxd",
        "base64",
    ]
    .into_iter()
    .filter(|t| !tool(t))
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {missing:?} for the standard-tool recipe"
        );
        custos_testkit::skipped(
            &custos_testkit::current_test(),
            &format!("the standard-tool recipe needs {missing:?}, not installed"),
        );
        return;
    }
    let s = sealed();
    let fr = s.net.dir("FR");
    let identity = s.net.scratch("fr-identity.txt");
    let out = s.net.run(&[
        os("keys"),
        os("export-identity"),
        os("--data"),
        fr.as_os_str(),
        os("--out"),
        identity.as_os_str(),
        os("--reason"),
        os("test of the standard-tool recipe"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&identity).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never replaces a file.
    let again = s.net.run(&[
        os("keys"),
        os("export-identity"),
        os("--data"),
        fr.as_os_str(),
        os("--out"),
        identity.as_os_str(),
        os("--reason"),
        os("again"),
    ]);
    assert!(!again.status.success());

    let work = s.net.scratch("recipe");
    fs::create_dir_all(&work).unwrap();
    // The directory file comes from the receiving node itself, byte for
    // byte as it was imported.
    let directory = s.net.scratch("fr-directory.json");
    s.net.run_ok(&[
        os("directory"),
        os("export"),
        os("--data"),
        fr.as_os_str(),
        os("--out"),
        directory.as_os_str(),
    ]);
    assert_eq!(
        fs::read(&directory).unwrap(),
        fs::read(s.net.scratch("directory-v1.json")).unwrap()
    );
    let run_as = |pkg: &Path, out_dir: &Path, identity: &Path| {
        Command::new("bash")
            .arg("-c")
            .arg(RECIPE)
            .current_dir(&work)
            .env("PKG", pkg)
            .env("IDENTITY", identity)
            .env("DIRECTORY", &directory)
            .env("OUT", out_dir)
            .output()
            .unwrap()
    };
    let run = |pkg: &Path, out_dir: &Path| run_as(pkg, out_dir, &identity);
    let opened = s.net.scratch("recipe-out");
    let out = run(&s.pkg, &opened);
    assert!(
        out.status.success(),
        "recipe failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Signature Verified Successfully"), "{text}");
    for f in files_under(&s.src) {
        assert_eq!(
            fs::read(opened.join("case-42").join(&f)).unwrap(),
            fs::read(s.src.join(&f)).unwrap()
        );
    }

    // The same recipe refuses a manifest signed by nobody in the directory.
    let bad = s.net.scratch("recipe-bad");
    copy_dir(&s.pkg, &bad);
    let path = bad.join("manifest.dsse.json");
    let mut envelope: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let sig = envelope["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    envelope["signatures"][0]["sig"] = Value::String(format!("{flipped}{}", &sig[1..]));
    fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let out = run(&bad, &s.net.scratch("recipe-bad-out"));
    assert!(!out.status.success(), "a bad signature passed the recipe");

    // An identity that cannot decrypt the package: the signature and the
    // segments check out, then the recipe stops at the first segment that
    // does not decrypt instead of going on to the next.
    let stranger = s.net.scratch("stranger-identity.txt");
    fs::write(
        &stranger,
        format!(
            "{}\n",
            custos_seal::EncryptionIdentity::generate()
                .to_secret_text()
                .as_str()
        ),
    )
    .unwrap();
    let out = run_as(&s.pkg, &s.net.scratch("recipe-stranger-out"), &stranger);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "a wrong identity passed: {stdout}");
    assert!(
        stdout.contains("Signature Verified Successfully"),
        "{stdout}"
    );
    assert!(!stdout.contains("All files match"), "{stdout}");
    assert_eq!(stderr.matches("cannot decrypt").count(), 1, "{stderr}");
    assert!(
        stderr.contains("segments/000000.age: stopping"),
        "the first segment is where it stops: {stderr}"
    );
}

#[test]
fn the_documented_recipe_is_the_tested_one() {
    let doc = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/formats/evidence.md"
    ))
    .unwrap();
    assert!(
        doc.contains(RECIPE.trim()),
        "docs/formats/evidence.md must contain the RECIPE of crates/cli/tests/it/evidence.rs verbatim"
    );
}
