//! Any bytes: decoding a StackerDB chunk never panics; a decoded chunk round-trips exactly and
//! signer-key recovery on it returns a result instead of panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;

fuzz_target!(|data: &[u8]| {
    if let Ok(chunk) = StackerDBChunkData::consensus_deserialize(&mut &data[..]) {
        let bytes = chunk.serialize_to_vec();
        assert_eq!(
            &data[..bytes.len()],
            &bytes[..],
            "chunks round-trip byte for byte"
        );
        let _ = chunk.recover_pk();
    }
});
