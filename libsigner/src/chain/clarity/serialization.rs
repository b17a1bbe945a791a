//! The consensus encoding of Clarity values: a type-prefix byte, then the body.
//!
//! Decoding is the reference's untyped, unsanitized path (the one transactions and signer
//! messages use): it reads at most 2,097,152 bytes, keeps an explicit stack instead of
//! recursing, refuses more than 15 nested containers, and builds every container through the
//! checked constructors so type rules (list supertypes, sizes, tuple fields) apply.

use std::io::{Read, Write};

use crate::chain::clarity::names::{ClarityName, ContractName, NameError, MAX_STRING_LEN};
use crate::chain::clarity::principal::{
    PrincipalData, QualifiedContractIdentifier, StandardPrincipalData, PRINCIPAL_CONTRACT_PREFIX,
    PRINCIPAL_STANDARD_PREFIX,
};
use crate::chain::clarity::types::{BufferLength, TypeError, MAX_VALUE_SIZE};
use crate::chain::clarity::value::{CharType, SequenceData, Value};
use crate::codec::{read_array, read_bytes, BoundReader, Error as CodecError, StacksMessageCodec};

/// How many bytes one value may occupy on the wire.
pub const BOUND_VALUE_SERIALIZATION_BYTES: u64 = 2 * 1024 * 1024;
/// The parse stack's limit (top level plus 15 open containers) on the untyped path.
const UNSANITIZED_DEPTH_CHECK: usize = 16;

/// The type-prefix bytes of the encoding.
pub mod prefix {
    /// `int`.
    pub const INT: u8 = 0x00;
    /// `uint`.
    pub const UINT: u8 = 0x01;
    /// `buff`.
    pub const BUFFER: u8 = 0x02;
    /// `true`.
    pub const BOOL_TRUE: u8 = 0x03;
    /// `false`.
    pub const BOOL_FALSE: u8 = 0x04;
    /// Standard principal.
    pub const PRINCIPAL_STANDARD: u8 = 0x05;
    /// Contract principal.
    pub const PRINCIPAL_CONTRACT: u8 = 0x06;
    /// `(ok v)`.
    pub const RESPONSE_OK: u8 = 0x07;
    /// `(err v)`.
    pub const RESPONSE_ERR: u8 = 0x08;
    /// `none`.
    pub const OPTIONAL_NONE: u8 = 0x09;
    /// `(some v)`.
    pub const OPTIONAL_SOME: u8 = 0x0a;
    /// `list`.
    pub const LIST: u8 = 0x0b;
    /// Tuple.
    pub const TUPLE: u8 = 0x0c;
    /// `string-ascii`.
    pub const STRING_ASCII: u8 = 0x0d;
    /// `string-utf8`.
    pub const STRING_UTF8: u8 = 0x0e;
}

/// Largest number of list items or tuple fields reserved in memory before they are read.
const MAX_PREALLOCATED_ITEMS: usize = 1024;

/// An open container on the decode stack.
enum Frame {
    TopLevel,
    List {
        items: Vec<Value>,
        expected: u32,
    },
    Tuple {
        fields: Vec<(ClarityName, Value)>,
        expected: u32,
        next_name: ClarityName,
    },
    Some,
    Ok,
    Err,
}

fn invalid(what: impl std::fmt::Display) -> CodecError {
    CodecError::DeserializeError(format!("Failed to decode clarity value: {what}"))
}

fn typed<T>(result: Result<T, TypeError>) -> Result<T, CodecError> {
    result.map_err(invalid)
}

/// A construction failure reported with the reference's fixed reason for that site (e.g.
/// every list-typing failure is "Illegal list type").
fn refused<T>(result: Result<T, TypeError>, reason: &str) -> Result<T, CodecError> {
    result.map_err(|_| invalid(reason))
}

/// Reads a tuple key or contract name as a value carries it (`u8 len`, at most 128, then
/// the name), failing with the reference's reasons for this path.
fn read_value_name<R: Read, T>(
    fd: &mut R,
    parse: impl FnOnce(String) -> Result<T, NameError>,
) -> Result<T, CodecError> {
    let len = u8::consensus_deserialize(fd)?;
    if len > MAX_STRING_LEN {
        return Err(invalid("String too long"));
    }
    let bytes = read_bytes(fd, usize::from(len))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("Non-UTF8 string data"))?;
    parse(text).map_err(|_| invalid("Illegal Clarity string"))
}

/// Reads `version || 20 bytes`; the version is checked only once all 21 bytes are read.
fn read_value_issuer<R: Read>(fd: &mut R) -> Result<StandardPrincipalData, CodecError> {
    let version = u8::consensus_deserialize(fd)?;
    let bytes = read_array::<20, R>(fd)?;
    StandardPrincipalData::new(version, bytes).map_err(|_| invalid("UnexpectedSerialization"))
}

fn read_len<R: Read>(fd: &mut R) -> Result<u32, CodecError> {
    u32::consensus_deserialize(fd)
}

fn read_bounded_bytes<R: Read>(fd: &mut R) -> Result<Vec<u8>, CodecError> {
    let len = typed(BufferLength::new(read_len(fd)?))?;
    read_bytes(fd, len.get() as usize)
}

/// Reads one leaf value, or opens a container frame (returning `None`).
fn read_item<R: Read>(fd: &mut R, stack: &mut Vec<Frame>) -> Result<Option<Value>, CodecError> {
    let tag = u8::consensus_deserialize(fd)?;
    let value = match tag {
        prefix::INT => Value::Int(i128::from_be_bytes(read_array(fd)?)),
        prefix::UINT => Value::UInt(u128::from_be_bytes(read_array(fd)?)),
        prefix::BUFFER => refused(Value::buff_from(read_bounded_bytes(fd)?), "Bad buffer")?,
        prefix::BOOL_TRUE => Value::Bool(true),
        prefix::BOOL_FALSE => Value::Bool(false),
        PRINCIPAL_STANDARD_PREFIX => {
            Value::Principal(PrincipalData::Standard(read_value_issuer(fd)?))
        }
        PRINCIPAL_CONTRACT_PREFIX => {
            let issuer = read_value_issuer(fd)?;
            let name = read_value_name(fd, ContractName::try_from)?;
            Value::Principal(PrincipalData::Contract(QualifiedContractIdentifier::new(
                issuer, name,
            )))
        }
        prefix::RESPONSE_OK => {
            stack.push(Frame::Ok);
            return Ok(None);
        }
        prefix::RESPONSE_ERR => {
            stack.push(Frame::Err);
            return Ok(None);
        }
        prefix::OPTIONAL_NONE => Value::none(),
        prefix::OPTIONAL_SOME => {
            stack.push(Frame::Some);
            return Ok(None);
        }
        prefix::LIST => {
            let len = read_len(fd)?;
            if len > MAX_VALUE_SIZE {
                return Err(invalid("Illegal list type"));
            }
            if len == 0 {
                refused(Value::cons_list(Vec::new()), "Illegal list type")?
            } else {
                stack.push(Frame::List {
                    items: Vec::with_capacity((len as usize).min(MAX_PREALLOCATED_ITEMS)),
                    expected: len,
                });
                return Ok(None);
            }
        }
        prefix::TUPLE => {
            let len = read_len(fd)?;
            if len > MAX_VALUE_SIZE {
                return Err(invalid("Illegal tuple type"));
            }
            if len == 0 {
                return Err(invalid("Illegal tuple type"));
            }
            let next_name = read_value_name(fd, ClarityName::try_from)?;
            stack.push(Frame::Tuple {
                fields: Vec::with_capacity((len as usize).min(MAX_PREALLOCATED_ITEMS)),
                expected: len,
                next_name,
            });
            return Ok(None);
        }
        prefix::STRING_ASCII => refused(
            Value::string_ascii_from_bytes(read_bounded_bytes(fd)?),
            "Bad string",
        )?,
        prefix::STRING_UTF8 => refused(
            Value::string_utf8_from_bytes(read_bounded_bytes(fd)?),
            "Illegal string_utf8 type",
        )?,
        _ => return Err(invalid("Bad type prefix")),
    };
    Ok(Some(value))
}

/// Hands a finished value to the open containers, closing each one that becomes complete.
/// Returns the top-level value once it is complete.
fn complete<R: Read>(
    fd: &mut R,
    stack: &mut Vec<Frame>,
    mut finished: Value,
) -> Result<Option<Value>, CodecError> {
    loop {
        match stack.pop() {
            None => return Err(invalid("value with no open container")),
            Some(Frame::TopLevel) => return Ok(Some(finished)),
            Some(Frame::Some) => finished = refused(Value::some(finished), "Value too large")?,
            Some(Frame::Ok) => finished = refused(Value::okay(finished), "Value too large")?,
            Some(Frame::Err) => finished = refused(Value::error(finished), "Value too large")?,
            Some(Frame::List {
                mut items,
                expected,
            }) => {
                items.push(finished);
                if items.len() as u64 >= u64::from(expected) {
                    finished = refused(Value::cons_list(items), "Illegal list type")?;
                } else {
                    stack.push(Frame::List { items, expected });
                    return Ok(None);
                }
            }
            Some(Frame::Tuple {
                mut fields,
                expected,
                next_name,
            }) => {
                fields.push((next_name, finished));
                if fields.len() as u64 >= u64::from(expected) {
                    finished = refused(Value::tuple(fields), "Illegal tuple type")?;
                } else {
                    let next_name = read_value_name(fd, ClarityName::try_from)?;
                    stack.push(Frame::Tuple {
                        fields,
                        expected,
                        next_name,
                    });
                    return Ok(None);
                }
            }
        }
    }
}

/// The reference refuses to write a buffer or ASCII string longer than 1 MiB (a value only
/// public fields, not the constructors, can build).
fn check_writable_len(len: usize) -> Result<(), CodecError> {
    match u32::try_from(len) {
        Ok(len) if len <= MAX_VALUE_SIZE => Ok(()),
        _ => Err(CodecError::SerializeError(format!(
            "sequence of {len} bytes exceeds {MAX_VALUE_SIZE}"
        ))),
    }
}

impl Value {
    /// Decodes one value the way transactions and signer messages carry it, returning it and
    /// the number of bytes read.
    pub fn deserialize_read_count<R: Read>(fd: &mut R) -> Result<(Value, u64), CodecError> {
        let mut bounded = BoundReader::from_reader(fd, BOUND_VALUE_SERIALIZATION_BYTES);
        let mut stack = vec![Frame::TopLevel];
        loop {
            if stack.len() > UNSANITIZED_DEPTH_CHECK {
                return Err(invalid("TypeSignatureTooDeep"));
            }
            let Some(value) = read_item(&mut bounded, &mut stack)? else {
                continue;
            };
            if let Some(top) = complete(&mut bounded, &mut stack, value)? {
                return Ok((top, bounded.num_read()));
            }
        }
    }

    /// Decodes one value from hex (no `0x`).
    pub fn try_deserialize_hex_untyped(hex: &str) -> Result<Value, CodecError> {
        let bytes = crate::chain::hex::hex_bytes(hex).map_err(invalid)?;
        Value::consensus_deserialize(&mut &bytes[..])
    }

    /// Hex of the value's encoding.
    pub fn serialize_to_hex(&self) -> Result<String, CodecError> {
        let mut bytes = Vec::new();
        self.consensus_serialize(&mut bytes)?;
        Ok(crate::chain::hex::to_hex(&bytes))
    }

    fn write_value<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        let write = |fd: &mut W, bytes: &[u8]| fd.write_all(bytes).map_err(CodecError::WriteError);
        match self {
            Value::Int(v) => {
                write(fd, &[prefix::INT])?;
                write(fd, &v.to_be_bytes())
            }
            Value::UInt(v) => {
                write(fd, &[prefix::UINT])?;
                write(fd, &v.to_be_bytes())
            }
            Value::Bool(true) => write(fd, &[prefix::BOOL_TRUE]),
            Value::Bool(false) => write(fd, &[prefix::BOOL_FALSE]),
            Value::Principal(p) => p.write_value(fd),
            Value::CallableContract(c) => {
                PrincipalData::Contract(c.contract_identifier.clone()).write_value(fd)
            }
            Value::Optional(o) => match &o.data {
                None => write(fd, &[prefix::OPTIONAL_NONE]),
                Some(inner) => {
                    write(fd, &[prefix::OPTIONAL_SOME])?;
                    inner.write_value(fd)
                }
            },
            Value::Response(r) => {
                write(
                    fd,
                    &[if r.committed {
                        prefix::RESPONSE_OK
                    } else {
                        prefix::RESPONSE_ERR
                    }],
                )?;
                r.data.write_value(fd)
            }
            Value::Sequence(SequenceData::Buffer(b)) => {
                check_writable_len(b.data.len())?;
                write(fd, &[prefix::BUFFER])?;
                crate::codec::write_length_prefixed(fd, &b.data)
            }
            Value::Sequence(SequenceData::String(CharType::ASCII(s))) => {
                check_writable_len(s.data.len())?;
                write(fd, &[prefix::STRING_ASCII])?;
                crate::codec::write_length_prefixed(fd, &s.data)
            }
            Value::Sequence(SequenceData::String(CharType::UTF8(s))) => {
                write(fd, &[prefix::STRING_UTF8])?;
                let bytes: Vec<u8> = s.data.iter().flatten().copied().collect();
                crate::codec::write_length_prefixed(fd, &bytes)
            }
            Value::Sequence(SequenceData::List(l)) => {
                write(fd, &[prefix::LIST])?;
                let len = u32::try_from(l.data.len()).map_err(|_| CodecError::ArrayTooLong)?;
                len.consensus_serialize(fd)?;
                l.data.iter().try_for_each(|item| item.write_value(fd))
            }
            Value::Tuple(t) => {
                write(fd, &[prefix::TUPLE])?;
                let len = u32::try_from(t.data_map.len()).map_err(|_| CodecError::ArrayTooLong)?;
                len.consensus_serialize(fd)?;
                for (name, value) in &t.data_map {
                    name.consensus_serialize(fd)?;
                    value.write_value(fd)?;
                }
                Ok(())
            }
        }
    }
}

impl StacksMessageCodec for Value {
    const ALLOC_GUARD_SIZE: u64 = 128;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        self.write_value(fd)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Value::deserialize_read_count(fd).map(|(value, _)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hex::{hex_bytes, to_hex};

    fn decode_hex(hex: &str) -> Result<Value, CodecError> {
        Value::consensus_deserialize(&mut &hex_bytes(hex).unwrap()[..])
    }

    #[test]
    fn reference_tuple_vector() {
        let hex = "0c000000020362617a0906666f6f62617203";
        let value = decode_hex(hex).unwrap();
        assert_eq!(to_hex(&value.serialize_to_vec()), hex);
    }

    #[test]
    fn unsorted_tuple_input_reencodes_sorted() {
        // {foobar: true, baz: none} written in unsorted order.
        let unsorted = "0c0000000206666f6f626172030362617a09";
        let value = decode_hex(unsorted).unwrap();
        assert_eq!(
            to_hex(&value.serialize_to_vec()),
            "0c000000020362617a0906666f6f62617203"
        );
    }

    fn nested_somes(n: usize) -> String {
        format!("{}03", "0a".repeat(n))
    }

    #[test]
    fn fifteen_nested_containers_decode_sixteen_do_not() {
        assert!(decode_hex(&nested_somes(15)).is_ok());
        assert!(decode_hex(&nested_somes(16)).is_err());
    }

    #[test]
    fn truncated_input_is_a_read_error() {
        let err = decode_hex("0100").unwrap_err();
        assert!(matches!(err, CodecError::ReadError(_)), "{err:?}");
    }

    #[test]
    fn huge_length_prefixes_do_not_allocate() {
        // A list claiming 1 MiB items, and a buffer claiming 1 MiB, with no data behind them.
        assert!(decode_hex("0b00100000").is_err());
        assert!(decode_hex("0200100000").is_err());
        assert!(decode_hex("0b00100001").is_err());
        assert!(decode_hex("0c00000000").is_err());
    }

    #[test]
    fn bad_prefix_is_refused() {
        assert!(decode_hex("0f").is_err());
        assert!(decode_hex("").is_err());
    }

    /// `n` wrappers cycling through ok, one-item list, one-field tuple, err and some,
    /// around `leaf`.
    fn mixed_wrappers(n: usize, leaf: &str) -> String {
        let openers = ["07", "0b00000001", "0c000000010161", "08", "0a"];
        let mut hex: String = (0..n).map(|i| openers[i % openers.len()]).collect();
        hex.push_str(leaf);
        hex
    }

    #[test]
    fn depth_limit_counts_every_kind_of_container() {
        let int = "0000000000000000000000000000000005";
        let value = decode_hex(&mixed_wrappers(15, int)).unwrap();
        assert_eq!(to_hex(&value.serialize_to_vec()), mixed_wrappers(15, int));
        let err = decode_hex(&mixed_wrappers(16, int)).unwrap_err();
        assert!(err.to_string().contains("TypeSignatureTooDeep"), "{err:?}");
    }

    #[test]
    fn empty_list_and_tuple_leaves_do_not_count_toward_depth() {
        assert!(decode_hex(&mixed_wrappers(15, "0b00000000")).is_ok());
        // A non-empty list at the 16th level is one container too many.
        assert!(decode_hex(&mixed_wrappers(15, "0b0000000103")).is_err());
    }

    #[test]
    fn utf8_strings_are_limited_in_characters_not_only_bytes() {
        let ok = format!("0e{:08x}{}", 262_144, "61".repeat(262_144));
        let value = decode_hex(&ok).unwrap();
        assert_eq!(to_hex(&value.serialize_to_vec()), ok);
        let too_many = format!("0e{:08x}{}", 262_145, "61".repeat(262_145));
        let err = decode_hex(&too_many).unwrap_err();
        assert!(matches!(err, CodecError::DeserializeError(_)), "{err:?}");
        // Four-byte characters: 262,144 of them fill exactly 1 MiB.
        let wide = format!("0e{:08x}{}", 1_048_576, "f09f9880".repeat(262_144));
        assert!(decode_hex(&wide).is_ok());
    }

    #[test]
    fn wrapper_size_limit_is_type_based() {
        // A bare 1 MiB buffer is fine; wrapping needs size(buff L) + 1 = L + 5 <= 1 MiB.
        let buffer = |len: usize| format!("02{len:08x}{}", "ab".repeat(len));
        assert!(decode_hex(&buffer(1_048_576)).is_ok());
        assert!(decode_hex(&format!("0a{}", buffer(1_048_571))).is_ok());
        assert!(decode_hex(&format!("0a{}", buffer(1_048_572))).is_err());
        assert!(decode_hex(&format!("07{}", buffer(1_048_572))).is_err());
    }

    #[test]
    fn list_size_uses_the_longest_item_for_every_item() {
        // (list 2 (buff L)) has size 2 * (L + 4) + (5 + 5): the longest buffer counts twice.
        let list = |len: usize| format!("0b0000000202{len:08x}{}0200000000", "cd".repeat(len));
        assert!(decode_hex(&list(524_279)).is_ok());
        let err = decode_hex(&list(524_280)).unwrap_err();
        assert!(err.to_string().contains("Illegal list type"), "{err:?}");
    }

    #[test]
    fn tuple_fields_missing_from_later_list_items_fail_but_extra_ones_pass() {
        let int = |n: i128| to_hex(&Value::Int(n).serialize_to_vec());
        let uint = |n: u128| to_hex(&Value::UInt(n).serialize_to_vec());
        let a1 = format!("0c000000010161{}", int(1));
        let ab = format!("0c000000020161{}0162{}", int(2), uint(3));
        // [{a}, {a, b}]: the supertype is {a}; b is carried along unchecked.
        let extra = format!("0b00000002{a1}{ab}");
        let value = decode_hex(&extra).unwrap();
        assert_eq!(to_hex(&value.serialize_to_vec()), extra);
        assert_eq!(
            crate::chain::clarity::TypeSignature::type_of(&value)
                .unwrap()
                .to_string(),
            "(list 2 (tuple (a int)))"
        );
        // [{a, b}, {a}]: b is missing from the second item.
        assert!(decode_hex(&format!("0b00000002{ab}{a1}")).is_err());
    }

    #[test]
    fn errors_are_read_errors_only_for_missing_bytes() {
        for hex in ["", "0b0000000203", "0c000000010161", "0616"] {
            let err = decode_hex(hex).unwrap_err();
            assert!(matches!(err, CodecError::ReadError(_)), "{hex}: {err:?}");
        }
        for hex in ["0f", "0c00000000", "0d000000010b", "0b000000020309"] {
            let err = decode_hex(hex).unwrap_err();
            match err {
                CodecError::DeserializeError(text) => {
                    assert!(text.starts_with("Failed to decode clarity value"), "{text}")
                }
                other => panic!("{hex}: {other:?}"),
            }
        }
    }

    #[test]
    fn oversized_buffer_built_from_public_fields_is_not_written() {
        let value = Value::Sequence(SequenceData::Buffer(crate::chain::clarity::BuffData {
            data: vec![0; 1_048_577],
        }));
        let err = value.consensus_serialize(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, CodecError::SerializeError(_)), "{err:?}");
    }

    #[test]
    fn decoded_values_stop_at_their_last_byte() {
        let bytes = hex_bytes("0a03ffff").unwrap();
        let (value, read) = Value::deserialize_read_count(&mut &bytes[..]).unwrap();
        assert_eq!(value, Value::some(Value::Bool(true)).unwrap());
        assert_eq!(read, 2);
    }
}
