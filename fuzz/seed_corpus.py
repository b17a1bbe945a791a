#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the reference vectors in libsigner/tests/vectors."""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent
VECTORS = ROOT.parent / "libsigner" / "tests" / "vectors"

TARGETS = {
    "transaction": ["transactions.json"],
    "nakamoto_block": ["nakamoto_blocks.json"],
    "clarity_value": ["clarity_values.json"],
    "stackerdb_chunk": ["stackerdb.json"],
    "signer_message": ["signer_messages.json"],
}


def seeds(case):
    for key in ("hex", "input_hex", "reencoded_hex"):
        value = case.get(key)
        if isinstance(value, str):
            try:
                yield bytes.fromhex(value)
            except ValueError:
                pass


def main():
    for target, files in TARGETS.items():
        out = ROOT / "corpus" / target
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for name in files:
            doc = json.loads((VECTORS / name).read_text())
            for case in doc["cases"]:
                for data in seeds(case):
                    digest = hashlib.sha1(data).hexdigest()
                    (out / digest).write_bytes(data)
                    count += 1
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
