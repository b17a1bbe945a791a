//! Any bytes: decoding a Clarity value never panics, and a decoded value re-encodes to bytes
//! that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::chain::Value;
use libsigner::codec::StacksMessageCodec;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = Value::consensus_deserialize(&mut &data[..]) {
        let bytes = value.serialize_to_vec();
        let again =
            Value::consensus_deserialize(&mut &bytes[..]).expect("a re-encoded value decodes");
        assert_eq!(again, value);
    }
});
