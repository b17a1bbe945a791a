//! Clarity type signatures: what decoding a value infers and checks (list supertypes, sizes,
//! depths), with the reference's size arithmetic so the same values are accepted and refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::chain::clarity::names::ClarityName;
use crate::chain::clarity::principal::QualifiedContractIdentifier;

/// Largest size a Clarity value (its type) may have: 1 MiB.
pub const MAX_VALUE_SIZE: u32 = 1024 * 1024;
/// Largest length of a UTF-8 string, in characters.
pub const MAX_UTF8_VALUE_SIZE: u32 = MAX_VALUE_SIZE / 4;
/// Deepest type nesting allowed when building a value.
pub const MAX_TYPE_DEPTH: u8 = 32;
/// Size a wrapper (optional, response) adds to its contents.
pub const WRAPPER_VALUE_SIZE: u32 = 1;

/// Why a type could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The type would describe a value larger than 1 MiB.
    #[error("value too large")]
    ValueTooLarge,
    /// The type nests deeper than allowed.
    #[error("type signature too deep")]
    TypeSignatureTooDeep,
    /// Two types have no common supertype (e.g. `int` and `uint`).
    #[error("no common supertype")]
    NoSupertype,
    /// A tuple without fields.
    #[error("empty tuples are not allowed")]
    EmptyTuple,
    /// String bytes outside the string type's alphabet (or not UTF-8).
    #[error("invalid string contents")]
    BadString,
    /// A tuple with the same field twice.
    #[error("tuple field {0} used twice")]
    DuplicateName(String),
}

/// A trait: its name and the contract defining it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TraitIdentifier {
    /// The trait's name.
    pub name: ClarityName,
    /// The contract defining it.
    pub contract_identifier: QualifiedContractIdentifier,
}

/// What a callable value refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CallableSubtype {
    /// A contract.
    Principal(QualifiedContractIdentifier),
    /// A trait.
    Trait(TraitIdentifier),
}

/// A length bound of a buffer or ASCII string type (at most 1 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BufferLength(u32);

impl BufferLength {
    /// A bound of `len` bytes, if it is at most 1 MiB.
    pub fn new(len: u32) -> Result<Self, TypeError> {
        if len > MAX_VALUE_SIZE {
            Err(TypeError::ValueTooLarge)
        } else {
            Ok(BufferLength(len))
        }
    }

    /// The bound.
    pub fn get(&self) -> u32 {
        self.0
    }
}

/// A length bound of a UTF-8 string type, in characters (at most 262,144).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StringUTF8Length(u32);

impl StringUTF8Length {
    /// A bound of `len` characters, if allowed.
    pub fn new(len: u32) -> Result<Self, TypeError> {
        if len > MAX_UTF8_VALUE_SIZE {
            Err(TypeError::ValueTooLarge)
        } else {
            Ok(StringUTF8Length(len))
        }
    }

    /// The bound.
    pub fn get(&self) -> u32 {
        self.0
    }
}

/// The kind of a string type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StringSubtype {
    /// `string-ascii` of at most this many bytes.
    ASCII(BufferLength),
    /// `string-utf8` of at most this many characters.
    UTF8(StringUTF8Length),
}

/// The kind of a sequence type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SequenceSubtype {
    /// `buff`.
    BufferType(BufferLength),
    /// `list`.
    ListType(ListTypeData),
    /// `string-ascii` / `string-utf8`.
    StringType(StringSubtype),
}

/// A list type: its longest length and its entries' type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTypeData {
    max_len: u32,
    entry_type: Box<TypeSignature>,
}

/// A tuple type: field names (sorted) and their types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TupleTypeSignature {
    type_map: BTreeMap<ClarityName, TypeSignature>,
}

/// A Clarity type. Its JSON form is the reference's derived one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeSignature {
    /// The type of nothing yet (an empty list's entries, `none`'s contents).
    NoType,
    /// `int`.
    IntType,
    /// `uint`.
    UIntType,
    /// `bool`.
    BoolType,
    /// Buffers, lists and strings.
    SequenceType(SequenceSubtype),
    /// `principal`.
    PrincipalType,
    /// Tuples.
    TupleType(TupleTypeSignature),
    /// `optional`.
    OptionalType(Box<TypeSignature>),
    /// `response` (ok type, err type).
    ResponseType(Box<(TypeSignature, TypeSignature)>),
    /// A callable contract or trait reference.
    CallableType(CallableSubtype),
    /// A list of several callable contracts.
    ListUnionType(BTreeSet<CallableSubtype>),
    /// A trait reference.
    TraitReferenceType(TraitIdentifier),
}

impl ListTypeData {
    /// A list type, if it is not too deep or too large.
    pub fn new_list(entry_type: TypeSignature, max_len: u32) -> Result<Self, TypeError> {
        if 1 + u32::from(entry_type.depth()) > u32::from(MAX_TYPE_DEPTH) {
            return Err(TypeError::TypeSignatureTooDeep);
        }
        let list = ListTypeData {
            max_len,
            entry_type: Box::new(entry_type),
        };
        match list.inner_size()? {
            Some(size) if size <= MAX_VALUE_SIZE => Ok(list),
            _ => Err(TypeError::ValueTooLarge),
        }
    }

    /// The type of an empty list.
    pub fn empty() -> Self {
        ListTypeData {
            max_len: 0,
            entry_type: Box::new(TypeSignature::NoType),
        }
    }

    /// The longest length.
    pub fn get_max_len(&self) -> u32 {
        self.max_len
    }

    /// The entries' type.
    pub fn get_list_item_type(&self) -> &TypeSignature {
        &self.entry_type
    }

    fn type_size(&self) -> Option<u32> {
        let size = self.entry_type.inner_type_size()?.checked_add(4 + 1)?;
        (size <= MAX_VALUE_SIZE).then_some(size)
    }

    fn inner_size(&self) -> Result<Option<u32>, TypeError> {
        let total = self
            .entry_type
            .size()?
            .checked_mul(self.max_len)
            .and_then(|x| x.checked_add(self.type_size()?));
        Ok(total.filter(|t| *t <= MAX_VALUE_SIZE))
    }
}

impl TupleTypeSignature {
    /// A tuple type from its fields, if non-empty and not too deep or too large.
    pub fn new(type_map: BTreeMap<ClarityName, TypeSignature>) -> Result<Self, TypeError> {
        if type_map.is_empty() {
            return Err(TypeError::EmptyTuple);
        }
        if type_map
            .values()
            .any(|t| 1 + u32::from(t.depth()) > u32::from(MAX_TYPE_DEPTH))
        {
            return Err(TypeError::TypeSignatureTooDeep);
        }
        let tuple = TupleTypeSignature { type_map };
        match tuple.inner_size()? {
            Some(size) if size <= MAX_VALUE_SIZE => Ok(tuple),
            _ => Err(TypeError::ValueTooLarge),
        }
    }

    /// The fields and their types, sorted by name.
    pub fn get_type_map(&self) -> &BTreeMap<ClarityName, TypeSignature> {
        &self.type_map
    }

    /// The number of fields.
    pub fn len(&self) -> u64 {
        self.type_map.len() as u64
    }

    /// Whether there are no fields (never true for a built tuple type).
    pub fn is_empty(&self) -> bool {
        self.type_map.is_empty()
    }

    fn max_depth(&self) -> u8 {
        self.type_map.values().map(|t| t.depth()).max().unwrap_or(0)
    }

    fn type_size(&self) -> Option<u32> {
        let mut size = u32::try_from(self.type_map.len()).ok()?.checked_mul(2)?;
        for (name, t) in self.type_map.iter() {
            size = size
                .checked_add(t.inner_type_size()?)?
                .checked_add(name.len() as u32)?;
        }
        (size <= MAX_VALUE_SIZE).then_some(size)
    }

    fn inner_size(&self) -> Result<Option<u32>, TypeError> {
        let base = u32::try_from(self.type_map.len())
            .ok()
            .and_then(|x| x.checked_mul(2))
            .and_then(|x| x.checked_add(self.type_size()?));
        let Some(mut total) = base else {
            return Ok(None);
        };
        for (name, t) in self.type_map.iter() {
            let Some(next) = total
                .checked_add(t.size()?)
                .and_then(|x| x.checked_add(name.len() as u32))
            else {
                return Ok(None);
            };
            total = next;
        }
        Ok(Some(total))
    }
}

impl TypeSignature {
    /// `(optional inner)`, if not too deep or too large.
    pub fn new_option(inner: TypeSignature) -> Result<Self, TypeError> {
        let size = WRAPPER_VALUE_SIZE + inner.size()?;
        if size > MAX_VALUE_SIZE {
            Err(TypeError::ValueTooLarge)
        } else if 1 + u32::from(inner.depth()) > u32::from(MAX_TYPE_DEPTH) {
            Err(TypeError::TypeSignatureTooDeep)
        } else {
            Ok(TypeSignature::OptionalType(Box::new(inner)))
        }
    }

    /// `(response ok err)`, if not too deep or too large.
    pub fn new_response(ok: TypeSignature, err: TypeSignature) -> Result<Self, TypeError> {
        let size = WRAPPER_VALUE_SIZE + ok.size()?.max(err.size()?);
        let depth = 1 + u32::from(ok.depth().max(err.depth()));
        if size > MAX_VALUE_SIZE {
            Err(TypeError::ValueTooLarge)
        } else if depth > u32::from(MAX_TYPE_DEPTH) {
            Err(TypeError::TypeSignatureTooDeep)
        } else {
            Ok(TypeSignature::ResponseType(Box::new((ok, err))))
        }
    }

    /// `(list max_len entry)`.
    pub fn list_of(entry: TypeSignature, max_len: u32) -> Result<Self, TypeError> {
        ListTypeData::new_list(entry, max_len)
            .map(|l| TypeSignature::SequenceType(SequenceSubtype::ListType(l)))
    }

    /// How deeply the type nests (a leaf type is 1).
    pub fn depth(&self) -> u8 {
        match self {
            TypeSignature::TupleType(t) => 1 + t.max_depth(),
            TypeSignature::SequenceType(SequenceSubtype::ListType(l)) => 1 + l.entry_type.depth(),
            TypeSignature::OptionalType(t) => 1 + t.depth(),
            TypeSignature::ResponseType(v) => 1 + v.0.depth().max(v.1.depth()),
            _ => 1,
        }
    }

    /// The size of the largest value of this type, as the reference computes it.
    pub fn size(&self) -> Result<u32, TypeError> {
        self.inner_size()?.ok_or(TypeError::ValueTooLarge)
    }

    fn inner_size(&self) -> Result<Option<u32>, TypeError> {
        Ok(match self {
            TypeSignature::NoType | TypeSignature::BoolType => Some(1),
            TypeSignature::IntType | TypeSignature::UIntType => Some(16),
            TypeSignature::PrincipalType => Some(148),
            TypeSignature::TupleType(t) => t.inner_size()?,
            TypeSignature::SequenceType(SequenceSubtype::BufferType(len))
            | TypeSignature::SequenceType(SequenceSubtype::StringType(StringSubtype::ASCII(len))) => {
                Some(4 + len.0)
            }
            TypeSignature::SequenceType(SequenceSubtype::ListType(l)) => l.inner_size()?,
            TypeSignature::SequenceType(SequenceSubtype::StringType(StringSubtype::UTF8(len))) => {
                Some(4 + 4 * len.0)
            }
            TypeSignature::OptionalType(t) => t.size()?.checked_add(WRAPPER_VALUE_SIZE),
            TypeSignature::ResponseType(v) => {
                v.0.size()?.max(v.1.size()?).checked_add(WRAPPER_VALUE_SIZE)
            }
            TypeSignature::CallableType(CallableSubtype::Principal(_))
            | TypeSignature::ListUnionType(_) => Some(148),
            TypeSignature::CallableType(CallableSubtype::Trait(_))
            | TypeSignature::TraitReferenceType(_) => Some(276),
        })
    }

    fn inner_type_size(&self) -> Option<u32> {
        match self {
            TypeSignature::TupleType(t) => t.type_size(),
            TypeSignature::SequenceType(SequenceSubtype::ListType(l)) => l.type_size(),
            TypeSignature::SequenceType(_) => Some(1 + 4),
            TypeSignature::OptionalType(t) => t.inner_type_size()?.checked_add(1),
            TypeSignature::ResponseType(v) => {
                v.0.inner_type_size()?
                    .checked_add(v.1.inner_type_size()?)?
                    .checked_add(1)
            }
            _ => Some(1),
        }
    }

    fn factor_out_no_type(a: &TypeSignature, b: &TypeSignature) -> Result<Self, TypeError> {
        match (a, b) {
            (TypeSignature::NoType, x) | (x, TypeSignature::NoType) => Ok(x.clone()),
            _ => Self::least_supertype(a, b),
        }
    }

    /// The smallest type both `a` and `b` fit in (the rules of Clarity 2.1 that decoding uses):
    /// `NoType` absorbs; buffers and strings take the longer bound; lists take the longer
    /// length and the entries' supertype (an empty list adopts the other's entry type);
    /// optionals and responses recurse; tuples recurse over `a`'s fields (fields only in `b`
    /// are ignored, as in the reference); anything else must be equal.
    pub fn least_supertype(a: &TypeSignature, b: &TypeSignature) -> Result<Self, TypeError> {
        use SequenceSubtype::*;
        use TypeSignature::*;
        match (a, b) {
            (TupleType(ta), TupleType(tb)) => {
                let mut out = BTreeMap::new();
                for (name, ea) in ta.type_map.iter() {
                    let eb = tb.type_map.get(name).ok_or(TypeError::NoSupertype)?;
                    out.insert(name.clone(), Self::least_supertype(ea, eb)?);
                }
                TupleTypeSignature::new(out)
                    .map(TupleType)
                    .map_err(|_| TypeError::ValueTooLarge)
            }
            (SequenceType(ListType(la)), SequenceType(ListType(lb))) => {
                let entry = if la.max_len == 0 {
                    (*lb.entry_type).clone()
                } else if lb.max_len == 0 {
                    (*la.entry_type).clone()
                } else {
                    Self::least_supertype(&la.entry_type, &lb.entry_type)?
                };
                Self::list_of(entry, la.max_len.max(lb.max_len))
                    .map_err(|_| TypeError::ValueTooLarge)
            }
            (ResponseType(ra), ResponseType(rb)) => {
                let ok = Self::factor_out_no_type(&ra.0, &rb.0)?;
                let err = Self::factor_out_no_type(&ra.1, &rb.1)?;
                Self::new_response(ok, err)
            }
            (OptionalType(oa), OptionalType(ob)) => {
                Self::new_option(Self::factor_out_no_type(oa, ob)?)
            }
            (SequenceType(BufferType(x)), SequenceType(BufferType(y))) => {
                Ok(SequenceType(BufferType(*x.max(y))))
            }
            (
                SequenceType(StringType(StringSubtype::ASCII(x))),
                SequenceType(StringType(StringSubtype::ASCII(y))),
            ) => Ok(SequenceType(StringType(StringSubtype::ASCII(*x.max(y))))),
            (
                SequenceType(StringType(StringSubtype::UTF8(x))),
                SequenceType(StringType(StringSubtype::UTF8(y))),
            ) => Ok(SequenceType(StringType(StringSubtype::UTF8(*x.max(y))))),
            (NoType, x) | (x, NoType) => Ok(x.clone()),
            (CallableType(x), CallableType(y)) => {
                if x == y {
                    Ok(a.clone())
                } else {
                    Ok(ListUnionType(BTreeSet::from([x.clone(), y.clone()])))
                }
            }
            (ListUnionType(l), CallableType(c)) | (CallableType(c), ListUnionType(l)) => {
                let mut set = l.clone();
                set.insert(c.clone());
                Ok(ListUnionType(set))
            }
            (PrincipalType, CallableType(CallableSubtype::Principal(_)))
            | (CallableType(CallableSubtype::Principal(_)), PrincipalType) => Ok(PrincipalType),
            (PrincipalType, ListUnionType(l)) | (ListUnionType(l), PrincipalType) => {
                if l.iter().all(|c| matches!(c, CallableSubtype::Principal(_))) {
                    Ok(PrincipalType)
                } else {
                    Err(TypeError::NoSupertype)
                }
            }
            (ListUnionType(l1), ListUnionType(l2)) => {
                Ok(ListUnionType(l1.union(l2).cloned().collect()))
            }
            (x, y) if x == y => Ok(x.clone()),
            _ => Err(TypeError::NoSupertype),
        }
    }

    /// The list type of a list with these entry types (an empty list's type for none).
    pub fn parent_list_type(children: &[TypeSignature]) -> Result<ListTypeData, TypeError> {
        let Some((first, rest)) = children.split_first() else {
            return Ok(ListTypeData::empty());
        };
        let mut entry = first.clone();
        for next in rest {
            entry = Self::least_supertype(&entry, next)?;
        }
        let len = u32::try_from(children.len()).map_err(|_| TypeError::ValueTooLarge)?;
        ListTypeData::new_list(entry, len)
    }
}

/// Clarity's own syntax, e.g. `(list 2 (optional int))`; `NoType` prints as `UnknownType`.
impl std::fmt::Display for TypeSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use SequenceSubtype::*;
        match self {
            TypeSignature::NoType => f.write_str("UnknownType"),
            TypeSignature::IntType => f.write_str("int"),
            TypeSignature::UIntType => f.write_str("uint"),
            TypeSignature::BoolType => f.write_str("bool"),
            TypeSignature::PrincipalType | TypeSignature::ListUnionType(_) => {
                f.write_str("principal")
            }
            TypeSignature::OptionalType(t) => write!(f, "(optional {t})"),
            TypeSignature::ResponseType(v) => write!(f, "(response {} {})", v.0, v.1),
            TypeSignature::TupleType(t) => {
                f.write_str("(tuple")?;
                for (name, t) in t.type_map.iter() {
                    write!(f, " ({name} {t})")?;
                }
                f.write_str(")")
            }
            TypeSignature::SequenceType(BufferType(len)) => write!(f, "(buff {})", len.0),
            TypeSignature::SequenceType(ListType(l)) => {
                write!(f, "(list {} {})", l.max_len, l.entry_type)
            }
            TypeSignature::SequenceType(StringType(StringSubtype::ASCII(len))) => {
                write!(f, "(string-ascii {})", len.0)
            }
            TypeSignature::SequenceType(StringType(StringSubtype::UTF8(len))) => {
                write!(f, "(string-utf8 {})", len.0)
            }
            TypeSignature::CallableType(CallableSubtype::Trait(t))
            | TypeSignature::TraitReferenceType(t) => {
                write!(f, "<{}.{}>", t.contract_identifier, t.name)
            }
            TypeSignature::CallableType(CallableSubtype::Principal(c)) => {
                write!(f, "(principal {c})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TypeSignature::*;

    fn buff(n: u32) -> TypeSignature {
        SequenceType(SequenceSubtype::BufferType(BufferLength::new(n).unwrap()))
    }

    #[test]
    fn int_and_uint_have_no_supertype() {
        assert_eq!(
            TypeSignature::least_supertype(&IntType, &UIntType),
            Err(TypeError::NoSupertype)
        );
    }

    #[test]
    fn buffers_take_the_longer_bound() {
        assert_eq!(
            TypeSignature::least_supertype(&buff(3), &buff(9)).unwrap(),
            buff(9)
        );
    }

    #[test]
    fn optional_none_absorbs_into_some() {
        let none = OptionalType(Box::new(NoType));
        let some_int = OptionalType(Box::new(IntType));
        assert_eq!(
            TypeSignature::least_supertype(&none, &some_int).unwrap(),
            some_int
        );
    }

    #[test]
    fn list_size_is_type_based() {
        // 16-byte entries: 65,536 of them plus the type overhead exceed 1 MiB.
        assert_eq!(
            TypeSignature::list_of(IntType, 65_536),
            Err(TypeError::ValueTooLarge)
        );
        assert!(TypeSignature::list_of(IntType, 65_000).is_ok());
    }

    #[test]
    fn sizes_match_the_reference_table() {
        assert_eq!(PrincipalType.size().unwrap(), 148);
        assert_eq!(buff(10).size().unwrap(), 14);
        let utf8 = SequenceType(SequenceSubtype::StringType(StringSubtype::UTF8(
            StringUTF8Length::new(3).unwrap(),
        )));
        assert_eq!(utf8.size().unwrap(), 16);
        assert_eq!(
            TypeSignature::new_option(IntType).unwrap().size().unwrap(),
            17
        );
    }

    #[test]
    fn depth_limit_on_wrappers() {
        let mut t = IntType;
        for _ in 0..31 {
            t = TypeSignature::new_option(t).unwrap();
        }
        assert_eq!(t.depth(), 32);
        assert_eq!(
            TypeSignature::new_option(t),
            Err(TypeError::TypeSignatureTooDeep)
        );
    }

    fn ascii(n: u32) -> TypeSignature {
        SequenceType(SequenceSubtype::StringType(StringSubtype::ASCII(
            BufferLength::new(n).unwrap(),
        )))
    }

    fn utf8(n: u32) -> TypeSignature {
        SequenceType(SequenceSubtype::StringType(StringSubtype::UTF8(
            StringUTF8Length::new(n).unwrap(),
        )))
    }

    fn tuple(fields: &[(&str, TypeSignature)]) -> TypeSignature {
        let map = fields
            .iter()
            .map(|(n, t)| (ClarityName::try_from(*n).unwrap(), t.clone()))
            .collect();
        TupleType(TupleTypeSignature::new(map).unwrap())
    }

    fn sup(a: &TypeSignature, b: &TypeSignature) -> Result<TypeSignature, TypeError> {
        TypeSignature::least_supertype(a, b)
    }

    #[test]
    fn no_type_absorbs_on_either_side() {
        assert_eq!(sup(&NoType, &IntType).unwrap(), IntType);
        assert_eq!(sup(&buff(4), &NoType).unwrap(), buff(4));
    }

    #[test]
    fn strings_take_the_longer_bound_but_kinds_never_mix() {
        assert_eq!(sup(&ascii(9), &ascii(2)).unwrap(), ascii(9));
        assert_eq!(sup(&utf8(1), &utf8(7)).unwrap(), utf8(7));
        assert_eq!(sup(&ascii(1), &utf8(1)), Err(TypeError::NoSupertype));
        assert_eq!(sup(&buff(1), &ascii(1)), Err(TypeError::NoSupertype));
        assert_eq!(sup(&PrincipalType, &BoolType), Err(TypeError::NoSupertype));
        assert_eq!(sup(&PrincipalType, &PrincipalType).unwrap(), PrincipalType);
    }

    #[test]
    fn lists_take_the_longer_length_and_an_empty_list_adopts_the_other_entry() {
        let empty = TypeSignature::list_of(NoType, 0).unwrap();
        let ints = TypeSignature::list_of(IntType, 3).unwrap();
        assert_eq!(sup(&empty, &ints).unwrap(), ints);
        assert_eq!(sup(&ints, &empty).unwrap(), ints);
        let a = TypeSignature::list_of(buff(2), 1).unwrap();
        let b = TypeSignature::list_of(buff(5), 4).unwrap();
        assert_eq!(
            sup(&a, &b).unwrap(),
            TypeSignature::list_of(buff(5), 4).unwrap()
        );
        let uints = TypeSignature::list_of(UIntType, 1).unwrap();
        assert_eq!(sup(&ints, &uints), Err(TypeError::NoSupertype));
    }

    #[test]
    fn responses_combine_ok_and_err_sides() {
        let ok_int = TypeSignature::new_response(IntType, NoType).unwrap();
        let err_uint = TypeSignature::new_response(NoType, UIntType).unwrap();
        assert_eq!(
            sup(&ok_int, &err_uint).unwrap(),
            TypeSignature::new_response(IntType, UIntType).unwrap()
        );
        let ok_uint = TypeSignature::new_response(UIntType, NoType).unwrap();
        assert_eq!(sup(&ok_int, &ok_uint), Err(TypeError::NoSupertype));
    }

    #[test]
    fn tuples_follow_the_first_tuples_fields() {
        let a = tuple(&[("a", IntType)]);
        let ab = tuple(&[("a", IntType), ("b", BoolType)]);
        assert_eq!(sup(&a, &ab).unwrap(), a);
        assert_eq!(sup(&ab, &a), Err(TypeError::NoSupertype));
        let a_buff = tuple(&[("a", buff(1))]);
        let a_buff9 = tuple(&[("a", buff(9))]);
        assert_eq!(sup(&a_buff, &a_buff9).unwrap(), a_buff9);
    }

    #[test]
    fn supertype_that_grows_too_large_is_refused() {
        // 16 x (buff 65,000) and 17 x (buff 1) each fit, but their supertype,
        // 17 x (buff 65,000), exceeds 1 MiB.
        let a = TypeSignature::list_of(buff(65_000), 16).unwrap();
        let b = TypeSignature::list_of(buff(1), 17).unwrap();
        assert_eq!(sup(&a, &b), Err(TypeError::ValueTooLarge));
        let c = TypeSignature::list_of(buff(1), 16).unwrap();
        assert_eq!(sup(&a, &c).unwrap(), a);
    }

    #[test]
    fn type_sizes_follow_the_reference_formulas() {
        // tuple {a: int}: 2n + type_size (2n + 1 + name) + (16 + name) = 2 + 4 + 17.
        assert_eq!(tuple(&[("a", IntType)]).size().unwrap(), 23);
        // list n of int: 16 n + (1 + 5).
        assert_eq!(
            TypeSignature::list_of(IntType, 3).unwrap().size().unwrap(),
            54
        );
        assert!(TypeSignature::list_of(IntType, 65_535).is_ok());
        assert_eq!(
            TypeSignature::new_response(IntType, buff(20))
                .unwrap()
                .size()
                .unwrap(),
            25
        );
        assert_eq!(NoType.size().unwrap(), 1);
        assert_eq!(BoolType.size().unwrap(), 1);
    }

    #[test]
    fn empty_tuple_type_is_refused() {
        assert_eq!(
            TupleTypeSignature::new(BTreeMap::new()),
            Err(TypeError::EmptyTuple)
        );
    }
}
