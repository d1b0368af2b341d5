"""The drop generator is deterministic, and the bundled sample is what it makes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from irr_dev.generate import write_drop
from dagster_project.resources import SAMPLE_RAW_DIR

SAMPLE_ARGS = {"requests": 6000, "seed": 7}  # as in README: irr generate --requests 6000 --seed 7 data/sample


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    write_drop(tmp_path / "a", 300, 11)
    write_drop(tmp_path / "b", 300, 11)
    write_drop(tmp_path / "c", 300, 12)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_bundled_sample_is_reproducible(tmp_path):
    write_drop(tmp_path / "s", **SAMPLE_ARGS)
    assert _digest(tmp_path / "s") == _digest(SAMPLE_RAW_DIR)


def test_tiled_drop_counts_every_copy_and_pads_the_directory(tmp_path):
    import gzip
    import json
    import subprocess
    import sys

    import duckdb

    root = Path(__file__).resolve().parent.parent
    for name in ("a", "b"):
        subprocess.run([sys.executable, str(root / "benchmarks" / "tile_drop.py"), str(tmp_path / name),
                        "--base", "300", "--times", "3", "--directory-rows", "5000"], check=True, capture_output=True)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    write_drop(tmp_path / "base", 300, 1)

    def ids(folder: Path) -> list[str]:
        found = []
        for path in sorted(folder.iterdir()):
            data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
            for line in data.decode().splitlines():
                try:
                    found.append(json.loads(line)["request_id"])
                except (ValueError, KeyError, TypeError):
                    found.append(None)  # the base's broken lines stay broken
        return found

    base, tiled = ids(tmp_path / "base" / "requests"), ids(tmp_path / "a" / "requests")
    assert len(tiled) == 3 * len(base)
    assert len({i for i in tiled if i}) == 3 * len({i for i in base if i})  # each copy has its own ids
    with duckdb.connect() as con:
        rows = con.execute(
            f"select count(*), count(distinct identifier_value) from read_parquet("
            f"'{tmp_path / 'a' / 'directory' / 'account_identifiers' / '*.parquet'}')").fetchone()
    assert rows[0] == 5000
    assert rows[1] > 5000 - 200
