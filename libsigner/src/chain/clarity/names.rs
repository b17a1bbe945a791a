//! Clarity identifiers: contract names and Clarity names (function, tuple-key, asset names).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::codec::{read_bytes, Error as CodecError, StacksMessageCodec};

/// Longest name a Clarity identifier may have (bytes).
pub const MAX_STRING_LEN: u8 = 128;
/// Shortest contract name the consensus codec accepts.
pub const CONTRACT_MIN_NAME_LENGTH: usize = 1;
/// Longest contract name the consensus codec accepts (a Clarity principal may be longer).
pub const CONTRACT_MAX_NAME_LENGTH: usize = 40;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The text does not match the name's grammar or is over 128 bytes.
    #[error("Bad name value: {kind} {name:?}")]
    BadNameValue {
        /// Which kind of name (`ContractName` or `ClarityName`).
        kind: &'static str,
        /// The refused text.
        name: String,
    },
}

/// `[a-zA-Z][a-zA-Z0-9_-]{0,127}` or `__transient`.
fn is_contract_name(s: &str) -> bool {
    if s == "__transient" {
        return true;
    }
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest.len() < usize::from(MAX_STRING_LEN)
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        }
        None => false,
    }
}

/// `[a-zA-Z][a-zA-Z0-9-_!?+<>=/*]*`, or one of `- + = / * < > <= >=`; at most 128 bytes.
fn is_clarity_name(s: &str) -> bool {
    if s.len() > usize::from(MAX_STRING_LEN) {
        return false;
    }
    if matches!(s, "-" | "+" | "=" | "/" | "*" | "<" | ">" | "<=" | ">=") {
        return true;
    }
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_!?+<>=/*".contains(c))
        }
        None => false,
    }
}

macro_rules! guarded_name {
    ($(#[$meta:meta])* $name:ident, $check:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name's length in bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether the name is empty (never true for a checked name).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                if $check(&value) {
                    Ok($name(value))
                } else {
                    Err(NameError::BadNameValue {
                        kind: stringify!($name),
                        name: value,
                    })
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(value: &str) -> Result<Self, NameError> {
                Self::try_from(value.to_string())
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::try_from(value.to_string())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

guarded_name!(
    /// A contract's name. Up to 128 bytes as Clarity sees it; the consensus codec used in
    /// transactions and post-conditions accepts only 1..=40 bytes. Its JSON form is the plain
    /// string and, as in the reference, JSON decoding does not validate it.
    ContractName,
    is_contract_name
);

guarded_name!(
    /// A Clarity name: a function, tuple key, asset or variable name (at most 128 bytes).
    ClarityName,
    is_clarity_name
);

impl ContractName {
    /// The name of the transient contract used by the reference's tests.
    pub fn transient() -> Self {
        ContractName("__transient".to_string())
    }
}

/// Reads `u8 len || UTF-8 bytes` (len at most `max`) and checks it with `parse`.
fn read_short_name<R: Read, T>(
    fd: &mut R,
    what: &str,
    min: usize,
    max: usize,
    parse: impl FnOnce(String) -> Result<T, NameError>,
) -> Result<T, CodecError> {
    let len = usize::from(u8::consensus_deserialize(fd)?);
    if len < min || len > max {
        return Err(CodecError::DeserializeError(format!(
            "Failed to deserialize {what}: too short or too long: {len}"
        )));
    }
    let bytes = read_bytes(fd, len)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        CodecError::DeserializeError(format!(
            "Failed to parse {what}: could not construct from utf8"
        ))
    })?;
    parse(text).map_err(|e| CodecError::DeserializeError(format!("Failed to parse {what}: {e}")))
}

fn write_short_name<W: Write>(
    fd: &mut W,
    name: &str,
    what: &str,
    min: usize,
    max: usize,
) -> Result<(), CodecError> {
    let len = name.len();
    if len < min || len > max {
        return Err(CodecError::SerializeError(format!(
            "Failed to serialize {what}: too short or too long: {len}"
        )));
    }
    (len as u8).consensus_serialize(fd)?;
    fd.write_all(name.as_bytes())
        .map_err(CodecError::WriteError)
}

impl StacksMessageCodec for ContractName {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_short_name(
            fd,
            &self.0,
            "contract name",
            CONTRACT_MIN_NAME_LENGTH,
            CONTRACT_MAX_NAME_LENGTH,
        )
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        read_short_name(
            fd,
            "contract name",
            CONTRACT_MIN_NAME_LENGTH,
            CONTRACT_MAX_NAME_LENGTH,
            ContractName::try_from,
        )
    }
}

impl StacksMessageCodec for ClarityName {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_short_name(fd, &self.0, "clarity name", 0, usize::from(MAX_STRING_LEN))
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        read_short_name(
            fd,
            "clarity name",
            0,
            usize::from(MAX_STRING_LEN),
            ClarityName::try_from,
        )
    }
}

/// Reads a contract name as a Clarity value carries it: `u8 len` (at most 128) and the name.
pub(crate) fn read_value_contract_name<R: Read>(fd: &mut R) -> Result<ContractName, CodecError> {
    read_short_name(
        fd,
        "contract name",
        0,
        usize::from(MAX_STRING_LEN),
        ContractName::try_from,
    )
}

/// Writes a contract name as a Clarity value carries it: `u8 len` and the name.
pub(crate) fn write_value_contract_name<W: Write>(
    fd: &mut W,
    name: &ContractName,
) -> Result<(), CodecError> {
    write_short_name(
        fd,
        name.as_str(),
        "contract name",
        0,
        usize::from(MAX_STRING_LEN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_name_grammar() {
        assert!(ContractName::try_from("signers-0-1").is_ok());
        assert!(ContractName::try_from("__transient").is_ok());
        assert!(ContractName::try_from("a".repeat(128)).is_ok());
        assert!(ContractName::try_from("a".repeat(129)).is_err());
        assert!(ContractName::try_from("1abc").is_err());
        assert!(ContractName::try_from("a.b").is_err());
        assert!(ContractName::try_from("").is_err());
        assert!(ContractName::try_from("abc\n").is_err());
    }

    #[test]
    fn clarity_name_grammar() {
        for ok in ["foo", "foo-bar?", "a!+<>=/*", "-", "<=", ">", "*"] {
            assert!(ClarityName::try_from(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "=>", "<<", "a.b", "a b"] {
            assert!(ClarityName::try_from(bad).is_err(), "{bad}");
        }
        assert!(ClarityName::try_from("a".repeat(129)).is_err());
    }

    #[test]
    fn contract_name_codec_limits_to_40_bytes() {
        let long = ContractName::try_from("a".repeat(41)).unwrap();
        assert!(long.consensus_serialize(&mut Vec::new()).is_err());
        let mut bytes = vec![41u8];
        bytes.extend(std::iter::repeat_n(b'a', 41));
        assert!(ContractName::consensus_deserialize(&mut &bytes[..]).is_err());
        let ok = ContractName::try_from("hello").unwrap();
        let enc = ok.serialize_to_vec();
        assert_eq!(enc, b"\x05hello");
        assert_eq!(
            ContractName::consensus_deserialize(&mut &enc[..]).unwrap(),
            ok
        );
    }

    #[test]
    fn names_refuse_non_utf8() {
        let bytes = [2u8, 0xff, 0xfe];
        assert!(ClarityName::consensus_deserialize(&mut &bytes[..]).is_err());
        assert!(ContractName::consensus_deserialize(&mut &bytes[..]).is_err());
    }
}
