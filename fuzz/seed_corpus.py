#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets (fuzz/corpus/<target>/).

Sources: the reference vectors in libsigner/tests/vectors (codec targets and `node_event`),
the recorded mock-node answers in fuzz/seeds/node_rpc_response (`NN-name.json`: NN is the
shape selector of the `node_rpc_response` target), the config files of the tests and
fuzz/seeds/config_toml (`config_toml`), and for `signerdb_file` a real signer database
(fuzz/seeds/signerdb_file, made by `stacks-signer run` and vacuumed to 512-byte pages) plus
small SQLite files made here with Python's sqlite3.
"""
import hashlib
import json
import pathlib
import sqlite3
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parent
VECTORS = REPO / "libsigner" / "tests" / "vectors"
SEEDS = ROOT / "seeds"

TARGETS = {
    "transaction": ["transactions.json"],
    "nakamoto_block": ["nakamoto_blocks.json"],
    "clarity_value": ["clarity_values.json"],
    "stackerdb_chunk": ["stackerdb.json"],
    "signer_message": ["signer_messages.json"],
}

# The selector byte of `node_event` for each path (fuzz/fuzz_targets/node_event.rs:
# libsigner::EVENT_PATHS, then two paths that are not event endpoints).
EVENT_SELECTORS = {
    "/stackerdb_chunks": 0,
    "/proposal_response": 1,
    "/new_burn_block": 2,
    "/new_block": 3,
    "/shutdown": 4,
}
OTHER_PATH_SELECTOR = 5


def seeds(case):
    for key in ("hex", "input_hex", "reencoded_hex"):
        value = case.get(key)
        if isinstance(value, str):
            try:
                yield bytes.fromhex(value)
            except ValueError:
                pass


def write(out, data):
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def codec_targets():
    for target, files in TARGETS.items():
        out = ROOT / "corpus" / target
        count = 0
        for name in files:
            doc = json.loads((VECTORS / name).read_text())
            for case in doc["cases"]:
                for data in seeds(case):
                    write(out, data)
                    count += 1
        print(f"{target}: {count} seeds")


def node_event():
    out = ROOT / "corpus" / "node_event"
    count = 0
    doc = json.loads((VECTORS / "events.json").read_text())
    for case in doc["cases"]:
        body = case.get("body")
        if not isinstance(body, str):
            continue
        selector = EVENT_SELECTORS.get(case.get("path"), OTHER_PATH_SELECTOR)
        write(out, bytes([selector]) + body.encode())
        count += 1
    print(f"node_event: {count} seeds")


def node_rpc_response():
    out = ROOT / "corpus" / "node_rpc_response"
    count = 0
    for path in sorted((SEEDS / "node_rpc_response").glob("*.json")):
        selector = int(path.name.split("-", 1)[0])
        write(out, bytes([selector]) + path.read_bytes())
        count += 1
    print(f"node_rpc_response: {count} seeds")


def config_toml():
    out = ROOT / "corpus" / "config_toml"
    files = sorted((REPO / "stacks-signer" / "tests" / "conf").glob("*.toml"))
    files += sorted((SEEDS / "config_toml").glob("*.toml"))
    for path in files:
        write(out, path.read_bytes())
    print(f"config_toml: {len(files)} seeds")


def sqlite_file(statements):
    """The bytes of a fresh SQLite file (512-byte pages, rollback journal) after `statements`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "seed.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA page_size=512")
        conn.executescript(statements)
        conn.commit()
        conn.close()
        return path.read_bytes()


def signerdb_file():
    out = ROOT / "corpus" / "signerdb_file"
    count = 0
    for path in sorted((SEEDS / "signerdb_file").glob("*.sqlite")):
        real = path.read_bytes()
        write(out, real)
        write(out, real[: len(real) // 2])
        count += 2
    made = [
        b"",
        sqlite_file("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                    "INSERT INTO customers (name) VALUES ('alice');"),
        sqlite_file("CREATE TABLE db_config (version INTEGER NOT NULL);"
                    "INSERT INTO db_config VALUES (18);"),
        sqlite_file("CREATE TABLE db_config (version INTEGER NOT NULL);"
                    "INSERT INTO db_config VALUES (19);"),
        sqlite_file("CREATE TABLE db_config (version INTEGER NOT NULL);"
                    "INSERT INTO db_config VALUES (99);"),
        sqlite_file("CREATE TABLE db_config (version INTEGER NOT NULL);"
                    "INSERT INTO db_config VALUES (-1);"),
    ]
    for data in made:
        write(out, data)
        count += 1
    print(f"signerdb_file: {count} seeds")


def main():
    codec_targets()
    node_event()
    node_rpc_response()
    config_toml()
    signerdb_file()


if __name__ == "__main__":
    main()
