//! Helpers shared by the `signerdb_*` integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{Hash160, StacksAddress};
use stacks_signer::signerdb::SignerDb;

/// The environment variable that tells a helper test it runs as a child process.
pub const CHILD_DB_ENV: &str = "SIGNERDB_TEST_CHILD_DB";

/// A fresh database in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_db() -> (tempfile::TempDir, PathBuf, SignerDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sqlite");
    let db = SignerDb::open(&path).unwrap();
    (dir, path, db)
}

/// A testnet single-sig address with hash `[n; 20]`.
pub fn addr(n: u8) -> StacksAddress {
    StacksAddress::new(26, Hash160::from([n; 20])).unwrap()
}

/// A mainnet single-sig address with hash `[n; 20]`.
pub fn mainnet_addr(n: u8) -> StacksAddress {
    StacksAddress::new(22, Hash160::from([n; 20])).unwrap()
}

/// Seconds since the epoch as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs the ignored test `name` of this test binary as a child process with
/// [`CHILD_DB_ENV`] set to `db`, stdout piped.
pub fn spawn_child(name: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line ending with `marker` (the test harness may print the
/// test's name on the same line); panics if the output ends first.
pub fn wait_for_line(child: &mut Child, marker: &str) {
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited before printing {marker:?}");
        if line.trim_end().ends_with(marker) {
            // Keep the pipe open (a closed pipe could kill the child with SIGPIPE on its
            // next write).
            std::mem::forget(reader);
            return;
        }
    }
}

/// The database path a helper test was given, or None when run normally.
pub fn child_db() -> Option<PathBuf> {
    std::env::var_os(CHILD_DB_ENV).map(PathBuf::from)
}

/// Announces `marker` on stdout, then waits to be killed or for stdin to close (the parent
/// exiting closes it).
pub fn announce_and_wait(marker: &str) {
    use std::io::{Read, Write};
    let mut out = std::io::stdout();
    writeln!(out, "{marker}").unwrap();
    out.flush().unwrap();
    let mut buf = [0u8; 1];
    let _ = std::io::stdin().read(&mut buf);
}

use libsigner::chain::{
    CoinbasePayload, ConsensusHash, MessageSignature, NakamotoBlock, NakamotoBlockHeader,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, StacksTransaction, TenureChangeCause,
    TenureChangePayload, TransactionAuth, TransactionPayload, TransactionSpendingCondition,
    TransactionVersion, VRFProof,
};
use stacks_signer::signerdb::{BlockInfo, BlockState, ExtraBlockInfo};

/// A block of tenure `[tenure; 20]` at `height`; `variant` makes siblings distinct.
pub fn block(tenure: u8, height: u64, variant: u8) -> NakamotoBlock {
    block_with_txs(tenure, height, variant, Vec::new())
}

/// A block with these transactions (and the matching Merkle root).
pub fn block_with_txs(
    tenure: u8,
    height: u64,
    variant: u8,
    txs: Vec<StacksTransaction>,
) -> NakamotoBlock {
    let mut header = NakamotoBlockHeader::empty();
    header.consensus_hash = ConsensusHash::from([tenure; 20]);
    header.chain_length = height;
    header.parent_block_id = StacksBlockId::from([0x03; 32]);
    header.miner_signature = MessageSignature([variant; 65]);
    let mut block = NakamotoBlock { header, txs };
    block.header.tx_merkle_root = block.compute_tx_merkle_root();
    block
}

fn auth() -> TransactionAuth {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"miner"));
    TransactionAuth::Standard(TransactionSpendingCondition::new_singlesig_p2pkh(key).unwrap())
}

/// A tenure change of `tenure` with `cause`, continuing block `[0x03; 32]`.
pub fn tenure_change_tx(tenure: u8, cause: TenureChangeCause) -> StacksTransaction {
    StacksTransaction::new(
        TransactionVersion::Testnet,
        auth(),
        TransactionPayload::TenureChange(TenureChangePayload {
            tenure_consensus_hash: ConsensusHash::from([tenure; 20]),
            prev_tenure_consensus_hash: ConsensusHash::from([0x01; 20]),
            burn_view_consensus_hash: ConsensusHash::from([tenure; 20]),
            previous_tenure_end: StacksBlockId::from([0x03; 32]),
            previous_tenure_blocks: 1,
            cause,
            pubkey_hash: libsigner::chain::Hash160::from([0x99; 20]),
        }),
    )
}

/// A Nakamoto coinbase (with a VRF proof).
pub fn coinbase_tx() -> StacksTransaction {
    // The ed25519 base point as Gamma, zero c and s: a well-formed proof.
    let mut proof = [0u8; 80];
    proof[0] = 0x58;
    for b in proof.iter_mut().take(32).skip(1) {
        *b = 0x66;
    }
    StacksTransaction::new(
        TransactionVersion::Testnet,
        auth(),
        TransactionPayload::Coinbase(
            CoinbasePayload::from([0; 32]),
            None,
            Some(VRFProof::from_slice(&proof).unwrap()),
        ),
    )
}

/// An `Unprocessed` record of `block` in reward cycle 42 at burn height 7.
pub fn info(block: NakamotoBlock) -> BlockInfo {
    BlockInfo {
        block,
        burn_block_height: 7,
        reward_cycle: 42,
        vote: None,
        valid: None,
        signed_over: false,
        proposed_time: now(),
        signed_self: None,
        signed_group: None,
        state: BlockState::Unprocessed,
        validation_time_ms: None,
        ext: ExtraBlockInfo::None,
        reject_reason: None,
    }
}
