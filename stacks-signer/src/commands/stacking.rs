//! `generate-stacking-signature`: the SIP-018 signature a signer gives a stacker so pox-4
//! accepts its signer key (`verify-signer-key-sig`).

use std::io::Write;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{
    make_structured_data_domain, structured_data_message_hash, ClarityName, PoxAddress, Sha256Sum,
    StacksPublicKey, Value,
};

use super::{load_config, CommandError};
use crate::cli::{GenerateStackingSignatureArgs, StackingSignatureMethod};

/// The fields of a pox-4 signer-key authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackingAuthorization<'a> {
    /// Where rewards go.
    pub pox_address: &'a PoxAddress,
    /// The reward cycle the signature is valid for.
    pub reward_cycle: u128,
    /// The pox-4 function being authorized.
    pub method: StackingSignatureMethod,
    /// The lock period.
    pub period: u128,
    /// The largest amount of uSTX the authorization covers.
    pub max_amount: u128,
    /// A nonce preventing reuse.
    pub auth_id: u128,
}

fn name(text: &str) -> Result<ClarityName, CommandError> {
    ClarityName::try_from(text).map_err(|e| CommandError(format!("bad clarity name {text}: {e:?}")))
}

fn type_error(e: impl std::fmt::Debug) -> CommandError {
    CommandError(format!("cannot build the signed message: {e:?}"))
}

/// The pox address as the contract sees it: `{hashbytes: (buff N), version: (buff 1)}`.
pub fn pox_address_tuple(pox_address: &PoxAddress) -> Result<Value, CommandError> {
    let version = pox_address.version_byte().ok_or_else(|| {
        CommandError(format!(
            "pox address {} has no hash mode",
            pox_address.to_b58()
        ))
    })?;
    Value::tuple(vec![
        (
            name("hashbytes")?,
            Value::buff_from(pox_address.bytes()).map_err(type_error)?,
        ),
        (
            name("version")?,
            Value::buff_from(vec![version]).map_err(type_error)?,
        ),
    ])
    .map_err(type_error)
}

/// The SIP-018 digest of a pox-4 signer-key authorization on `chain_id`.
pub fn stacking_message_hash(
    auth: &StackingAuthorization<'_>,
    chain_id: u32,
) -> Result<Sha256Sum, CommandError> {
    let domain =
        make_structured_data_domain("pox-4-signer", "1.0.0", chain_id).map_err(type_error)?;
    let topic = Value::string_ascii_from_bytes(auth.method.topic().as_bytes().to_vec())
        .map_err(type_error)?;
    let data = Value::tuple(vec![
        (name("pox-addr")?, pox_address_tuple(auth.pox_address)?),
        (name("reward-cycle")?, Value::UInt(auth.reward_cycle)),
        (name("topic")?, topic),
        (name("period")?, Value::UInt(auth.period)),
        (name("auth-id")?, Value::UInt(auth.auth_id)),
        (name("max-amount")?, Value::UInt(auth.max_amount)),
    ])
    .map_err(type_error)?;
    Ok(structured_data_message_hash(&data, &domain))
}

/// Signs the authorization with the config's key and prints the public key and the RSV
/// signature, as text or (with `--json`) as one JSON object with sorted keys.
pub fn generate_stacking_signature(
    args: &GenerateStackingSignatureArgs,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let config = load_config(&args.config)?;
    let auth = StackingAuthorization {
        pox_address: &args.pox_address,
        reward_cycle: u128::from(args.reward_cycle),
        method: args.method,
        period: u128::from(args.period),
        max_amount: args.max_amount,
        auth_id: args.auth_id,
    };
    let digest = stacking_message_hash(&auth, config.to_chain_id())?;
    let signature = config
        .stacks_private_key
        .sign(&digest.0)
        .map_err(|e| CommandError(format!("cannot sign: {e}")))?;
    let public_key = StacksPublicKey::from_private(&config.stacks_private_key);
    let pk_hex = to_hex(&public_key.to_bytes_compressed());
    let sig_hex = to_hex(&signature.to_rsv());
    if args.json {
        // serde_json's default map is a BTreeMap: keys come out sorted, as the reference's.
        let json = serde_json::json!({
            "authId": args.auth_id.to_string(),
            "maxAmount": args.max_amount.to_string(),
            "method": args.method.topic(),
            "period": args.period,
            "poxAddress": args.pox_address.to_b58(),
            "rewardCycle": args.reward_cycle,
            "signerKey": pk_hex,
            "signerSignature": sig_hex,
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(
            out,
            "Signer Public Key: 0x{pk_hex}\nSigner Key Signature: 0x{sig_hex}\n\n"
        )?;
    }
    Ok(())
}
