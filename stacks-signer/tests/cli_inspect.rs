//! `inspect` on the libsigner wire vectors: decoded structures and derived hashes.

mod cli_support;

use cli_support::{run, run_with_stdin, SIGNER0_KEY};
use libsigner::chain::hex::{hex_bytes, to_hex};
use libsigner::chain::StacksPrivateKey;
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;
use serde_json::Value as Json;

fn cases(file: &str) -> Vec<Json> {
    let path = cli_support::crate_path(&format!("../libsigner/tests/vectors/{file}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Json = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn inspect(args: &[&str]) -> Json {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    let r = run(&all);
    serde_json::from_str(r.ok()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn s(v: &Json) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn is_error_case(case: &Json) -> bool {
    case.get("error").is_some() || case.get("expected_error").is_some()
}

#[test]
fn chunks_decode_with_signer_and_hashes() {
    let mut checked = 0;
    for case in cases("stackerdb.json") {
        if case["kind"] != "chunk" {
            continue;
        }
        let hex = s(&case["hex"]);
        if is_error_case(&case) {
            run(&["inspect", "--as", "chunk", hex]).one_line_error();
            continue;
        }
        // Default order: chunk is tried first.
        let report = inspect(&[hex]);
        assert_eq!(report["kind"], "chunk");
        assert_eq!(report["data_hash"], case["data_hash"]);
        assert_eq!(report["auth_digest"], case["auth_digest"]);
        assert_eq!(report["signer_public_key"], case["recovered_public_key"]);
        assert_eq!(
            report["signer_address_mainnet"],
            case["signer_address_mainnet"]
        );
        assert_eq!(
            report["signer_address_testnet"],
            case["signer_address_testnet"]
        );
        let expected: Json = serde_json::from_str(s(&case["json"])).unwrap();
        assert_eq!(report["chunk"], expected);
        checked += 1;
    }
    assert!(checked >= 50, "{checked}");
}

#[test]
fn blocks_decode_with_ids_and_miner_key() {
    let mut checked = 0;
    for case in cases("nakamoto_blocks.json") {
        if case["kind"] != "block" {
            continue;
        }
        if is_error_case(&case) {
            let e = run(&["inspect", "--as", "block", s(&case["hex"])]);
            assert!(e.one_line_error().contains("not a valid block"));
            continue;
        }
        let report = inspect(&["--as", "block", s(&case["hex"])]);
        assert_eq!(report["kind"], "block");
        for field in [
            "block_id",
            "block_hash",
            "signer_signature_hash",
            "miner_signature_hash",
            "miner_public_key",
            "txids",
        ] {
            assert_eq!(
                report[field], case[field],
                "{field} of {}",
                case["block_id"]
            );
        }
        checked += 1;
    }
    assert!(checked >= 60, "{checked}");
}

#[test]
fn transactions_decode_with_txid() {
    let mut checked = 0;
    for case in cases("transactions.json") {
        let hex = s(&case["hex"]);
        if is_error_case(&case) {
            run(&["inspect", "--as", "tx", hex]).one_line_error();
            continue;
        }
        let report = inspect(&["--as", "tx", hex]);
        assert_eq!(report["kind"], "tx");
        assert_eq!(report["txid"], case["txid"]);
        checked += 1;
    }
    assert!(checked >= 300, "{checked}");
}

#[test]
fn signer_messages_decode() {
    let mut checked = 0;
    for case in cases("signer_messages.json") {
        let hex = s(&case["hex"]);
        if is_error_case(&case) {
            run(&["inspect", "--as", "message", hex]).one_line_error();
            continue;
        }
        let consumed = case["consumed"].as_u64().unwrap() as usize;
        if consumed * 2 != hex.len() {
            // Trailing bytes are refused: inspect wants exactly one message.
            let e = run(&["inspect", "--as", "message", hex]);
            assert!(e.one_line_error().contains("trailing"), "{}", e.stderr);
            continue;
        }
        let report = inspect(&["--as", "message", hex]);
        assert_eq!(report["kind"], "message");
        let variant = s(&case["variant"]);
        assert!(
            variant.starts_with(s(&report["type"])),
            "{variant} vs {}",
            report["type"]
        );
        if let Some(json) = case.get("json") {
            assert_eq!(&report["message"], json, "{variant}");
        }
        if variant.starts_with("BlockProposal") || variant.starts_with("BlockPushed") {
            assert_eq!(report["block"]["kind"], "block");
            assert_eq!(s(&report["block"]["block_id"]).len(), 64);
        }
        checked += 1;
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn clarity_values_decode() {
    let mut checked = 0;
    for case in cases("clarity_values.json") {
        let hex = s(&case["hex"]);
        if is_error_case(&case) {
            run(&["inspect", "--as", "value", hex]).one_line_error();
            continue;
        }
        let report = inspect(&["--as", "value", hex]);
        assert_eq!(report["kind"], "value");
        assert!(!report["value"].is_null());
        checked += 1;
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn chunk_carrying_a_signer_message_shows_the_message() {
    let message = cases("signer_messages.json")
        .into_iter()
        .find(|c| {
            !is_error_case(c)
                && c["variant"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("BlockResponse"))
                && c["consumed"].as_u64().unwrap() as usize * 2 == s(&c["hex"]).len()
        })
        .unwrap();
    let data = hex_bytes(s(&message["hex"])).unwrap();
    let key = StacksPrivateKey::from_hex(SIGNER0_KEY).unwrap();
    let mut chunk = StackerDBChunkData::new(2, 5, data);
    chunk.sign(&key).unwrap();
    let bytes = chunk.serialize_to_vec();
    let report = inspect(&[&to_hex(&bytes)]);
    assert_eq!(report["kind"], "chunk");
    assert_eq!(
        report["signer_address_testnet"],
        "ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ"
    );
    assert_eq!(report["message"]["type"], "BlockResponse");
    assert_eq!(report["message"]["message"], message["json"]);

    // The same bytes as hex on stdin (with 0x and a newline), raw on stdin, and from a file.
    let r = run_with_stdin(
        &["inspect", "-"],
        format!("0x{}\n", to_hex(&bytes)).as_bytes(),
    );
    assert_eq!(serde_json::from_str::<Json>(r.ok()).unwrap(), report);
    let r = run_with_stdin(&["inspect", "--binary"], &bytes);
    assert_eq!(serde_json::from_str::<Json>(r.ok()).unwrap(), report);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chunk.bin");
    std::fs::write(&file, &bytes).unwrap();
    let r = run(&[
        "inspect",
        "--binary",
        "--as",
        "chunk",
        file.to_str().unwrap(),
    ]);
    assert_eq!(serde_json::from_str::<Json>(r.ok()).unwrap(), report);
}

#[test]
fn inspect_errors_are_one_line() {
    assert!(run(&["inspect", "zz"]).one_line_error().contains("hex"));
    assert!(run(&["inspect", "abc"]).one_line_error().contains("hex"));
    run(&["inspect", ""]).one_line_error();
    run_with_stdin(&["inspect"], b"").one_line_error();
    let e = run(&["inspect", "ffffffff"]);
    assert!(e
        .one_line_error()
        .contains("none of chunk, message, block, tx, value"));
    let e = run(&["inspect", "--as", "block", "00"]);
    assert!(e.one_line_error().contains("not a valid block"));
    run(&["inspect", "--as", "nonsense", "00"]).one_line_error();
    run(&["inspect", "--binary", "/no/such/file"]).one_line_error();
}
