//! Any bytes: decoding a signer message never panics, and a decoded message re-encodes to
//! bytes that decode again (re-encoding may legitimately grow an old-version response; see
//! docs/compatibility.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::SignerMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = SignerMessage::consensus_deserialize(&mut &data[..]) {
        let bytes = message.serialize_to_vec();
        let again = SignerMessage::consensus_deserialize(&mut &bytes[..])
            .expect("a re-encoded message decodes");
        assert_eq!(again.msg_id(), message.msg_id());
    }
});
