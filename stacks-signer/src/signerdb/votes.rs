//! Signers' votes on blocks as this signer observed them: signatures, rejections (by reason
//! code) and pre-commits. A signer's signature supersedes its rejection, never the reverse.

use super::engine::{sql_params, Sql};
use libsigner::chain::{MessageSignature, Sha512Trunc256Sum, StacksAddress};
use libsigner::v0::messages::{RejectReason, RejectReasonPrefix};

use super::sql::Cols;
use super::{SignerDb, SignerDbError};

impl SignerDb {
    /// Records `signer`'s signature on the block; the first signature of each signer wins.
    /// Removes that signer's rejection of the block, if any. Returns whether the signature
    /// was new.
    pub fn add_block_signature(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        signer: &StacksAddress,
        signature: &MessageSignature,
    ) -> Result<bool, SignerDbError> {
        self.write(|tx| add_signature(tx, signer_signature_hash, signer, signature))
    }

    /// The signatures recorded for the block, ordered by signer address text.
    pub fn get_block_signatures(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Vec<MessageSignature>, SignerDbError> {
        self.sql().rows(
            "SELECT signature FROM block_signatures WHERE signer_signature_hash = ?1 \
             ORDER BY signer_addr",
            sql_params![signer_signature_hash.as_bytes()],
            |row| {
                let bytes = Cols::new(row, "block_signatures").array::<65>(0, "signature")?;
                Ok(MessageSignature(bytes))
            },
        )
    }

    /// The signers and signatures recorded for the block, ordered by signer address text.
    pub fn get_block_signers_and_signatures(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Vec<(StacksAddress, MessageSignature)>, SignerDbError> {
        self.sql().rows(
            "SELECT signer_addr, signature FROM block_signatures \
             WHERE signer_signature_hash = ?1 ORDER BY signer_addr",
            sql_params![signer_signature_hash.as_bytes()],
            |row| {
                let cols = Cols::new(row, "block_signatures");
                Ok((
                    cols.address(0, "signer_addr")?,
                    MessageSignature(cols.array::<65>(1, "signature")?),
                ))
            },
        )
    }

    /// Records that `signer` rejected the block for `reason` (stored as its
    /// [`RejectReasonPrefix`]). Refused (false) when the signer already signed the block or
    /// already rejected it with the same prefix; a different prefix replaces the old one.
    pub fn add_block_rejection_signer_addr(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        signer: &StacksAddress,
        reason: &RejectReason,
    ) -> Result<bool, SignerDbError> {
        let code = RejectReasonPrefix::from(reason).to_u8();
        self.write(|tx| add_rejection(tx, signer_signature_hash, signer, code))
    }

    /// The signers that rejected the block and the prefixes of their reasons, ordered by
    /// address text. A stored byte this version does not know reads as
    /// [`RejectReasonPrefix::Unknown`].
    pub fn get_block_rejection_signer_addrs(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Vec<(StacksAddress, RejectReasonPrefix)>, SignerDbError> {
        self.sql().rows(
            "SELECT signer_addr, reject_code FROM block_rejection_signer_addrs \
             WHERE signer_signature_hash = ?1 ORDER BY signer_addr",
            sql_params![signer_signature_hash.as_bytes()],
            |row| {
                let cols = Cols::new(row, "block_rejection_signer_addrs");
                let addr = cols.address(0, "signer_addr")?;
                let code = cols.u64(1, "reject_code")?;
                let code = u8::try_from(code).map_err(|_| {
                    SignerDbError::corrupt(
                        "block_rejection_signer_addrs",
                        "reject_code",
                        format!("{code} is not a reason code"),
                    )
                })?;
                Ok((addr, RejectReasonPrefix::from(code)))
            },
        )
    }

    /// Records `signer`'s pre-commit to the block (idempotent).
    pub fn add_block_pre_commit(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        signer: &StacksAddress,
    ) -> Result<(), SignerDbError> {
        self.sql().exec(
            "INSERT INTO block_pre_commits (signer_signature_hash, signer_addr) \
             VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            sql_params![signer_signature_hash.as_bytes(), signer.to_string()],
        )?;
        Ok(())
    }

    /// Whether `signer` pre-committed to the block.
    pub fn has_committed(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
        signer: &StacksAddress,
    ) -> Result<bool, SignerDbError> {
        self.sql().exists(
            "SELECT 1 FROM block_pre_commits WHERE signer_signature_hash = ?1 \
             AND signer_addr = ?2 LIMIT 1",
            sql_params![signer_signature_hash.as_bytes(), signer.to_string()],
        )
    }

    /// The signers that pre-committed to the block, ordered by address text.
    pub fn get_block_pre_committers(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Vec<StacksAddress>, SignerDbError> {
        self.sql().rows(
            "SELECT signer_addr FROM block_pre_commits WHERE signer_signature_hash = ?1 \
             ORDER BY signer_addr",
            sql_params![signer_signature_hash.as_bytes()],
            |row| Cols::new(row, "block_pre_commits").address(0, "signer_addr"),
        )
    }
}

pub(crate) fn add_signature(
    tx: Sql<'_>,
    signer_signature_hash: &Sha512Trunc256Sum,
    signer: &StacksAddress,
    signature: &MessageSignature,
) -> Result<bool, SignerDbError> {
    let hash = signer_signature_hash.as_bytes();
    let addr = signer.to_string();
    tx.exec(
        "DELETE FROM block_rejection_signer_addrs WHERE signer_signature_hash = ?1 \
         AND signer_addr = ?2",
        sql_params![hash, addr],
    )?;
    let added = tx.exec(
        "INSERT INTO block_signatures (signer_signature_hash, signer_addr, signature) \
         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        sql_params![hash, addr, &signature.0[..]],
    )?;
    Ok(added > 0)
}

pub(crate) fn add_rejection(
    tx: Sql<'_>,
    signer_signature_hash: &Sha512Trunc256Sum,
    signer: &StacksAddress,
    reject_code: u8,
) -> Result<bool, SignerDbError> {
    let hash = signer_signature_hash.as_bytes();
    let addr = signer.to_string();
    let signed = tx.exists(
        "SELECT 1 FROM block_signatures WHERE signer_signature_hash = ?1 AND signer_addr = ?2",
        sql_params![hash, addr],
    )?;
    if signed {
        return Ok(false);
    }
    let existing = tx
        .row(
            "SELECT reject_code FROM block_rejection_signer_addrs \
             WHERE signer_signature_hash = ?1 AND signer_addr = ?2",
            sql_params![hash, addr],
            |row| Cols::new(row, "block_rejection_signer_addrs").opt_i64(0, "reject_code"),
        )?
        .flatten();
    match existing {
        Some(code) if code == i64::from(reject_code) => Ok(false),
        Some(_) => {
            tx.exec(
                "UPDATE block_rejection_signer_addrs SET reject_code = ?1 \
                 WHERE signer_signature_hash = ?2 AND signer_addr = ?3",
                sql_params![i64::from(reject_code), hash, addr],
            )?;
            Ok(true)
        }
        None => {
            tx.exec(
                "INSERT INTO block_rejection_signer_addrs \
                 (signer_signature_hash, signer_addr, reject_code) VALUES (?1, ?2, ?3)",
                sql_params![hash, addr, i64::from(reject_code)],
            )?;
            Ok(true)
        }
    }
}
