//! Home of the cross-crate integration suites in `tests/`; it has no code of its own.
