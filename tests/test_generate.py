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
