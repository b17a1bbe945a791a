//! Signing a transaction, one key at a time, along the signature chain.

use crate::chain::transaction::{
    StacksTransaction, TransactionAuth, TransactionAuthError, TransactionAuthField,
    TransactionAuthFlags, TransactionPublicKeyEncoding, TransactionSpendingCondition,
};
use crate::chain::{StacksPrivateKey, StacksPublicKey, Txid};

/// Signs a transaction: origin keys first (in spending-condition order), then sponsor keys.
/// Keys that do not sign are appended as public keys, in their place.
#[derive(Debug, Clone)]
pub struct StacksTransactionSigner {
    tx: StacksTransaction,
    sighash: Txid,
    origin_done: bool,
    check_oversign: bool,
    check_overlap: bool,
}

fn signing(msg: &str) -> TransactionAuthError {
    TransactionAuthError::SigningError(msg.to_string())
}

/// Signs the next link for `condition` and stores the signature; returns the next sighash.
fn sign_and_append(
    condition: &mut TransactionSpendingCondition,
    cur_sighash: &Txid,
    flag: TransactionAuthFlags,
    private_key: &StacksPrivateKey,
) -> Result<Txid, TransactionAuthError> {
    let (sig, next) = TransactionSpendingCondition::next_signature(
        cur_sighash,
        flag,
        condition.tx_fee(),
        condition.nonce(),
        private_key,
    )?;
    let encoding = TransactionPublicKeyEncoding::of_key(private_key.compress_public());
    match condition {
        TransactionSpendingCondition::Singlesig(c) => {
            c.signature = sig;
            Ok(next)
        }
        TransactionSpendingCondition::Multisig(c) => {
            c.fields
                .push(TransactionAuthField::Signature(encoding, sig));
            Ok(next)
        }
        TransactionSpendingCondition::OrderIndependentMultisig(c) => {
            c.fields
                .push(TransactionAuthField::Signature(encoding, sig));
            Ok(*cur_sighash)
        }
    }
}

fn append_key(
    condition: &mut TransactionSpendingCondition,
    key: &StacksPublicKey,
) -> Result<(), TransactionAuthError> {
    match condition {
        TransactionSpendingCondition::Multisig(c) => {
            c.fields.push(TransactionAuthField::PublicKey(*key));
            Ok(())
        }
        TransactionSpendingCondition::OrderIndependentMultisig(c) => {
            c.fields.push(TransactionAuthField::PublicKey(*key));
            Ok(())
        }
        TransactionSpendingCondition::Singlesig(_) => Err(signing("Not a multisig condition")),
    }
}

fn is_full(condition: &TransactionSpendingCondition) -> bool {
    condition.num_signatures() >= usize::from(condition.signatures_required())
}

impl StacksTransactionSigner {
    /// Starts signing `tx` from its initial sighash. Its conditions should hold no
    /// signatures or fields yet (see [`TransactionSpendingCondition::clear`], which also
    /// zeroes nonce and fee).
    pub fn new(tx: &StacksTransaction) -> Self {
        StacksTransactionSigner {
            tx: tx.clone(),
            sighash: tx.initial_sighash(),
            origin_done: false,
            check_oversign: true,
            check_overlap: true,
        }
    }

    /// Starts signing as the sponsor of `tx`, whose origin is already signed: the sponsor
    /// condition is replaced by `sponsor` and the chain continues from the origin's end.
    pub fn new_sponsor(
        tx: &StacksTransaction,
        sponsor: TransactionSpendingCondition,
    ) -> Result<Self, TransactionAuthError> {
        let mut tx = tx.clone();
        match &mut tx.auth {
            TransactionAuth::Sponsored(_, s) => *s = sponsor,
            TransactionAuth::Standard(_) => {
                return Err(signing("Transaction is not sponsored"));
            }
        }
        let sighash = tx.verify_origin()?;
        Ok(StacksTransactionSigner {
            tx,
            sighash,
            origin_done: true,
            check_oversign: true,
            check_overlap: true,
        })
    }

    /// Allows signing past the required count and origin keys after sponsor keys.
    pub fn disable_checks(&mut self) {
        self.check_oversign = false;
        self.check_overlap = false;
    }

    /// Signs with the next origin key.
    pub fn sign_origin(
        &mut self,
        private_key: &StacksPrivateKey,
    ) -> Result<(), TransactionAuthError> {
        if self.check_overlap && self.origin_done {
            return Err(signing("Cannot sign origin after sponsor key"));
        }
        let origin = match &mut self.tx.auth {
            TransactionAuth::Standard(o) | TransactionAuth::Sponsored(o, _) => o,
        };
        if self.check_oversign && is_full(origin) {
            return Err(signing("Origin would have too many signatures"));
        }
        self.sighash = sign_and_append(
            origin,
            &self.sighash,
            TransactionAuthFlags::AuthStandard,
            private_key,
        )?;
        Ok(())
    }

    /// Appends the public key of an origin signer who does not sign.
    pub fn append_origin(&mut self, key: &StacksPublicKey) -> Result<(), TransactionAuthError> {
        if self.check_overlap && self.origin_done {
            return Err(signing(
                "Cannot append public key to origin after sponsor key",
            ));
        }
        match &mut self.tx.auth {
            TransactionAuth::Standard(o) | TransactionAuth::Sponsored(o, _) => append_key(o, key),
        }
    }

    /// Signs with the next sponsor key.
    pub fn sign_sponsor(
        &mut self,
        private_key: &StacksPrivateKey,
    ) -> Result<(), TransactionAuthError> {
        let TransactionAuth::Sponsored(_, sponsor) = &mut self.tx.auth else {
            return Err(signing(
                "Cannot sign standard authorization with a sponsoring private key",
            ));
        };
        if self.check_oversign && is_full(sponsor) {
            return Err(signing("Sponsor would have too many signatures"));
        }
        self.sighash = sign_and_append(
            sponsor,
            &self.sighash,
            TransactionAuthFlags::AuthSponsored,
            private_key,
        )?;
        self.origin_done = true;
        Ok(())
    }

    /// Appends the public key of a sponsor signer who does not sign.
    pub fn append_sponsor(&mut self, key: &StacksPublicKey) -> Result<(), TransactionAuthError> {
        match &mut self.tx.auth {
            TransactionAuth::Sponsored(_, sponsor) => append_key(sponsor, key),
            TransactionAuth::Standard(_) => Err(signing(
                "Cannot append a public key to the sponsor of a standard auth condition",
            )),
        }
    }

    /// The sighash the next signer signs from.
    pub fn sighash(&self) -> Txid {
        self.sighash
    }

    /// Whether every condition holds enough signatures.
    pub fn complete(&self) -> bool {
        match &self.tx.auth {
            TransactionAuth::Standard(origin) => is_full(origin),
            TransactionAuth::Sponsored(origin, sponsor) => {
                is_full(origin) && is_full(sponsor) && (self.origin_done || !self.check_overlap)
            }
        }
    }

    /// The transaction as signed so far.
    pub fn get_tx_incomplete(&self) -> StacksTransaction {
        self.tx.clone()
    }

    /// The signed transaction, once [`StacksTransactionSigner::complete`].
    pub fn get_tx(&self) -> Option<StacksTransaction> {
        self.complete().then(|| self.tx.clone())
    }
}
