//! `generate-vote` and `verify-vote`: SIP-018 signatures over `{sip, vote}` under the
//! `signer-sip-voting` domain (always the mainnet chain id).

use std::io::Write;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{
    make_structured_data_domain, structured_data_message_hash, ClarityName, MessageSignature,
    Sha256Sum, StacksPublicKey, Value, CHAIN_ID_MAINNET,
};

use super::{load_config, CommandError};
use crate::cli::{GenerateVoteArgs, VerifyVoteArgs, VoteInfo};

/// The SIP-018 digest signed for a vote.
pub fn vote_digest(info: &VoteInfo) -> Result<Sha256Sum, CommandError> {
    let field = |name: &str, value: u128| -> Result<(ClarityName, Value), CommandError> {
        let name = ClarityName::try_from(name)
            .map_err(|e| CommandError(format!("bad clarity name {name}: {e:?}")))?;
        Ok((name, Value::UInt(value)))
    };
    let data = Value::tuple(vec![
        field("sip", u128::from(info.sip))?,
        field("vote", u128::from(info.vote.to_u8()))?,
    ])
    .map_err(|e| CommandError(format!("cannot build the vote tuple: {e:?}")))?;
    let domain = make_structured_data_domain("signer-sip-voting", "1.0.0", CHAIN_ID_MAINNET)
        .map_err(|e| CommandError(format!("cannot build the vote domain: {e:?}")))?;
    Ok(structured_data_message_hash(&data, &domain))
}

/// Signs the vote with the config's key and prints the signature as hex in VRS order.
pub fn generate_vote(args: &GenerateVoteArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let config = load_config(&args.config)?;
    let signature = sign_vote(&args.vote_info, &config.stacks_private_key)?;
    writeln!(out, "{}", to_hex(&signature.0))?;
    Ok(())
}

/// Signs a vote.
pub fn sign_vote(
    info: &VoteInfo,
    key: &libsigner::chain::StacksPrivateKey,
) -> Result<MessageSignature, CommandError> {
    let digest = vote_digest(info)?;
    key.sign(&digest.0)
        .map_err(|e| CommandError(format!("cannot sign the vote: {e}")))
}

/// Checks a vote signature against a public key: prints `Valid vote` or `Invalid vote`.
pub fn verify_vote(args: &VerifyVoteArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let valid = check_vote(&args.vote_info, &args.public_key, &args.signature)?;
    writeln!(out, "{}", if valid { "Valid vote" } else { "Invalid vote" })?;
    Ok(())
}

/// Whether `signature` is `public_key`'s signature of the vote.
pub fn check_vote(
    info: &VoteInfo,
    public_key: &StacksPublicKey,
    signature: &MessageSignature,
) -> Result<bool, CommandError> {
    let digest = vote_digest(info)?;
    public_key
        .verify(&digest.0, signature)
        .map_err(|e| CommandError(format!("cannot verify the vote signature: {e}")))
}
