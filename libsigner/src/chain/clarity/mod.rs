//! Clarity: identifiers, principals and values with their consensus encoding.

pub mod names;
pub mod principal;

pub use names::{ClarityName, ContractName, NameError};
pub use principal::{
    PrincipalData, PrincipalError, QualifiedContractIdentifier, StandardPrincipalData, MINERS_NAME,
    SIGNERS_NAME,
};
