//! RFC 8785 canonical JSON and content ids, against the RFC's own examples
//! (§3.2.2 sample, §3.2.3 sorting, Appendix B numbers) and against vectors
//! whose expected output came from Node's `JSON.stringify` and UTF-16 sort
//! (an independent implementation of the same ECMAScript rules).

// Test code: a panic is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{data, unhex};
use custos_seal::{
    MAX_SAFE_INTEGER, SealError, canonical_json, content_id, content_id_of, ensure_canonical,
};
use serde::Serialize;
use serde_json::Value;

fn canon_str<T: Serialize + ?Sized>(value: &T) -> String {
    String::from_utf8(canonical_json(value).unwrap()).unwrap()
}

fn check_file_pair(stem: &str) {
    let input = std::fs::read_to_string(data(&format!("jcs/{stem}.input.json"))).unwrap();
    let expected = std::fs::read(data(&format!("jcs/{stem}.expected.json"))).unwrap();
    let value: Value = serde_json::from_str(&input).unwrap();
    let got = canonical_json(&value).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected),
        "{stem}"
    );
    ensure_canonical(&got).unwrap();
}

#[test]
fn rfc8785_section_3_2_2_sample() {
    check_file_pair("rfc8785-3.2.2");
    let expected = std::fs::read_to_string(data("jcs/rfc8785-3.2.2.expected.json")).unwrap();
    assert_eq!(
        expected,
        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
         \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
    );
}

#[test]
fn rfc8785_section_3_2_3_sorting_by_utf16_code_units() {
    check_file_pair("rfc8785-3.2.3-sorting");
    let input = std::fs::read_to_string(data("jcs/rfc8785-3.2.3-sorting.input.json")).unwrap();
    let value: Value = serde_json::from_str(&input).unwrap();
    let out: Value = serde_json::from_slice(&canonical_json(&value).unwrap()).unwrap();
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16 order,
    // though after it by code point or UTF-8 bytes.
    assert_eq!(
        keys,
        [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}"
        ]
    );
}

#[test]
fn nested_structures_escapes_and_locale_independent_order() {
    check_file_pair("nested");
}

fn check_number_file(name: &str) -> usize {
    let text = std::fs::read_to_string(data(name)).unwrap();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (bits, expected) = line.split_once(',').unwrap();
        let bits = u64::from_be_bytes(unhex(bits).try_into().unwrap());
        let value = f64::from_bits(bits);
        assert_eq!(canon_str(&value), expected, "bits {bits:016x}");
        count += 1;
    }
    count
}

#[test]
fn rfc8785_appendix_b_numbers() {
    assert_eq!(check_number_file("jcs/rfc8785-appendix-b.txt"), 24);
    // The Appendix B rows that must fail: NaN and Infinity.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            canonical_json(&bad),
            Err(SealError::Canonicalization(_))
        ));
        assert!(matches!(
            canonical_json(&[1.0, bad]),
            Err(SealError::Canonicalization(_))
        ));
    }
}

#[test]
fn es6_number_formatting_against_node() {
    assert_eq!(check_number_file("jcs/es6-numbers.txt"), 4000);
}

#[test]
fn brief_number_cases() {
    let cases = [
        ("1e30", "1e+30"),
        ("4.50", "4.5"),
        ("0.002", "0.002"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("1e-7", "1e-7"),
        ("0.000001", "0.000001"),
        ("1E21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("10.0", "10"),
        ("-1.5e-300", "-1.5e-300"),
    ];
    for (input, expected) in cases {
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(canon_str(&value), expected, "{input}");
    }
}

#[derive(Serialize)]
struct Message {
    zeta: u32,
    alpha: Option<String>,
    #[serde(rename = "\u{20ac}")]
    euro: i8,
    #[serde(rename = "\r")]
    cr: bool,
    nested: BTreeMap<String, Vec<f64>>,
}

#[test]
fn structs_and_maps_are_sorted_whatever_their_source_order() {
    let mut nested = BTreeMap::new();
    nested.insert("b".to_owned(), vec![0.5, 2.0]);
    nested.insert("B".to_owned(), vec![]);
    let m = Message {
        zeta: 1,
        alpha: None,
        euro: -3,
        cr: true,
        nested,
    };
    assert_eq!(
        canon_str(&m),
        "{\"\\r\":true,\"alpha\":null,\"nested\":{\"B\":[],\"b\":[0.5,2]},\"zeta\":1,\"\u{20ac}\":-3}"
    );

    let mut hm = HashMap::new();
    for (i, k) in ["\u{fb33}", "\u{1f600}", "b", "a\u{0}", "a"]
        .iter()
        .enumerate()
    {
        hm.insert((*k).to_owned(), i);
    }
    assert_eq!(
        canon_str(&hm),
        "{\"a\":4,\"a\\u0000\":3,\"b\":2,\"\u{1f600}\":1,\"\u{fb33}\":0}"
    );

    // Integer map keys are written as strings and sorted as strings.
    let ints: HashMap<u32, bool> = [(10, true), (9, false), (100, true)].into_iter().collect();
    assert_eq!(canon_str(&ints), "{\"10\":true,\"100\":true,\"9\":false}");
}

#[test]
fn refusals_are_typed() {
    // Duplicate member names (reachable with `flatten`).
    #[derive(Serialize)]
    struct Dup {
        a: u8,
        #[serde(flatten)]
        rest: BTreeMap<String, u8>,
    }
    let dup = Dup {
        a: 1,
        rest: [("a".to_owned(), 2)].into_iter().collect(),
    };
    assert!(
        matches!(canonical_json(&dup), Err(SealError::Canonicalization(m)) if m.contains("duplicate"))
    );

    // Non-string map keys.
    let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
    assert!(matches!(
        canonical_json(&bad),
        Err(SealError::Canonicalization(_))
    ));

    // Integers that a double cannot hold exactly.
    assert_eq!(canon_str(&MAX_SAFE_INTEGER), "9007199254740991");
    for v in [MAX_SAFE_INTEGER + 1, u64::MAX, 1_700_000_000_123_456_789] {
        let err = canonical_json(&serde_json::json!({"t": v})).unwrap_err();
        assert!(
            matches!(&err, SealError::Canonicalization(m) if m.contains("$.t")),
            "{err}"
        );
    }
    assert!(canonical_json(&i64::MIN).is_err());
    // Non-finite floats anywhere, not only at the top (serde_json and both
    // RFC 8785 crates on crates.io quietly write nested ones as `null`).
    #[derive(Serialize)]
    struct Reading {
        label: &'static str,
        values: Vec<f32>,
    }
    #[derive(Serialize)]
    enum Shape {
        Point { x: f64 },
    }
    let nested_cases: Vec<(Result<Vec<u8>, SealError>, &str)> = vec![
        (canonical_json(&[1.0, f64::NAN]), "$[1]"),
        (
            canonical_json(&Reading {
                label: "t",
                values: vec![1.0, f32::INFINITY],
            }),
            "$.values[1]",
        ),
        (
            canonical_json(&BTreeMap::from([("k", f64::NEG_INFINITY)])),
            "$.k",
        ),
        (
            canonical_json(&Some(vec![Shape::Point { x: f64::NAN }])),
            "$[0].Point.x",
        ),
        (
            canonical_json(&serde_json::json!({"deep": [[{"n": u64::MAX}]]})),
            "$.deep[0][0].n",
        ),
    ];
    for (outcome, path) in nested_cases {
        match outcome {
            Err(SealError::Canonicalization(msg)) => {
                assert!(msg.contains(path), "{msg} lacks {path}")
            }
            other => panic!("expected a refusal at {path}, got {other:?}"),
        }
    }
    // A float of the same magnitude is a double already, and is accepted.
    assert_eq!(canon_str(&9007199254740992.0_f64), "9007199254740992");
}

#[test]
fn ensure_canonical_rejects_every_non_canonical_spelling() {
    ensure_canonical(b"{\"a\":[1,2.5,\"x\"],\"b\":null}").unwrap();
    ensure_canonical(b"\"\\u001f\"").unwrap();
    let bad: &[&[u8]] = &[
        b"{\"b\":1,\"a\":2}",
        b"{\"a\": 1}",
        b"{\"a\":1.0}",
        b"{\"a\":-0}",
        b"{\"a\":1E3}",
        b"{\"a\":1,\"a\":1}",
        b"\"\\u0041\"",
        b"\"\\/\"",
        b"[9007199254740993]",
        b"[1] ",
        b"not json",
        b"",
    ];
    for input in bad {
        assert!(
            matches!(ensure_canonical(input), Err(SealError::NotCanonical(_))),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn content_ids() {
    // SHA-256 of the empty string (FIPS 180-2 / widely published).
    assert_eq!(
        content_id(b""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // SHA-256("abc"), FIPS 180-2 Appendix B.1.
    assert_eq!(
        content_id(b"abc"),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // The id of a value is the id of its canonical bytes, so member order
    // and spelling in the source do not matter.
    let a: Value = serde_json::from_str("{\"b\": 1.0, \"a\": [true]}").unwrap();
    let b: Value = serde_json::from_str("{\"a\":[true],\"b\":1}").unwrap();
    assert_eq!(content_id_of(&a).unwrap(), content_id_of(&b).unwrap());
    assert_eq!(
        content_id_of(&a).unwrap(),
        content_id(b"{\"a\":[true],\"b\":1}")
    );
    assert!(content_id_of(&f64::NAN).is_err());
}
