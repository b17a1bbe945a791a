//! Any bytes: decoding a transaction never panics, and a decoded transaction re-encodes to
//! bytes that decode to the same transaction and re-encode identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::chain::StacksTransaction;
use libsigner::codec::StacksMessageCodec;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = StacksTransaction::consensus_deserialize(&mut &data[..]) {
        let bytes = tx.serialize_to_vec();
        let again = StacksTransaction::consensus_deserialize(&mut &bytes[..])
            .expect("a re-encoded transaction decodes");
        assert_eq!(again.serialize_to_vec(), bytes, "re-encoding is stable");
        assert_eq!(again.txid(), tx.txid());
    }
});
