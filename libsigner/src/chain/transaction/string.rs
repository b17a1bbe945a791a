//! `StacksString`: the printable-ASCII text of a smart contract's code.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::codec::{
    read_bytes, write_length_prefixed, Error as CodecError, StacksMessageCodec, MAX_MESSAGE_LEN,
};

/// Text made only of printable ASCII (`0x20..=0x7e`), tab and newline. On the wire it is
/// `u32 length || bytes`; its JSON form is the array of its bytes.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StacksString(Vec<u8>);

impl StacksString {
    /// Whether every byte is printable ASCII, a tab or a newline.
    pub fn is_valid_string(bytes: &[u8]) -> bool {
        bytes
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) || c == b'\t' || c == b'\n')
    }

    /// The string for `text`, if every character is allowed.
    // Named as the reference names it; it returns an `Option`, so it is not `FromStr`.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Option<StacksString> {
        Self::from_bytes(text.as_bytes())
    }

    /// The string for `bytes`, if every byte is allowed.
    pub fn from_bytes(bytes: &[u8]) -> Option<StacksString> {
        Self::is_valid_string(bytes).then(|| StacksString(bytes.to_vec()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for StacksString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::fmt::Debug for StacksString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl StacksMessageCodec for StacksString {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_length_prefixed(fd, &self.0)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let len = u32::consensus_deserialize(fd)?;
        // The byte vector's allocation guard (one byte per item).
        if len > MAX_MESSAGE_LEN {
            return Err(CodecError::DeserializeError(format!(
                "Message occupies too many bytes (tried to allocate 1*{len}={len})"
            )));
        }
        let bytes = read_bytes(fd, len as usize)?;
        if !Self::is_valid_string(&bytes) {
            return Err(CodecError::DeserializeError(
                "Invalid Stacks string: non-printable or non-ASCII string".to_string(),
            ));
        }
        Ok(StacksString(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_tab_and_newline_are_allowed() {
        let s = StacksString::from_str("(define-data-var x int 1)\n\t~").unwrap();
        let bytes = s.serialize_to_vec();
        assert_eq!(&bytes[..4], &[0, 0, 0, 28]);
        assert_eq!(
            StacksString::consensus_deserialize(&mut &bytes[..]).unwrap(),
            s
        );
    }

    #[test]
    fn control_delete_and_non_ascii_bytes_are_refused() {
        for bad in [&b"a\rb"[..], b"\x7f", b"\x00", "é".as_bytes()] {
            assert!(StacksString::from_bytes(bad).is_none());
            let mut wire = (bad.len() as u32).to_be_bytes().to_vec();
            wire.extend_from_slice(bad);
            assert!(StacksString::consensus_deserialize(&mut &wire[..]).is_err());
        }
    }
}
