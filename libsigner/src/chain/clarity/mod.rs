//! Clarity: identifiers, principals, type signatures and values with their consensus
//! encoding.

pub mod names;
pub mod principal;
pub mod serialization;
pub mod types;
pub mod value;

pub use names::{ClarityName, ContractName, NameError};
pub use principal::{
    PrincipalData, PrincipalError, QualifiedContractIdentifier, StandardPrincipalData, MINERS_NAME,
    SIGNERS_NAME,
};
pub use serialization::BOUND_VALUE_SERIALIZATION_BYTES;
pub use types::{
    BufferLength, CallableSubtype, ListTypeData, SequenceSubtype, StringSubtype, StringUTF8Length,
    TraitIdentifier, TupleTypeSignature, TypeError, TypeSignature, MAX_TYPE_DEPTH, MAX_VALUE_SIZE,
};
pub use value::{
    ASCIIData, BuffData, CallableData, CharType, ListData, OptionalData, ResponseData,
    SequenceData, TupleData, UTF8Data, Value,
};
