//! Any bytes as an existing database file: `SignerDb::open` (what `stacks-signer run` does
//! first) never panics; it opens the file (then the schema is current) or refuses it with a
//! one-line error (the first refusal of each kind is printed).
//!
//! Every run writes the bytes to one file per fuzz process (removing the WAL and lock files
//! the previous run left), so the disk use stays constant.
#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use stacks_signer::signerdb::{SignerDb, SignerDbError, SCHEMA_VERSION};

fn db_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("signerdb-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("signer.sqlite")
    })
}

fn remove_side_files(path: &PathBuf) {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
}

fuzz_target!(|data: &[u8]| {
    let path = db_path();
    remove_side_files(path);
    std::fs::write(path, data).expect("write the candidate file");
    match SignerDb::open(path) {
        Ok(db) => {
            assert_eq!(
                db.schema_version().expect("version of an open db"),
                SCHEMA_VERSION
            );
        }
        Err(e) => {
            let line = e.to_string();
            assert!(!line.is_empty() && !line.contains('\n'), "{line}");
            report_first(&e);
        }
    }
});

/// Prints the first refusal of each error variant, so a campaign shows which refusals the
/// inputs reached.
fn report_first(e: &SignerDbError) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let debug = format!("{e:?}");
    let variant: String = debug.chars().take_while(|c| c.is_alphanumeric()).collect();
    let Ok(mut seen) = SEEN.lock() else {
        return;
    };
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(variant.clone())
    {
        eprintln!("signerdb_file: first {variant}: {e}");
    }
}
