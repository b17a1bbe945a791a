//! Helpers shared by the vector suites: loading a vector file and reading its fields.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The cases of `tests/vectors/<file>`, in file order.
pub fn load_cases(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let cases = doc["cases"].as_array().expect("a cases array").clone();
    assert_eq!(
        cases.len() as u64,
        doc["count"].as_u64().expect("a count"),
        "{file}: count field disagrees with the cases"
    );
    cases
}

/// The cases of `file` whose `kind` is `kind`.
pub fn cases_of_kind(file: &str, kind: &str) -> Vec<Value> {
    load_cases(file)
        .into_iter()
        .filter(|c| c["kind"] == kind)
        .collect()
}

/// Whether the case is one the reference rejects.
pub fn is_error_case(case: &Value) -> bool {
    case["expected_error"].as_bool().unwrap_or(false)
}

/// The string field `key` of `case`.
pub fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case has no string field {key}: {case}"))
}

/// The hex field `key` of `case`, decoded.
pub fn hex_field(case: &Value, key: &str) -> Vec<u8> {
    hex_decode(str_field(case, key))
}

/// Decodes lowercase or uppercase hex, panicking on malformed test data.
pub fn hex_decode(text: &str) -> Vec<u8> {
    libsigner::chain::hex::hex_bytes(text)
        .unwrap_or_else(|e| panic!("bad hex in vector {text:.40}: {e}"))
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    libsigner::chain::hex::to_hex(bytes)
}

/// A short description of a case for assertion messages.
pub fn label(case: &Value) -> String {
    let note = case["note"].as_str().unwrap_or("");
    let hex = case["hex"].as_str().unwrap_or("");
    format!("[{}] {note} {:.60}", case["kind"], hex)
}
