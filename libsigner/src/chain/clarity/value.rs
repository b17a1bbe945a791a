//! Clarity values and their constructors. Every constructor applies the reference's type rules
//! (sizes, depths, list supertypes, tuple fields), so a value that exists is a valid one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chain::clarity::names::ClarityName;
use crate::chain::clarity::principal::{PrincipalData, QualifiedContractIdentifier};
use crate::chain::clarity::types::{
    BufferLength, CallableSubtype, ListTypeData, SequenceSubtype, StringSubtype, StringUTF8Length,
    TraitIdentifier, TupleTypeSignature, TypeError, TypeSignature, MAX_TYPE_DEPTH, MAX_VALUE_SIZE,
    WRAPPER_VALUE_SIZE,
};

/// A Clarity value. Its JSON form is the reference's derived one (e.g. `{"UInt":5}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// `int` (i128).
    Int(i128),
    /// `uint` (u128).
    UInt(u128),
    /// `bool`.
    Bool(bool),
    /// Buffers, lists and strings.
    Sequence(SequenceData),
    /// A principal.
    Principal(PrincipalData),
    /// A tuple.
    Tuple(TupleData),
    /// `(some v)` or `none`.
    Optional(OptionalData),
    /// `(ok v)` or `(err v)`.
    Response(ResponseData),
    /// A callable contract (only built by the Clarity VM; never decoded from the wire).
    CallableContract(CallableData),
}

/// The sequence kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SequenceData {
    /// `buff`.
    Buffer(BuffData),
    /// `list`.
    List(ListData),
    /// `string-ascii` / `string-utf8`.
    String(CharType),
}

/// A buffer's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuffData {
    /// The bytes.
    pub data: Vec<u8>,
}

/// A list's items and its (inferred) type. Two lists are equal when their items are; the
/// type is not compared, as in the reference.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
pub struct ListData {
    /// The items.
    pub data: Vec<Value>,
    /// The list's type.
    pub type_signature: ListTypeData,
}

/// The string kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CharType {
    /// `string-utf8`.
    UTF8(UTF8Data),
    /// `string-ascii`.
    ASCII(ASCIIData),
}

/// A UTF-8 string: one byte vector per character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UTF8Data {
    /// Each character's UTF-8 bytes.
    pub data: Vec<Vec<u8>>,
}

/// An ASCII string's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ASCIIData {
    /// The bytes.
    pub data: Vec<u8>,
}

/// A tuple: its type and its fields, sorted by name. Two tuples are equal when their fields
/// are; the type is not compared, as in the reference.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
pub struct TupleData {
    /// The tuple's type.
    pub type_signature: TupleTypeSignature,
    /// The fields, sorted by name.
    pub data_map: BTreeMap<ClarityName, Value>,
}

impl PartialEq for ListData {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl PartialEq for TupleData {
    fn eq(&self, other: &Self) -> bool {
        self.data_map == other.data_map
    }
}

/// An optional's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalData {
    /// `Some` for `(some v)`.
    pub data: Option<Box<Value>>,
}

/// A response's branch and contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseData {
    /// `true` for `ok`, `false` for `err`.
    pub committed: bool,
    /// The contents.
    pub data: Box<Value>,
}

/// A callable contract reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallableData {
    /// The contract.
    pub contract_identifier: QualifiedContractIdentifier,
    /// The trait it is used as, if any.
    pub trait_identifier: Option<TraitIdentifier>,
}

/// Whether `b` may appear in a `string-ascii`: letters, digits, punctuation, and the
/// whitespace bytes 09 0a 0c 0d 20.
pub fn is_clarity_ascii(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b.is_ascii_punctuation() || b.is_ascii_whitespace()
}

impl TupleData {
    /// A tuple from its fields in any order: at least one field, no duplicate names, within
    /// the size and depth limits.
    pub fn from_data(fields: Vec<(ClarityName, Value)>) -> Result<Self, TypeError> {
        let mut type_map = BTreeMap::new();
        let mut data_map = BTreeMap::new();
        for (name, value) in fields {
            let t = TypeSignature::type_of(&value)?;
            if type_map.insert(name.clone(), t).is_some() {
                return Err(TypeError::DuplicateName(name.to_string()));
            }
            data_map.insert(name, value);
        }
        Ok(TupleData {
            type_signature: TupleTypeSignature::new(type_map)?,
            data_map,
        })
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.data_map
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }
}

impl TypeSignature {
    /// The type a value has.
    pub fn type_of(value: &Value) -> Result<TypeSignature, TypeError> {
        Ok(match value {
            Value::Int(_) => TypeSignature::IntType,
            Value::UInt(_) => TypeSignature::UIntType,
            Value::Bool(_) => TypeSignature::BoolType,
            Value::Principal(_) => TypeSignature::PrincipalType,
            Value::Tuple(t) => TypeSignature::TupleType(t.type_signature.clone()),
            Value::Sequence(SequenceData::List(l)) => {
                TypeSignature::SequenceType(SequenceSubtype::ListType(l.type_signature.clone()))
            }
            Value::Sequence(SequenceData::Buffer(b)) => {
                let len = u32::try_from(b.data.len()).map_err(|_| TypeError::ValueTooLarge)?;
                TypeSignature::SequenceType(SequenceSubtype::BufferType(BufferLength::new(len)?))
            }
            Value::Sequence(SequenceData::String(CharType::ASCII(s))) => {
                let len = u32::try_from(s.data.len()).map_err(|_| TypeError::ValueTooLarge)?;
                TypeSignature::SequenceType(SequenceSubtype::StringType(StringSubtype::ASCII(
                    BufferLength::new(len)?,
                )))
            }
            Value::Sequence(SequenceData::String(CharType::UTF8(s))) => {
                let len = u32::try_from(s.data.len()).map_err(|_| TypeError::ValueTooLarge)?;
                TypeSignature::SequenceType(SequenceSubtype::StringType(StringSubtype::UTF8(
                    StringUTF8Length::new(len)?,
                )))
            }
            Value::Optional(o) => match &o.data {
                Some(v) => TypeSignature::new_option(TypeSignature::type_of(v)?)?,
                None => TypeSignature::OptionalType(Box::new(TypeSignature::NoType)),
            },
            Value::Response(r) => {
                let inner = TypeSignature::type_of(&r.data)?;
                if r.committed {
                    TypeSignature::new_response(inner, TypeSignature::NoType)?
                } else {
                    TypeSignature::new_response(TypeSignature::NoType, inner)?
                }
            }
            Value::CallableContract(c) => match &c.trait_identifier {
                Some(t) => TypeSignature::CallableType(CallableSubtype::Trait(t.clone())),
                None => TypeSignature::CallableType(CallableSubtype::Principal(
                    c.contract_identifier.clone(),
                )),
            },
        })
    }
}

impl Value {
    /// The size of the value's type, as the reference computes it.
    pub fn size(&self) -> Result<u32, TypeError> {
        TypeSignature::type_of(self)?.size()
    }

    /// The depth of the value's type.
    pub fn depth(&self) -> Result<u8, TypeError> {
        Ok(TypeSignature::type_of(self)?.depth())
    }

    fn check_wrappable(inner: &Value) -> Result<(), TypeError> {
        if inner.size()? + WRAPPER_VALUE_SIZE > MAX_VALUE_SIZE {
            Err(TypeError::ValueTooLarge)
        } else if u32::from(inner.depth()?) + 1 > u32::from(MAX_TYPE_DEPTH) {
            Err(TypeError::TypeSignatureTooDeep)
        } else {
            Ok(())
        }
    }

    /// `none`.
    pub fn none() -> Value {
        Value::Optional(OptionalData { data: None })
    }

    /// `(some inner)`.
    pub fn some(inner: Value) -> Result<Value, TypeError> {
        Self::check_wrappable(&inner)?;
        Ok(Value::Optional(OptionalData {
            data: Some(Box::new(inner)),
        }))
    }

    /// `(ok inner)`.
    pub fn okay(inner: Value) -> Result<Value, TypeError> {
        Self::check_wrappable(&inner)?;
        Ok(Value::Response(ResponseData {
            committed: true,
            data: Box::new(inner),
        }))
    }

    /// `(err inner)`.
    pub fn error(inner: Value) -> Result<Value, TypeError> {
        Self::check_wrappable(&inner)?;
        Ok(Value::Response(ResponseData {
            committed: false,
            data: Box::new(inner),
        }))
    }

    /// `(ok true)`.
    pub fn okay_true() -> Value {
        Value::Response(ResponseData {
            committed: true,
            data: Box::new(Value::Bool(true)),
        })
    }

    /// A buffer of at most 1 MiB.
    pub fn buff_from(data: Vec<u8>) -> Result<Value, TypeError> {
        let len = u32::try_from(data.len()).map_err(|_| TypeError::ValueTooLarge)?;
        BufferLength::new(len)?;
        Ok(Value::Sequence(SequenceData::Buffer(BuffData { data })))
    }

    /// A `string-ascii` of at most 1 MiB whose bytes are all allowed
    /// ([`is_clarity_ascii`]).
    pub fn string_ascii_from_bytes(data: Vec<u8>) -> Result<Value, TypeError> {
        let len = u32::try_from(data.len()).map_err(|_| TypeError::ValueTooLarge)?;
        BufferLength::new(len)?;
        if !data.iter().all(|&b| is_clarity_ascii(b)) {
            return Err(TypeError::BadString);
        }
        Ok(Value::Sequence(SequenceData::String(CharType::ASCII(
            ASCIIData { data },
        ))))
    }

    /// A `string-utf8` from valid UTF-8 bytes of at most 262,144 characters.
    pub fn string_utf8_from_bytes(data: Vec<u8>) -> Result<Value, TypeError> {
        let text = String::from_utf8(data).map_err(|_| TypeError::BadString)?;
        let chars: Vec<Vec<u8>> = text
            .chars()
            .map(|c| {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf).as_bytes().to_vec()
            })
            .collect();
        let len = u32::try_from(chars.len()).map_err(|_| TypeError::ValueTooLarge)?;
        StringUTF8Length::new(len)?;
        Ok(Value::Sequence(SequenceData::String(CharType::UTF8(
            UTF8Data { data: chars },
        ))))
    }

    /// A list of `items`, typed by their least supertype.
    pub fn cons_list(items: Vec<Value>) -> Result<Value, TypeError> {
        let types = items
            .iter()
            .map(TypeSignature::type_of)
            .collect::<Result<Vec<_>, _>>()?;
        let type_signature = TypeSignature::parent_list_type(&types)?;
        Ok(Value::Sequence(SequenceData::List(ListData {
            data: items,
            type_signature,
        })))
    }

    /// A list of `items` (the reference's name for [`Value::cons_list`]).
    pub fn list_from(items: Vec<Value>) -> Result<Value, TypeError> {
        Value::cons_list(items)
    }

    /// A tuple from its fields (see [`TupleData::from_data`]).
    pub fn tuple(fields: Vec<(ClarityName, Value)>) -> Result<Value, TypeError> {
        TupleData::from_data(fields).map(Value::Tuple)
    }

    /// The u128 of a `uint`.
    pub fn as_u128(&self) -> Option<u128> {
        match self {
            Value::UInt(v) => Some(*v),
            _ => None,
        }
    }

    /// The i128 of an `int`.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The bool of a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The bytes of a buffer.
    pub fn as_buffer(&self) -> Option<&[u8]> {
        match self {
            Value::Sequence(SequenceData::Buffer(b)) => Some(&b.data),
            _ => None,
        }
    }

    /// The bytes of a `string-ascii`.
    pub fn as_string_ascii(&self) -> Option<&[u8]> {
        match self {
            Value::Sequence(SequenceData::String(CharType::ASCII(s))) => Some(&s.data),
            _ => None,
        }
    }

    /// The text of a `string-utf8`.
    pub fn as_string_utf8(&self) -> Option<String> {
        match self {
            Value::Sequence(SequenceData::String(CharType::UTF8(s))) => {
                String::from_utf8(s.data.concat()).ok()
            }
            _ => None,
        }
    }

    /// The items of a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::Sequence(SequenceData::List(l)) => Some(&l.data),
            _ => None,
        }
    }

    /// The tuple data of a tuple.
    pub fn as_tuple(&self) -> Option<&TupleData> {
        match self {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// The principal of a principal.
    pub fn as_principal(&self) -> Option<&PrincipalData> {
        match self {
            Value::Principal(p) => Some(p),
            _ => None,
        }
    }

    /// The contents of an `ok`.
    pub fn as_ok(&self) -> Option<&Value> {
        match self {
            Value::Response(r) if r.committed => Some(&r.data),
            _ => None,
        }
    }

    /// The contents of an `err`.
    pub fn as_err(&self) -> Option<&Value> {
        match self {
            Value::Response(r) if !r.committed => Some(&r.data),
            _ => None,
        }
    }

    /// The contents of an optional: `Some(Some(v))` for `(some v)`, `Some(None)` for `none`,
    /// `None` for a non-optional.
    pub fn as_optional(&self) -> Option<Option<&Value>> {
        match self {
            Value::Optional(o) => Some(o.data.as_deref()),
            _ => None,
        }
    }
}

impl From<PrincipalData> for Value {
    fn from(p: PrincipalData) -> Self {
        Value::Principal(p)
    }
}

impl From<TupleData> for Value {
    fn from(t: TupleData) -> Self {
        Value::Tuple(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ClarityName {
        ClarityName::try_from(s).unwrap()
    }

    #[test]
    fn list_of_none_and_some_is_typed_optional() {
        let list =
            Value::cons_list(vec![Value::none(), Value::some(Value::Int(1)).unwrap()]).unwrap();
        let t = TypeSignature::type_of(&list).unwrap();
        assert_eq!(
            t,
            TypeSignature::list_of(
                TypeSignature::new_option(TypeSignature::IntType).unwrap(),
                2
            )
            .unwrap()
        );
    }

    #[test]
    fn mixed_int_uint_list_is_refused() {
        assert!(Value::cons_list(vec![Value::Int(1), Value::UInt(1)]).is_err());
    }

    #[test]
    fn tuple_fields_are_sorted_and_unique() {
        let t = Value::tuple(vec![
            (name("b"), Value::UInt(2)),
            (name("a"), Value::UInt(1)),
        ])
        .unwrap();
        let keys: Vec<&str> = t
            .as_tuple()
            .unwrap()
            .data_map
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, vec!["a", "b"]);
        assert!(Value::tuple(vec![
            (name("a"), Value::UInt(2)),
            (name("a"), Value::UInt(1))
        ])
        .is_err());
        assert!(Value::tuple(vec![]).is_err());
    }

    #[test]
    fn list_and_tuple_equality_ignores_the_recorded_type() {
        let list = Value::cons_list(vec![Value::Int(1)]).unwrap();
        let mut retyped = list.clone();
        if let Value::Sequence(SequenceData::List(l)) = &mut retyped {
            l.type_signature = ListTypeData::new_list(TypeSignature::IntType, 9).unwrap();
        }
        assert_eq!(list, retyped);
        assert_ne!(list, Value::cons_list(vec![Value::Int(2)]).unwrap());
    }

    #[test]
    fn accessors_return_none_for_other_variants() {
        let ascii = Value::string_ascii_from_bytes(b"hi".to_vec()).unwrap();
        assert_eq!(ascii.as_string_ascii(), Some(&b"hi"[..]));
        assert_eq!(ascii.as_string_utf8(), None);
        assert_eq!(ascii.as_u128(), None);
        let utf8 = Value::string_utf8_from_bytes("h\u{e9}".as_bytes().to_vec()).unwrap();
        assert_eq!(utf8.as_string_utf8().as_deref(), Some("h\u{e9}"));
        assert_eq!(Value::okay_true().as_ok(), Some(&Value::Bool(true)));
        assert_eq!(Value::okay_true().as_err(), None);
        assert_eq!(Value::none().as_optional(), Some(None));
    }

    #[test]
    fn ascii_rules() {
        assert!(Value::string_ascii_from_bytes(b"Hello World\t\n\x0c\r!".to_vec()).is_ok());
        for bad in [0x0b, 0x7f, 0x80, 0x00, 0x07] {
            assert!(
                Value::string_ascii_from_bytes(vec![bad]).is_err(),
                "{bad:#x}"
            );
        }
    }

    #[test]
    fn json_matches_reference_shapes() {
        let v = Value::some(Value::Bool(false)).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"Optional":{"data":{"Bool":false}}}"#
        );
        let u = Value::UInt(u128::MAX);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"UInt":340282366920938463463374607431768211455}"#
        );
        let back: Value = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(back, u);
    }
}
