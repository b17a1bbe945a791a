//! Cross-crate: a signer configured from an operator's TOML file signs StackerDB chunks that
//! libsigner verifies against the address the config derives, on both networks.

use std::path::Path;

use libsigner::chain::{StacksAddress, StacksPublicKey};
use libsigner::stackerdb::StackerDBChunkData;
use stacks_signer::config::GlobalConfig;

fn sample_config(name: &str) -> GlobalConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("stacks-signer/tests/conf")
        .join(name);
    GlobalConfig::try_from(path.as_path()).expect("sample config loads")
}

#[test]
fn chunks_signed_with_the_configured_key_verify_against_the_configured_address() {
    let config = sample_config("signer-0.toml");
    let mut chunk = StackerDBChunkData::new(3, 7, b"state machine update".to_vec());
    chunk.sign(&config.stacks_private_key).unwrap();
    assert_eq!(chunk.verify(&config.stacks_address), Ok(true));
    let recovered = chunk.recover_pk().unwrap();
    assert_eq!(
        StacksAddress::p2pkh(config.network.is_mainnet(), &recovered),
        config.stacks_address
    );
}

#[test]
fn another_signers_address_does_not_verify() {
    let signer0 = sample_config("signer-0.toml");
    let signer1 = sample_config("signer-1.toml");
    let mut chunk = StackerDBChunkData::new(0, 1, vec![1, 2, 3]);
    chunk.sign(&signer0.stacks_private_key).unwrap();
    assert_eq!(chunk.verify(&signer1.stacks_address), Ok(false));
    let pk1 = StacksPublicKey::from_private(&signer1.stacks_private_key);
    assert_ne!(
        chunk.recover_pk().unwrap().to_bytes_compressed(),
        pk1.to_bytes_compressed()
    );
}
