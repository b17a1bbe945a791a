//! The safety fixture suite (`tests/fixtures/safety/*.json`, format in `docs/testing.md`):
//! steps of votes with the expected outcome, restarts, network decisions, pruning and a
//! reference database taken over, run against this signer's database on a real SQLite file.
//!
//! The files are generated from `safety_fixtures_support/cases.rs`; after changing a case,
//! regenerate them with `SAFETY_FIXTURES_WRITE=1 cargo test -p stacks-signer --test
//! safety_fixtures the_fixture_files_are_the_written_out_cases`.

mod safety_fixtures_support;
mod signerdb_support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use safety_fixtures_support::format::{Fixture, Step};
use safety_fixtures_support::{cases, fixtures_dir, runner};

/// The fixture files on disk, by file stem, with their text.
fn files() -> BTreeMap<String, (PathBuf, String)> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(fixtures_dir()).expect("the fixtures directory exists");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("json"),
            "{} is not a .json fixture",
            path.display()
        );
        let text = std::fs::read_to_string(&path).expect("a readable fixture");
        out.insert(stem, (path, text));
    }
    out
}

/// Every fixture file, parsed; panics naming the file that does not parse.
fn fixtures() -> Vec<Fixture> {
    files()
        .into_iter()
        .map(|(_, (path, text))| {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()))
        })
        .collect()
}

#[test]
fn the_suite_has_at_least_fifty_cases_and_every_file_passes_the_schema_check() {
    let files = files();
    assert!(
        files.len() >= 50,
        "only {} safety fixtures in {}",
        files.len(),
        fixtures_dir().display()
    );
    let mut problems = Vec::new();
    for (stem, (path, text)) in &files {
        match serde_json::from_str::<Fixture>(text) {
            Err(e) => problems.push(format!("{}: does not parse: {e}", path.display())),
            Ok(fixture) => {
                for problem in fixture.check(stem) {
                    problems.push(format!("{}: {problem}", path.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_schema_check_refuses_malformed_fixtures() {
    let good = cases::all()
        .into_iter()
        .find(|f| f.name == "import_pre_committed_row_is_a_pre_commit")
        .expect("the case exists");
    assert_eq!(good.check(&good.name), Vec::<String>::new());
    let text = good.to_file_text();
    // Shape: an unknown field, an unknown op, an unknown refusal.
    for (from, to) in [
        ("\"window_secs\"", "\"window_sec\""),
        ("\"op\":\"expect_record\"", "\"op\":\"expect_records\""),
        ("\"already_accepted\"", "\"already_voted\""),
    ] {
        let bad = text.replacen(from, to, 1);
        assert_ne!(bad, text, "{from} is in the file");
        assert!(
            serde_json::from_str::<Fixture>(&bad).is_err(),
            "{from} -> {to} still parses"
        );
    }
    // Meaning: the name, a header that is not the block's, an import after a vote, a
    // refusal without `refused`, an unknown block.
    let mut renamed = good.clone();
    renamed.name = "other".into();
    let mut wrong_header = good.clone();
    if let Some(def) = wrong_header.blocks.get_mut("B") {
        def.height += 1;
    }
    let mut late_import = good.clone();
    late_import.steps.rotate_left(1);
    let mut stray_refusal = good.clone();
    if let Some(Step::Vote { refusal, .. }) = stray_refusal.steps.last_mut() {
        *refusal = Some(safety_fixtures_support::format::Refusal::AlreadyAccepted);
    }
    let mut unknown_block = good.clone();
    unknown_block.steps.push(Step::NetworkAccepted {
        block: "nowhere".into(),
        at: 1,
    });
    for (what, fixture) in [
        ("name", renamed),
        ("header", wrong_header),
        ("import", late_import),
        ("refusal", stray_refusal),
        ("block", unknown_block),
    ] {
        assert!(
            !fixture.check(&good.name).is_empty(),
            "a fixture with a bad {what} passes the check"
        );
    }
}

#[test]
fn the_fixture_files_are_the_written_out_cases() {
    let cases = cases::all();
    let dir = fixtures_dir();
    if std::env::var_os("SAFETY_FIXTURES_WRITE").is_some() {
        for (_, (path, _)) in files() {
            std::fs::remove_file(&path).expect("an old fixture removed");
        }
        for case in &cases {
            let path = dir.join(format!("{}.json", case.name));
            std::fs::write(&path, case.to_file_text()).expect("a fixture written");
        }
    }
    let files = files();
    let mut problems = Vec::new();
    for case in &cases {
        match files.get(&case.name) {
            None => problems.push(format!("{}.json is missing", case.name)),
            Some((path, text)) if *text != case.to_file_text() => {
                problems.push(format!("{} differs from its case", path.display()))
            }
            Some(_) => {}
        }
    }
    for stem in files.keys() {
        if !cases.iter().any(|c| &c.name == stem) {
            problems.push(format!("{stem}.json has no case"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n(regenerate with SAFETY_FIXTURES_WRITE=1)",
        problems.join("\n")
    );
}

#[test]
fn every_case_belongs_to_a_group_and_docs_testing_md_lists_them() {
    let cases = cases::all();
    for case in &cases {
        assert!(
            cases::GROUPS
                .iter()
                .any(|(prefix, _)| case.name.starts_with(prefix)),
            "{} belongs to no group",
            case.name
        );
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/testing.md");
    let text = std::fs::read_to_string(&path).expect("docs/testing.md");
    let begin = "<!-- BEGIN GENERATED: safety fixture cases -->\n";
    let end = "<!-- END GENERATED -->";
    let (before, rest) = text.split_once(begin).expect("the begin marker");
    let (section, after) = rest.split_once(end).expect("the end marker");
    let generated = cases::markdown_list(&cases);
    if section == generated {
        return;
    }
    if std::env::var_os("SAFETY_FIXTURES_WRITE").is_some() {
        std::fs::write(&path, format!("{before}{begin}{generated}{end}{after}"))
            .expect("docs/testing.md written");
        return;
    }
    panic!("docs/testing.md lists other cases (regenerate with SAFETY_FIXTURES_WRITE=1)");
}

#[test]
fn every_safety_fixture_holds_against_the_signer_database() {
    let fixtures = fixtures();
    let votes: usize = fixtures.iter().map(Fixture::votes).sum();
    // Each vote is a durable (fsync'd) write: run the files four at a time.
    let mut failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = fixtures
            .chunks(fixtures.len().div_ceil(4).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|f| {
                            runner::run(f)
                                .err()
                                .map(|e| format!("{}.json: {e}", f.name))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a fixture worker finished"))
            .collect()
    });
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} safety fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    println!(
        "{} safety fixtures, {votes} vote steps, all hold",
        fixtures.len()
    );
}
