"""Reading the request files: streamed, bounded in memory, over-long lines and gzip bombs refused."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from dagster_project.raw_drop import MAX_LINE_BYTES, UnreadableFile, iter_lines


def test_lines_are_numbered_and_cleaned(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbf{\"a\": 1}\r\n\n{\"b\": \"\xff\"}\nlast without newline")
    assert list(iter_lines(path)) == [
        ('{"a": 1}', True, False, None),
        ("", True, False, None),
        ('{"b": "\ufffd"}', False, False, None),
        ("last without newline", True, False, None),
    ]


@pytest.mark.parametrize("gz", [False, True])
def test_a_line_over_1_mb_is_skipped_unread_and_the_next_line_read(tmp_path, gz):
    # random text, so that the gzip form compresses like real data (a run of one byte is a bomb)
    long_text, exact = random.randbytes(3 * MAX_LINE_BYTES // 2).hex(), random.randbytes(MAX_LINE_BYTES // 2).hex()
    data = f'{{"a": "{long_text}"}}\n{{"b": 1}}\n{exact}\n'.encode()
    path = tmp_path / ("a.jsonl.gz" if gz else "a.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    assert list(iter_lines(path)) == [
        ("", True, False, "line longer than 1 MB, not parsed"),
        ('{"b": 1}', True, False, None),
        (exact, True, False, None),  # exactly 1 MB is not longer than 1 MB
    ]


def test_a_gzip_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 5_000_000, compresslevel=9))  # 5 MB of newlines in ~5 KB
    lines = 0
    with pytest.raises(UnreadableFile, match="gzip stream expands more than 200 times"):
        for _ in iter_lines(path):
            lines += 1
    assert lines <= path.stat().st_size * 200


def test_a_broken_gzip_is_unreadable(tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(UnreadableFile, match="not a readable gzip file"):
        list(iter_lines(Path(path)))
