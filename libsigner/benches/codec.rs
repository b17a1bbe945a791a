//! Hot-path costs: decoding and hashing a 1 MiB Nakamoto block (what every proposal costs a
//! signer), public-key recovery (once per signature a signer checks), and decoding a deeply
//! nested Clarity value.
//!
//! Run: `cargo bench -p libsigner --bench codec`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use libsigner::chain::{
    ContractName, NakamotoBlock, NakamotoBlockHeader, StacksPrivateKey, StacksPublicKey,
    StacksString, StacksTransaction, StacksTransactionSigner, TransactionAuth, TransactionPayload,
    TransactionSmartContract, TransactionSpendingCondition, TransactionVersion, Value,
};
use libsigner::codec::StacksMessageCodec;

/// A block of signed contract deployments totalling at least `min_bytes` of transactions.
fn big_block(min_bytes: usize) -> NakamotoBlock {
    let key = StacksPrivateKey::from_seed(b"bench deployer");
    let pk = StacksPublicKey::from_private(&key);
    let code = "(define-data-var counter int 0) ;; padding ".repeat(190);
    let mut txs = Vec::new();
    let mut total = 0;
    let mut nonce = 0u64;
    while total < min_bytes {
        let mut condition = TransactionSpendingCondition::new_singlesig_p2pkh(pk).unwrap();
        condition.set_nonce(nonce);
        condition.set_tx_fee(1000);
        let payload = TransactionPayload::SmartContract(
            TransactionSmartContract {
                name: ContractName::try_from(format!("bench-{nonce}")).unwrap(),
                code_body: StacksString::from_str(&code).unwrap(),
            },
            None,
        );
        let tx = StacksTransaction::new(
            TransactionVersion::Testnet,
            TransactionAuth::Standard(condition),
            payload,
        );
        let mut signer = StacksTransactionSigner::new(&tx);
        signer.sign_origin(&key).unwrap();
        let tx = signer.get_tx().unwrap();
        total += tx.serialize_to_vec().len();
        txs.push(tx);
        nonce += 1;
    }
    let mut block = NakamotoBlock {
        header: NakamotoBlockHeader::empty(),
        txs,
    };
    block.header.tx_merkle_root = block.compute_tx_merkle_root();
    block.header.sign_miner(&key).unwrap();
    block
}

fn deep_value() -> Value {
    // 15 levels of nesting (the limit), a 1000-item list of tuples at the bottom.
    let tuple = Value::tuple(vec![
        ("amount".try_into().unwrap(), Value::UInt(42)),
        (
            "memo".try_into().unwrap(),
            Value::buff_from(vec![7; 32]).unwrap(),
        ),
    ])
    .unwrap();
    let mut value = Value::cons_list(vec![tuple; 1000]).unwrap();
    for _ in 0..13 {
        value = Value::some(value).unwrap();
    }
    value
}

fn bench(c: &mut Criterion) {
    let block = big_block(1024 * 1024);
    let bytes = block.serialize_to_vec();
    let mut group = c.benchmark_group("nakamoto_block");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(format!("decode_and_hash_{}_bytes", bytes.len()), |b| {
        b.iter(|| {
            let block = NakamotoBlock::consensus_deserialize(&mut black_box(&bytes[..])).unwrap();
            black_box((block.header.signer_signature_hash(), block.block_id()))
        })
    });
    group.finish();

    let key = StacksPrivateKey::from_seed(b"bench signer");
    let digest = block.header.signer_signature_hash();
    let sig = key.sign(&digest.0).unwrap();
    c.bench_function("recover_public_key", |b| {
        b.iter(|| {
            StacksPublicKey::recover_to_pubkey(black_box(&digest.0), black_box(&sig)).unwrap()
        })
    });

    let value_bytes = deep_value().serialize_to_vec();
    let name = format!("decode_deep_clarity_value_{}_bytes", value_bytes.len());
    c.bench_function(&name, |b| {
        b.iter(|| Value::consensus_deserialize(&mut black_box(&value_bytes[..])).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
