//! Why the node refused a block proposal: the `reason_code` of its validation rejection.

use std::io::{Read, Write};

use crate::codec::{read_next, write_next, Error as CodecError, StacksMessageCodec};
use crate::define_u8_enum;

define_u8_enum! {
    /// The node's reason code for a block proposal that failed validation
    /// (`/v3/block_proposal`). On the wire it is one byte; in JSON it is the variant name.
    pub enum ValidateRejectCode {
        /// The block's hash does not match.
        BadBlockHash = 0,
        /// The block carries an invalid transaction.
        BadTransaction = 1,
        /// The block itself is invalid.
        InvalidBlock = 2,
        /// The node's chainstate failed while validating.
        ChainstateError = 3,
        /// The block's parent is unknown.
        UnknownParent = 4,
        /// The block's tenure is not canonical.
        NonCanonicalTenure = 5,
        /// The block's tenure does not exist.
        NoSuchTenure = 6,
        /// The block does not follow the required transaction replay.
        InvalidTransactionReplay = 7,
        /// The block's parent is not the expected one.
        InvalidParentBlock = 8,
        /// The block's timestamp is not acceptable.
        InvalidTimestamp = 9,
        /// The block was built for another network.
        NetworkChainMismatch = 10,
    }
}

impl TryFrom<u8> for ValidateRejectCode {
    type Error = CodecError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_u8(value)
            .ok_or_else(|| CodecError::DeserializeError(format!("Unknown type prefix: {value}")))
    }
}

impl StacksMessageCodec for ValidateRejectCode {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.to_u8())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let byte: u8 = read_next(fd)?;
        Self::try_from(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bytes_and_json_names_follow_the_reference() {
        assert_eq!(ValidateRejectCode::ALL.len(), 11);
        assert_eq!(ValidateRejectCode::NetworkChainMismatch.to_u8(), 10);
        assert_eq!(
            ValidateRejectCode::try_from(6).unwrap(),
            ValidateRejectCode::NoSuchTenure
        );
        assert!(ValidateRejectCode::try_from(11).is_err());
        assert_eq!(
            serde_json::to_string(&ValidateRejectCode::InvalidBlock).unwrap(),
            "\"InvalidBlock\""
        );
        let bytes = ValidateRejectCode::UnknownParent.serialize_to_vec();
        assert_eq!(bytes, vec![4]);
    }
}
