//! Transaction authorization: spending conditions, their auth fields, and the signature
//! chain (sighash) that signs and verifies them.
//!
//! Signing is linear: each signature commits to a rolling hash. Starting from the initial
//! sighash (the txid of the transaction with its authorization cleared), a signer signs
//! `presign = SHA512/256(cur || auth_flag || fee || nonce)` and the chain moves on to
//! `SHA512/256(presign || key_encoding || signature)`. Order-independent multisig conditions
//! do not chain: each of their signatures signs the presign hash of the condition's start.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{
    AddressHashMode, Hash160, MessageSignature, Sha512Trunc256Sum, StacksAddress, StacksPrivateKey,
    StacksPublicKey, Txid, C32_ADDRESS_VERSION_MAINNET_MULTISIG,
    C32_ADDRESS_VERSION_MAINNET_SINGLESIG, C32_ADDRESS_VERSION_TESTNET_MULTISIG,
    C32_ADDRESS_VERSION_TESTNET_SINGLESIG,
};
use crate::codec::{
    read_array, read_next, write_next, BoundReader, Error as CodecError, StacksMessageCodec,
    MAX_MESSAGE_LEN,
};
use crate::define_u8_enum;

/// Why signing or verifying a transaction's authorization failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionAuthError {
    /// A signature does not verify, or the recovered keys do not hash to the signer.
    #[error("Failed to verify signature: {0}")]
    VerifyingError(String),
    /// A signature could not be made or appended.
    #[error("Failed to sign: {0}")]
    SigningError(String),
}

define_u8_enum!(
    /// The authorization kind, also the byte mixed into each presign hash.
    pub enum TransactionAuthFlags {
        /// The origin pays for itself.
        AuthStandard = 0x04,
        /// A sponsor pays for the origin.
        AuthSponsored = 0x05,
    }
);

define_u8_enum!(
    /// The wire tag of a [`TransactionAuthField`].
    pub enum TransactionAuthFieldID {
        /// A compressed public key.
        PublicKeyCompressed = 0x00,
        /// A public key whose owner uses it uncompressed.
        PublicKeyUncompressed = 0x01,
        /// A signature by a key used compressed.
        SignatureCompressed = 0x02,
        /// A signature by a key used uncompressed.
        SignatureUncompressed = 0x03,
    }
);

define_u8_enum!(
    /// The form a signer's public key is hashed in.
    pub enum TransactionPublicKeyEncoding {
        /// 33-byte compressed key.
        Compressed = 0x00,
        /// 65-byte uncompressed key.
        Uncompressed = 0x01,
    }
);

impl TransactionPublicKeyEncoding {
    /// The encoding a key's compression flag selects.
    pub fn of_key(compressed: bool) -> Self {
        if compressed {
            TransactionPublicKeyEncoding::Compressed
        } else {
            TransactionPublicKeyEncoding::Uncompressed
        }
    }
}

define_u8_enum!(
    /// Hash modes of a single-signature condition.
    pub enum SinglesigHashMode {
        /// Pay to public-key hash.
        P2PKH = 0x00,
        /// Pay to witness public-key hash (compressed keys only).
        P2WPKH = 0x02,
    }
);

define_u8_enum!(
    /// Hash modes of a legacy (ordered) multisig condition.
    pub enum MultisigHashMode {
        /// Pay to script hash.
        P2SH = 0x01,
        /// Pay to witness script hash (compressed keys only).
        P2WSH = 0x03,
    }
);

define_u8_enum!(
    /// Hash modes of an order-independent multisig condition.
    pub enum OrderIndependentMultisigHashMode {
        /// Pay to script hash.
        P2SH = 0x05,
        /// Pay to witness script hash (compressed keys only).
        P2WSH = 0x07,
    }
);

impl SinglesigHashMode {
    /// The address hash mode this condition's signer hash is built with.
    pub fn to_address_hash_mode(&self) -> AddressHashMode {
        match self {
            SinglesigHashMode::P2PKH => AddressHashMode::SerializeP2PKH,
            SinglesigHashMode::P2WPKH => AddressHashMode::SerializeP2WPKH,
        }
    }
}

impl MultisigHashMode {
    /// The address hash mode this condition's signer hash is built with.
    pub fn to_address_hash_mode(&self) -> AddressHashMode {
        match self {
            MultisigHashMode::P2SH => AddressHashMode::SerializeP2SH,
            MultisigHashMode::P2WSH => AddressHashMode::SerializeP2WSH,
        }
    }
}

impl OrderIndependentMultisigHashMode {
    /// The address hash mode this condition's signer hash is built with.
    pub fn to_address_hash_mode(&self) -> AddressHashMode {
        match self {
            OrderIndependentMultisigHashMode::P2SH => AddressHashMode::SerializeP2SH,
            OrderIndependentMultisigHashMode::P2WSH => AddressHashMode::SerializeP2WSH,
        }
    }
}

/// One entry of a multisig condition: a signer's public key (a key that did not sign) or a
/// signature (from which the key is recovered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionAuthField {
    /// A public key; its compression flag is carried by the field id.
    PublicKey(StacksPublicKey),
    /// A signature and the form its key is hashed in.
    Signature(TransactionPublicKeyEncoding, MessageSignature),
}

impl TransactionAuthField {
    /// Whether this is a public-key field.
    pub fn is_public_key(&self) -> bool {
        matches!(self, TransactionAuthField::PublicKey(_))
    }

    /// Whether this is a signature field.
    pub fn is_signature(&self) -> bool {
        matches!(self, TransactionAuthField::Signature(..))
    }

    /// Whether the field's key is used uncompressed.
    fn is_uncompressed(&self) -> bool {
        match self {
            TransactionAuthField::PublicKey(pk) => !pk.compressed(),
            TransactionAuthField::Signature(encoding, _) => {
                *encoding == TransactionPublicKeyEncoding::Uncompressed
            }
        }
    }
}

impl StacksMessageCodec for TransactionAuthField {
    const ALLOC_GUARD_SIZE: u64 = 66;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            TransactionAuthField::PublicKey(pk) => {
                let id = if pk.compressed() {
                    TransactionAuthFieldID::PublicKeyCompressed
                } else {
                    TransactionAuthFieldID::PublicKeyUncompressed
                };
                write_next(fd, &id.to_u8())?;
                fd.write_all(&pk.to_bytes_compressed())
                    .map_err(CodecError::WriteError)
            }
            TransactionAuthField::Signature(encoding, sig) => {
                let id = match encoding {
                    TransactionPublicKeyEncoding::Compressed => {
                        TransactionAuthFieldID::SignatureCompressed
                    }
                    TransactionPublicKeyEncoding::Uncompressed => {
                        TransactionAuthFieldID::SignatureUncompressed
                    }
                };
                write_next(fd, &id.to_u8())?;
                write_next(fd, sig)
            }
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let id: u8 = read_next(fd)?;
        let read_key = |fd: &mut R, compressed: bool| -> Result<Self, CodecError> {
            let bytes: [u8; 33] = read_array(fd)?;
            let mut pk = StacksPublicKey::from_slice(&bytes)
                .map_err(|e| CodecError::DeserializeError(e.to_string()))?;
            pk.set_compressed(compressed);
            Ok(TransactionAuthField::PublicKey(pk))
        };
        match TransactionAuthFieldID::from_u8(id) {
            Some(TransactionAuthFieldID::PublicKeyCompressed) => read_key(fd, true),
            Some(TransactionAuthFieldID::PublicKeyUncompressed) => read_key(fd, false),
            Some(TransactionAuthFieldID::SignatureCompressed) => {
                Ok(TransactionAuthField::Signature(
                    TransactionPublicKeyEncoding::Compressed,
                    read_next(fd)?,
                ))
            }
            Some(TransactionAuthFieldID::SignatureUncompressed) => {
                Ok(TransactionAuthField::Signature(
                    TransactionPublicKeyEncoding::Uncompressed,
                    read_next(fd)?,
                ))
            }
            None => Err(CodecError::DeserializeError(format!(
                "Failed to parse auth field: unknown auth field ID {id}"
            ))),
        }
    }
}

/// A condition signed by one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinglesigSpendingCondition {
    /// How the signer hash is derived from the key.
    pub hash_mode: SinglesigHashMode,
    /// Hash of the signer's key.
    pub signer: Hash160,
    /// The account nonce.
    pub nonce: u64,
    /// The fee offered (microSTX).
    pub tx_fee: u64,
    /// The form the key is hashed in.
    pub key_encoding: TransactionPublicKeyEncoding,
    /// The signature (all zeros while unsigned).
    pub signature: MessageSignature,
}

/// A legacy multisig condition: signatures chain in field order and exactly
/// `signatures_required` of them are present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultisigSpendingCondition {
    /// How the signer hash is derived from the keys.
    pub hash_mode: MultisigHashMode,
    /// Hash of the signers' multisig script.
    pub signer: Hash160,
    /// The account nonce.
    pub nonce: u64,
    /// The fee offered (microSTX).
    pub tx_fee: u64,
    /// One field per key, in script order.
    pub fields: Vec<TransactionAuthField>,
    /// The number of signatures the script requires.
    pub signatures_required: u16,
}

/// An order-independent multisig condition: every signature signs the same hash and at least
/// `signatures_required` of them are present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIndependentMultisigSpendingCondition {
    /// How the signer hash is derived from the keys.
    pub hash_mode: OrderIndependentMultisigHashMode,
    /// Hash of the signers' multisig script.
    pub signer: Hash160,
    /// The account nonce.
    pub nonce: u64,
    /// The fee offered (microSTX).
    pub tx_fee: u64,
    /// One field per key, in script order.
    pub fields: Vec<TransactionAuthField>,
    /// The number of signatures the script requires.
    pub signatures_required: u16,
}

/// Who authorizes (and pays for) a transaction, and their signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionSpendingCondition {
    /// One key.
    Singlesig(SinglesigSpendingCondition),
    /// Legacy ordered multisig.
    Multisig(MultisigSpendingCondition),
    /// Order-independent multisig.
    OrderIndependentMultisig(OrderIndependentMultisigSpendingCondition),
}

/// The authorization of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionAuth {
    /// The origin authorizes and pays.
    Standard(TransactionSpendingCondition),
    /// The origin authorizes; the second condition (the sponsor) pays.
    Sponsored(TransactionSpendingCondition, TransactionSpendingCondition),
}

impl StacksMessageCodec for SinglesigSpendingCondition {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.hash_mode.to_u8())?;
        write_next(fd, &self.signer)?;
        write_next(fd, &self.nonce)?;
        write_next(fd, &self.tx_fee)?;
        write_next(fd, &self.key_encoding.to_u8())?;
        write_next(fd, &self.signature)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let mode: u8 = read_next(fd)?;
        let hash_mode = SinglesigHashMode::from_u8(mode).ok_or_else(|| {
            CodecError::DeserializeError(format!(
                "Failed to parse singlesig spending condition: unknown hash mode {mode}"
            ))
        })?;
        let signer = read_next(fd)?;
        let nonce = read_next(fd)?;
        let tx_fee = read_next(fd)?;
        let encoding: u8 = read_next(fd)?;
        let key_encoding = TransactionPublicKeyEncoding::from_u8(encoding).ok_or_else(|| {
            CodecError::DeserializeError(format!(
                "Failed to parse singlesig spending condition: unknown key encoding {encoding}"
            ))
        })?;
        let signature = read_next(fd)?;
        if hash_mode == SinglesigHashMode::P2WPKH
            && key_encoding != TransactionPublicKeyEncoding::Compressed
        {
            return Err(CodecError::DeserializeError(
                "Failed to parse singlesig spending condition: incompatible hash mode and key encoding"
                    .to_string(),
            ));
        }
        Ok(SinglesigSpendingCondition {
            hash_mode,
            signer,
            nonce,
            tx_fee,
            key_encoding,
            signature,
        })
    }
}

/// The body both multisig kinds share, after the hash mode byte.
struct MultisigBody {
    signer: Hash160,
    nonce: u64,
    tx_fee: u64,
    fields: Vec<TransactionAuthField>,
    signatures_required: u16,
}

impl MultisigBody {
    /// Reads the body and checks the signature count (`exact` for legacy multisig, at least
    /// the required number otherwise) and, for witness modes, that no key is uncompressed.
    fn read<R: Read>(fd: &mut R, exact: bool, witness: bool) -> Result<Self, CodecError> {
        let signer = read_next(fd)?;
        let nonce = read_next(fd)?;
        let tx_fee = read_next(fd)?;
        let fields: Vec<TransactionAuthField> = {
            let mut bounded = BoundReader::from_reader(fd, u64::from(MAX_MESSAGE_LEN));
            read_next(&mut bounded)?
        };
        let signatures_required: u16 = read_next(fd)?;
        let signatures = fields.iter().filter(|f| f.is_signature()).count();
        if signatures > usize::from(u16::MAX) {
            return Err(CodecError::DeserializeError(
                "Failed to parse multisig spending condition: too many signatures".to_string(),
            ));
        }
        let count_ok = if exact {
            signatures == usize::from(signatures_required)
        } else {
            signatures >= usize::from(signatures_required)
        };
        if !count_ok {
            return Err(CodecError::DeserializeError(format!(
                "Failed to parse multisig spending condition: got {signatures} sigs, expected {}{signatures_required}",
                if exact { "" } else { "at least " }
            )));
        }
        if witness && fields.iter().any(TransactionAuthField::is_uncompressed) {
            return Err(CodecError::DeserializeError(
                "Failed to parse multisig spending condition: expected compressed keys only"
                    .to_string(),
            ));
        }
        Ok(MultisigBody {
            signer,
            nonce,
            tx_fee,
            fields,
            signatures_required,
        })
    }
}

fn write_multisig<W: Write>(
    fd: &mut W,
    mode: u8,
    signer: &Hash160,
    nonce: u64,
    tx_fee: u64,
    fields: &Vec<TransactionAuthField>,
    signatures_required: u16,
) -> Result<(), CodecError> {
    write_next(fd, &mode)?;
    write_next(fd, signer)?;
    write_next(fd, &nonce)?;
    write_next(fd, &tx_fee)?;
    write_next(fd, fields)?;
    write_next(fd, &signatures_required)
}

fn unknown_mode(what: &str, mode: u8) -> CodecError {
    CodecError::DeserializeError(format!(
        "Failed to parse {what} spending condition: unknown hash mode {mode}"
    ))
}

impl StacksMessageCodec for MultisigSpendingCondition {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_multisig(
            fd,
            self.hash_mode.to_u8(),
            &self.signer,
            self.nonce,
            self.tx_fee,
            &self.fields,
            self.signatures_required,
        )
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let mode: u8 = read_next(fd)?;
        let hash_mode =
            MultisigHashMode::from_u8(mode).ok_or_else(|| unknown_mode("multisig", mode))?;
        let body = MultisigBody::read(fd, true, hash_mode == MultisigHashMode::P2WSH)?;
        Ok(MultisigSpendingCondition {
            hash_mode,
            signer: body.signer,
            nonce: body.nonce,
            tx_fee: body.tx_fee,
            fields: body.fields,
            signatures_required: body.signatures_required,
        })
    }
}

impl StacksMessageCodec for OrderIndependentMultisigSpendingCondition {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_multisig(
            fd,
            self.hash_mode.to_u8(),
            &self.signer,
            self.nonce,
            self.tx_fee,
            &self.fields,
            self.signatures_required,
        )
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let mode: u8 = read_next(fd)?;
        let hash_mode = OrderIndependentMultisigHashMode::from_u8(mode)
            .ok_or_else(|| unknown_mode("order independent multisig", mode))?;
        let body = MultisigBody::read(
            fd,
            false,
            hash_mode == OrderIndependentMultisigHashMode::P2WSH,
        )?;
        Ok(OrderIndependentMultisigSpendingCondition {
            hash_mode,
            signer: body.signer,
            nonce: body.nonce,
            tx_fee: body.tx_fee,
            fields: body.fields,
            signatures_required: body.signatures_required,
        })
    }
}

impl StacksMessageCodec for TransactionSpendingCondition {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.consensus_serialize(fd),
            TransactionSpendingCondition::Multisig(c) => c.consensus_serialize(fd),
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.consensus_serialize(fd),
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let mode: u8 = read_next(fd)?;
        let peeked = [mode];
        let mut fd = (&peeked[..]).chain(fd);
        if SinglesigHashMode::from_u8(mode).is_some() {
            read_next(&mut fd).map(TransactionSpendingCondition::Singlesig)
        } else if MultisigHashMode::from_u8(mode).is_some() {
            read_next(&mut fd).map(TransactionSpendingCondition::Multisig)
        } else if OrderIndependentMultisigHashMode::from_u8(mode).is_some() {
            read_next(&mut fd).map(TransactionSpendingCondition::OrderIndependentMultisig)
        } else {
            Err(CodecError::DeserializeError(format!(
                "Failed to parse spending condition: invalid hash mode {mode}"
            )))
        }
    }
}

impl StacksMessageCodec for TransactionAuth {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            TransactionAuth::Standard(origin) => {
                write_next(fd, &TransactionAuthFlags::AuthStandard.to_u8())?;
                write_next(fd, origin)
            }
            TransactionAuth::Sponsored(origin, sponsor) => {
                write_next(fd, &TransactionAuthFlags::AuthSponsored.to_u8())?;
                write_next(fd, origin)?;
                write_next(fd, sponsor)
            }
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let flag: u8 = read_next(fd)?;
        match TransactionAuthFlags::from_u8(flag) {
            Some(TransactionAuthFlags::AuthStandard) => {
                Ok(TransactionAuth::Standard(read_next(fd)?))
            }
            Some(TransactionAuthFlags::AuthSponsored) => {
                let origin = read_next(fd)?;
                let sponsor = read_next(fd)?;
                Ok(TransactionAuth::Sponsored(origin, sponsor))
            }
            None => Err(CodecError::DeserializeError(format!(
                "Failed to parse transaction authorization: unrecognized auth flags {flag}"
            ))),
        }
    }
}

fn verifying(msg: impl Into<String>) -> TransactionAuthError {
    TransactionAuthError::VerifyingError(msg.into())
}

/// Rebuilds the signer hash from the keys of a condition and compares it with `signer`.
fn check_signer(
    signer: &Hash160,
    mode: AddressHashMode,
    num_sigs: u16,
    keys: &[StacksPublicKey],
) -> Result<(), TransactionAuthError> {
    let addr = StacksAddress::from_public_keys(0, mode, usize::from(num_sigs), keys)
        .ok_or_else(|| verifying("Failed to generate address from public keys"))?;
    if addr.bytes() != signer {
        return Err(verifying(format!(
            "Signer hash does not equal hash of public key(s): {} != {signer}",
            addr.bytes()
        )));
    }
    Ok(())
}

impl SinglesigSpendingCondition {
    /// The account address: version 22/26 for P2PKH, 20/21 for P2WPKH (as the reference).
    pub fn address(&self, mainnet: bool) -> StacksAddress {
        let version = match (self.hash_mode, mainnet) {
            (SinglesigHashMode::P2PKH, true) => C32_ADDRESS_VERSION_MAINNET_SINGLESIG,
            (SinglesigHashMode::P2PKH, false) => C32_ADDRESS_VERSION_TESTNET_SINGLESIG,
            (SinglesigHashMode::P2WPKH, true) => C32_ADDRESS_VERSION_MAINNET_MULTISIG,
            (SinglesigHashMode::P2WPKH, false) => C32_ADDRESS_VERSION_TESTNET_MULTISIG,
        };
        address_of(version, self.signer)
    }

    /// Verifies the signature against the chain at `initial_sighash`; returns the next sighash.
    pub fn verify(
        &self,
        initial_sighash: &Txid,
        flag: TransactionAuthFlags,
    ) -> Result<Txid, TransactionAuthError> {
        let (key, next) = TransactionSpendingCondition::next_verification(
            initial_sighash,
            flag,
            self.tx_fee,
            self.nonce,
            self.key_encoding,
            &self.signature,
        )?;
        check_signer(
            &self.signer,
            self.hash_mode.to_address_hash_mode(),
            1,
            &[key],
        )?;
        Ok(next)
    }
}

fn address_of(version: u8, signer: Hash160) -> StacksAddress {
    // The versions used here are all below 32, so this never falls back.
    StacksAddress::new(version, signer).unwrap_or_else(|_| StacksAddress::burn_address(true))
}

fn multisig_address(signer: Hash160, mainnet: bool) -> StacksAddress {
    let version = if mainnet {
        C32_ADDRESS_VERSION_MAINNET_MULTISIG
    } else {
        C32_ADDRESS_VERSION_TESTNET_MULTISIG
    };
    address_of(version, signer)
}

/// Recovers every key of a multisig condition. `chained` selects the legacy rule (each
/// signature moves the chain on) over the order-independent one. Returns the keys, the
/// number of signatures, whether any key is uncompressed, and the final sighash.
fn recover_multisig_keys(
    fields: &[TransactionAuthField],
    initial_sighash: &Txid,
    flag: TransactionAuthFlags,
    tx_fee: u64,
    nonce: u64,
    chained: bool,
) -> Result<(Vec<StacksPublicKey>, u16, bool, Txid), TransactionAuthError> {
    let mut keys = Vec::with_capacity(fields.len());
    let mut cur = *initial_sighash;
    let mut num_sigs: u16 = 0;
    let mut have_uncompressed = false;
    for field in fields {
        have_uncompressed |= field.is_uncompressed();
        let key = match field {
            TransactionAuthField::PublicKey(pk) => *pk,
            TransactionAuthField::Signature(encoding, sig) => {
                let start = if chained { cur } else { *initial_sighash };
                let (key, next) = TransactionSpendingCondition::next_verification(
                    &start, flag, tx_fee, nonce, *encoding, sig,
                )?;
                if chained {
                    cur = next;
                }
                num_sigs = num_sigs
                    .checked_add(1)
                    .ok_or_else(|| verifying("Too many signatures"))?;
                key
            }
        };
        keys.push(key);
    }
    Ok((keys, num_sigs, have_uncompressed, cur))
}

impl MultisigSpendingCondition {
    /// The account address (version 20 mainnet, 21 testnet).
    pub fn address(&self, mainnet: bool) -> StacksAddress {
        multisig_address(self.signer, mainnet)
    }

    /// Verifies every signature in field order; returns the sighash after the last one.
    pub fn verify(
        &self,
        initial_sighash: &Txid,
        flag: TransactionAuthFlags,
    ) -> Result<Txid, TransactionAuthError> {
        let (keys, num_sigs, have_uncompressed, cur) = recover_multisig_keys(
            &self.fields,
            initial_sighash,
            flag,
            self.tx_fee,
            self.nonce,
            true,
        )?;
        if num_sigs != self.signatures_required {
            return Err(verifying("Incorrect number of signatures"));
        }
        if have_uncompressed && self.hash_mode == MultisigHashMode::P2WSH {
            return Err(verifying(
                "Uncompressed keys are not allowed in this hash mode",
            ));
        }
        check_signer(
            &self.signer,
            self.hash_mode.to_address_hash_mode(),
            self.signatures_required,
            &keys,
        )?;
        Ok(cur)
    }
}

impl OrderIndependentMultisigSpendingCondition {
    /// The account address (version 20 mainnet, 21 testnet).
    pub fn address(&self, mainnet: bool) -> StacksAddress {
        multisig_address(self.signer, mainnet)
    }

    /// Verifies every signature against the same presign hash; returns `initial_sighash`
    /// unchanged.
    pub fn verify(
        &self,
        initial_sighash: &Txid,
        flag: TransactionAuthFlags,
    ) -> Result<Txid, TransactionAuthError> {
        let (keys, num_sigs, have_uncompressed, _) = recover_multisig_keys(
            &self.fields,
            initial_sighash,
            flag,
            self.tx_fee,
            self.nonce,
            false,
        )?;
        if num_sigs < self.signatures_required {
            return Err(verifying(format!(
                "Not enough signatures. Got {num_sigs}, expected at least {}",
                self.signatures_required
            )));
        }
        if have_uncompressed && self.hash_mode == OrderIndependentMultisigHashMode::P2WSH {
            return Err(verifying(
                "Uncompressed keys are not allowed in this hash mode",
            ));
        }
        check_signer(
            &self.signer,
            self.hash_mode.to_address_hash_mode(),
            self.signatures_required,
            &keys,
        )?;
        Ok(*initial_sighash)
    }
}

impl TransactionSpendingCondition {
    /// A P2PKH condition for `key` (nonce and fee 0, unsigned); the key's compression flag
    /// selects the key encoding.
    pub fn new_singlesig_p2pkh(key: StacksPublicKey) -> Option<Self> {
        let signer =
            StacksAddress::from_public_keys(0, AddressHashMode::SerializeP2PKH, 1, &[key])?;
        Some(TransactionSpendingCondition::Singlesig(
            SinglesigSpendingCondition {
                hash_mode: SinglesigHashMode::P2PKH,
                signer: *signer.bytes(),
                nonce: 0,
                tx_fee: 0,
                key_encoding: TransactionPublicKeyEncoding::of_key(key.compressed()),
                signature: MessageSignature::empty(),
            },
        ))
    }

    /// A P2WPKH condition for `key` (which must be compressed).
    pub fn new_singlesig_p2wpkh(key: StacksPublicKey) -> Option<Self> {
        let signer =
            StacksAddress::from_public_keys(0, AddressHashMode::SerializeP2WPKH, 1, &[key])?;
        Some(TransactionSpendingCondition::Singlesig(
            SinglesigSpendingCondition {
                hash_mode: SinglesigHashMode::P2WPKH,
                signer: *signer.bytes(),
                nonce: 0,
                tx_fee: 0,
                key_encoding: TransactionPublicKeyEncoding::Compressed,
                signature: MessageSignature::empty(),
            },
        ))
    }

    /// A legacy multisig condition over `keys` (no fields yet).
    pub fn new_multisig(
        hash_mode: MultisigHashMode,
        num_sigs: u16,
        keys: &[StacksPublicKey],
    ) -> Option<Self> {
        let signer = StacksAddress::from_public_keys(
            0,
            hash_mode.to_address_hash_mode(),
            usize::from(num_sigs),
            keys,
        )?;
        Some(TransactionSpendingCondition::Multisig(
            MultisigSpendingCondition {
                hash_mode,
                signer: *signer.bytes(),
                nonce: 0,
                tx_fee: 0,
                fields: Vec::new(),
                signatures_required: num_sigs,
            },
        ))
    }

    /// An order-independent multisig condition over `keys` (no fields yet).
    pub fn new_order_independent_multisig(
        hash_mode: OrderIndependentMultisigHashMode,
        num_sigs: u16,
        keys: &[StacksPublicKey],
    ) -> Option<Self> {
        let signer = StacksAddress::from_public_keys(
            0,
            hash_mode.to_address_hash_mode(),
            usize::from(num_sigs),
            keys,
        )?;
        Some(TransactionSpendingCondition::OrderIndependentMultisig(
            OrderIndependentMultisigSpendingCondition {
                hash_mode,
                signer: *signer.bytes(),
                nonce: 0,
                tx_fee: 0,
                fields: Vec::new(),
                signatures_required: num_sigs,
            },
        ))
    }

    /// The sentinel sponsor an origin commits to while signing a sponsored transaction:
    /// P2PKH, zero signer, nonce and fee 0, compressed, empty signature.
    pub fn new_initial_sighash() -> Self {
        TransactionSpendingCondition::Singlesig(SinglesigSpendingCondition {
            hash_mode: SinglesigHashMode::P2PKH,
            signer: Hash160::zero(),
            nonce: 0,
            tx_fee: 0,
            key_encoding: TransactionPublicKeyEncoding::Compressed,
            signature: MessageSignature::empty(),
        })
    }

    /// The account nonce.
    pub fn nonce(&self) -> u64 {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.nonce,
            TransactionSpendingCondition::Multisig(c) => c.nonce,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.nonce,
        }
    }

    /// The fee offered.
    pub fn tx_fee(&self) -> u64 {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.tx_fee,
            TransactionSpendingCondition::Multisig(c) => c.tx_fee,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.tx_fee,
        }
    }

    /// Sets the account nonce.
    pub fn set_nonce(&mut self, nonce: u64) {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.nonce = nonce,
            TransactionSpendingCondition::Multisig(c) => c.nonce = nonce,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.nonce = nonce,
        }
    }

    /// Sets the fee offered.
    pub fn set_tx_fee(&mut self, tx_fee: u64) {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.tx_fee = tx_fee,
            TransactionSpendingCondition::Multisig(c) => c.tx_fee = tx_fee,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.tx_fee = tx_fee,
        }
    }

    /// The signer hash.
    pub fn signer(&self) -> &Hash160 {
        match self {
            TransactionSpendingCondition::Singlesig(c) => &c.signer,
            TransactionSpendingCondition::Multisig(c) => &c.signer,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => &c.signer,
        }
    }

    /// How many signatures the condition holds (a singlesig holds one unless it is empty).
    pub fn num_signatures(&self) -> usize {
        match self {
            TransactionSpendingCondition::Singlesig(c) => usize::from(!c.signature.is_empty()),
            TransactionSpendingCondition::Multisig(c) => {
                c.fields.iter().filter(|f| f.is_signature()).count()
            }
            TransactionSpendingCondition::OrderIndependentMultisig(c) => {
                c.fields.iter().filter(|f| f.is_signature()).count()
            }
        }
    }

    /// How many signatures the condition needs.
    pub fn signatures_required(&self) -> u16 {
        match self {
            TransactionSpendingCondition::Singlesig(_) => 1,
            TransactionSpendingCondition::Multisig(c) => c.signatures_required,
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.signatures_required,
        }
    }

    /// The account address on mainnet or testnet.
    pub fn address(&self, mainnet: bool) -> StacksAddress {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.address(mainnet),
            TransactionSpendingCondition::Multisig(c) => c.address(mainnet),
            TransactionSpendingCondition::OrderIndependentMultisig(c) => c.address(mainnet),
        }
    }

    /// The mainnet account address.
    pub fn address_mainnet(&self) -> StacksAddress {
        self.address(true)
    }

    /// The testnet account address.
    pub fn address_testnet(&self) -> StacksAddress {
        self.address(false)
    }

    /// Zeroes the nonce and fee and removes the signature or every auth field.
    pub fn clear(&mut self) {
        match self {
            TransactionSpendingCondition::Singlesig(c) => {
                c.nonce = 0;
                c.tx_fee = 0;
                c.signature = MessageSignature::empty();
            }
            TransactionSpendingCondition::Multisig(c) => {
                c.nonce = 0;
                c.tx_fee = 0;
                c.fields.clear();
            }
            TransactionSpendingCondition::OrderIndependentMultisig(c) => {
                c.nonce = 0;
                c.tx_fee = 0;
                c.fields.clear();
            }
        }
    }

    /// `SHA512/256(cur || flag || tx_fee || nonce)`: the hash the next signer signs.
    pub fn make_sighash_presign(
        cur_sighash: &Txid,
        flag: TransactionAuthFlags,
        tx_fee: u64,
        nonce: u64,
    ) -> Txid {
        Txid(
            Sha512Trunc256Sum::from_parts(&[
                &cur_sighash.0,
                &[flag.to_u8()],
                &tx_fee.to_be_bytes(),
                &nonce.to_be_bytes(),
            ])
            .0,
        )
    }

    /// `SHA512/256(presign || key_encoding || signature)`: where the chain goes next.
    pub fn make_sighash_postsign(
        presign: &Txid,
        key_encoding: TransactionPublicKeyEncoding,
        signature: &MessageSignature,
    ) -> Txid {
        Txid(Sha512Trunc256Sum::from_parts(&[&presign.0, &[key_encoding.to_u8()], &signature.0]).0)
    }

    /// Signs the next link of the chain with `private_key`; returns the signature and the
    /// next sighash.
    pub fn next_signature(
        cur_sighash: &Txid,
        flag: TransactionAuthFlags,
        tx_fee: u64,
        nonce: u64,
        private_key: &StacksPrivateKey,
    ) -> Result<(MessageSignature, Txid), TransactionAuthError> {
        let presign = Self::make_sighash_presign(cur_sighash, flag, tx_fee, nonce);
        let sig = private_key
            .sign(&presign.0)
            .map_err(|e| TransactionAuthError::SigningError(e.to_string()))?;
        let encoding = TransactionPublicKeyEncoding::of_key(private_key.compress_public());
        let next = Self::make_sighash_postsign(&presign, encoding, &sig);
        Ok((sig, next))
    }

    /// Recovers the key behind the next link of the chain; returns it (with the compression
    /// flag `key_encoding` selects) and the next sighash.
    pub fn next_verification(
        cur_sighash: &Txid,
        flag: TransactionAuthFlags,
        tx_fee: u64,
        nonce: u64,
        key_encoding: TransactionPublicKeyEncoding,
        signature: &MessageSignature,
    ) -> Result<(StacksPublicKey, Txid), TransactionAuthError> {
        let presign = Self::make_sighash_presign(cur_sighash, flag, tx_fee, nonce);
        let mut key = StacksPublicKey::recover_to_pubkey(&presign.0, signature)
            .map_err(|e| verifying(e.to_string()))?;
        key.set_compressed(key_encoding == TransactionPublicKeyEncoding::Compressed);
        let next = Self::make_sighash_postsign(&presign, key_encoding, signature);
        Ok((key, next))
    }

    /// Verifies the condition's signatures from `initial_sighash`; returns the sighash the
    /// next condition starts from.
    pub fn verify(
        &self,
        initial_sighash: &Txid,
        flag: TransactionAuthFlags,
    ) -> Result<Txid, TransactionAuthError> {
        match self {
            TransactionSpendingCondition::Singlesig(c) => c.verify(initial_sighash, flag),
            TransactionSpendingCondition::Multisig(c) => c.verify(initial_sighash, flag),
            TransactionSpendingCondition::OrderIndependentMultisig(c) => {
                c.verify(initial_sighash, flag)
            }
        }
    }
}

impl TransactionAuth {
    /// Whether a sponsor pays.
    pub fn is_sponsored(&self) -> bool {
        matches!(self, TransactionAuth::Sponsored(..))
    }

    /// The origin's condition.
    pub fn origin(&self) -> &TransactionSpendingCondition {
        match self {
            TransactionAuth::Standard(origin) | TransactionAuth::Sponsored(origin, _) => origin,
        }
    }

    /// The sponsor's condition, if sponsored.
    pub fn sponsor(&self) -> Option<&TransactionSpendingCondition> {
        match self {
            TransactionAuth::Standard(_) => None,
            TransactionAuth::Sponsored(_, sponsor) => Some(sponsor),
        }
    }

    /// The fee of the paying condition (the sponsor's when sponsored).
    pub fn get_tx_fee(&self) -> u64 {
        self.sponsor().unwrap_or(self.origin()).tx_fee()
    }

    /// Sets the fee of the paying condition.
    pub fn set_tx_fee(&mut self, tx_fee: u64) {
        match self {
            TransactionAuth::Standard(c) | TransactionAuth::Sponsored(_, c) => c.set_tx_fee(tx_fee),
        }
    }

    /// The origin's nonce.
    pub fn get_origin_nonce(&self) -> u64 {
        self.origin().nonce()
    }

    /// The sponsor's nonce, if sponsored.
    pub fn get_sponsor_nonce(&self) -> Option<u64> {
        self.sponsor().map(TransactionSpendingCondition::nonce)
    }

    /// The authorization the signature chain starts from: the origin cleared and, when
    /// sponsored, the sponsor replaced by [`TransactionSpendingCondition::new_initial_sighash`].
    pub fn into_initial_sighash_auth(self) -> TransactionAuth {
        match self {
            TransactionAuth::Standard(mut origin) => {
                origin.clear();
                TransactionAuth::Standard(origin)
            }
            TransactionAuth::Sponsored(mut origin, _) => {
                origin.clear();
                TransactionAuth::Sponsored(
                    origin,
                    TransactionSpendingCondition::new_initial_sighash(),
                )
            }
        }
    }

    /// Verifies the origin's signatures; returns the sighash a sponsor continues from.
    pub fn verify_origin(&self, initial_sighash: &Txid) -> Result<Txid, TransactionAuthError> {
        self.origin()
            .verify(initial_sighash, TransactionAuthFlags::AuthStandard)
    }

    /// Verifies the origin's and (if sponsored) the sponsor's signatures.
    pub fn verify(&self, initial_sighash: &Txid) -> Result<(), TransactionAuthError> {
        let origin_sighash = self.verify_origin(initial_sighash)?;
        if let Some(sponsor) = self.sponsor() {
            sponsor.verify(&origin_sighash, TransactionAuthFlags::AuthSponsored)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> StacksPrivateKey {
        StacksPrivateKey::from_seed(&[seed; 32])
    }

    #[test]
    fn uncompressed_public_key_field_writes_compressed_bytes() {
        let mut pk = StacksPublicKey::from_private(&key(1));
        pk.set_compressed(false);
        let bytes = TransactionAuthField::PublicKey(pk).serialize_to_vec();
        assert_eq!(bytes.len(), 34);
        assert_eq!(bytes[0], 0x01);
        let back = TransactionAuthField::consensus_deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(back, TransactionAuthField::PublicKey(pk));
    }

    #[test]
    fn unknown_auth_field_id_is_refused() {
        let mut bytes = vec![0x04];
        bytes.extend_from_slice(&[0u8; 65]);
        assert!(TransactionAuthField::consensus_deserialize(&mut &bytes[..]).is_err());
    }

    #[test]
    fn p2wpkh_with_uncompressed_encoding_is_refused() {
        let cond = SinglesigSpendingCondition {
            hash_mode: SinglesigHashMode::P2WPKH,
            signer: Hash160([3; 20]),
            nonce: 1,
            tx_fee: 2,
            key_encoding: TransactionPublicKeyEncoding::Uncompressed,
            signature: MessageSignature::empty(),
        };
        let bytes = cond.serialize_to_vec();
        assert!(TransactionSpendingCondition::consensus_deserialize(&mut &bytes[..]).is_err());
    }

    #[test]
    fn legacy_multisig_needs_exact_signature_count_but_order_independent_at_least() {
        let sig = TransactionAuthField::Signature(
            TransactionPublicKeyEncoding::Compressed,
            MessageSignature([1; 65]),
        );
        let legacy = MultisigSpendingCondition {
            hash_mode: MultisigHashMode::P2SH,
            signer: Hash160([0; 20]),
            nonce: 0,
            tx_fee: 0,
            fields: vec![sig.clone(), sig.clone()],
            signatures_required: 1,
        };
        let bytes = legacy.serialize_to_vec();
        assert!(TransactionSpendingCondition::consensus_deserialize(&mut &bytes[..]).is_err());
        let oi = OrderIndependentMultisigSpendingCondition {
            hash_mode: OrderIndependentMultisigHashMode::P2SH,
            signer: Hash160([0; 20]),
            nonce: 0,
            tx_fee: 0,
            fields: vec![sig.clone(), sig],
            signatures_required: 1,
        };
        let bytes = oi.serialize_to_vec();
        let back = TransactionSpendingCondition::consensus_deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(
            back,
            TransactionSpendingCondition::OrderIndependentMultisig(oi)
        );
    }

    #[test]
    fn singlesig_signature_verifies_through_the_chain() {
        let sk = key(7);
        let pk = StacksPublicKey::from_private(&sk);
        let mut cond = TransactionSpendingCondition::new_singlesig_p2pkh(pk).unwrap();
        cond.set_nonce(5);
        cond.set_tx_fee(300);
        let start = Txid([9; 32]);
        let (sig, next) = TransactionSpendingCondition::next_signature(
            &start,
            TransactionAuthFlags::AuthStandard,
            300,
            5,
            &sk,
        )
        .unwrap();
        if let TransactionSpendingCondition::Singlesig(c) = &mut cond {
            c.signature = sig;
        }
        assert_eq!(
            cond.verify(&start, TransactionAuthFlags::AuthStandard)
                .unwrap(),
            next
        );
        assert!(cond
            .verify(&start, TransactionAuthFlags::AuthSponsored)
            .is_err());
    }
}
