//! Any bytes: decoding a Nakamoto block never panics, and a decoded block re-encodes to bytes
//! that decode to a block with the same id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsigner::chain::NakamotoBlock;
use libsigner::codec::StacksMessageCodec;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = NakamotoBlock::consensus_deserialize(&mut &data[..]) {
        let bytes = block.serialize_to_vec();
        let again = NakamotoBlock::consensus_deserialize(&mut &bytes[..])
            .expect("a re-encoded block decodes");
        assert_eq!(again.block_id(), block.block_id());
        assert_eq!(again.serialize_to_vec(), bytes, "re-encoding is stable");
    }
});
