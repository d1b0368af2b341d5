"""Reading the request files: streamed, bounded in memory, over-long lines and gzip bombs refused."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import duckdb
import pytest

from dagster_project import raw_drop
from dagster_project.raw_drop import MAX_LINE_BYTES, UnreadableFile, iter_batches, iter_lines


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
    assert lines <= raw_drop.MAX_GZIP_RATIO * max(path.stat().st_size, raw_drop.GZIP_RATIO_FLOOR)


def test_a_broken_gzip_is_unreadable(tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(UnreadableFile, match="not a readable gzip file"):
        list(iter_lines(Path(path)))


def test_the_48_kb_bomb_is_stopped_after_a_few_blocks(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 50_000_000, compresslevel=9))
    lines = 0
    with pytest.raises(UnreadableFile, match="gzip stream expands more than 200 times"):
        for texts, *_ in iter_batches(path):
            lines += len(texts)
    assert lines <= raw_drop.MAX_GZIP_RATIO * raw_drop.GZIP_RATIO_FLOOR * 2  # of 50 million


def test_a_bomb_hidden_before_a_small_last_member_is_stopped_while_read(tmp_path):
    # the trailer of the last member says 3 bytes: only reading finds the bomb in the first one
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 5_000_000, compresslevel=9) + gzip.compress(b"{}\n"))
    lines = 0
    with pytest.raises(UnreadableFile, match="gzip stream expands more than 200 times"):
        for texts, *_ in iter_batches(path):
            lines += len(texts)
    assert lines <= raw_drop.MAX_GZIP_RATIO * max(path.stat().st_size, raw_drop.GZIP_RATIO_FLOOR)


def test_a_padded_bomb_is_stopped_within_the_bound(tmp_path):
    # the 48 KB bomb, then 300 KB of incompressible padding in a stored member: the trailer
    # states 300 KB and the file's size allows 70 MB, but the bomb is measured as it is read
    path = tmp_path / "padded.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 50_000_000, 9) + gzip.compress(random.randbytes(300_000), 0))
    lines = 0
    with pytest.raises(UnreadableFile, match="gzip stream expands more than 200 times"):
        for texts, *_ in iter_batches(path):
            lines += len(texts)
    assert lines <= 2_000_000


def test_multi_member_gzip_and_zero_padding_are_read_whole(tmp_path):
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n') + b"\0" * 10)
    assert [t for t, *_ in iter_lines(path)] == ['{"a": 1}', '{"b": 2}']


def test_a_truncated_or_corrupted_gzip_is_unreadable(tmp_path):
    data = gzip.compress(random.randbytes(50_000).hex().encode() + b"\n")
    for name, broken in (("cut", data[:-20]), ("flipped", data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])):
        path = tmp_path / f"{name}.jsonl.gz"
        path.write_bytes(broken)
        with pytest.raises(UnreadableFile, match="not a readable gzip file"):
            list(iter_lines(path))


def _reference(data: bytes, limit: int) -> list[tuple]:
    """What the contract says of a file's lines, computed the slow, obvious way."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    out = []
    for body in lines:
        if len(body.removesuffix(b"\r")) > limit:
            out.append(("", True, False, "line longer than 1 MB, not parsed"))
            continue
        body = body.removesuffix(b"\r")
        try:
            text, ok = body.decode("utf-8"), True
        except UnicodeDecodeError:
            text, ok = body.decode("utf-8", errors="replace"), False
        out.append((text.replace("\x00", "\ufffd"), ok, "\x00" in text, None))
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_lines_split_across_blocks_read_as_the_reference_says(tmp_path, monkeypatch, gz):
    # tiny blocks and a tiny line limit, so that lines, CRs, BOMs and UTF-8 sequences straddle
    # block boundaries and the limit in every way
    monkeypatch.setattr(raw_drop, "BLOCK_BYTES", 7)
    monkeypatch.setattr(raw_drop, "MAX_LINE_BYTES", 12)
    pieces = [b"", b"{}", b"\r", b"\x00", b"\xff", "é€𝄞".encode(), b"abcdefghij", b"x" * 12, b"y" * 13,
              b"z" * 30, b"\xef\xbb\xbf"]
    rng = random.Random(11)
    for trial in range(300):
        data = b"\xef\xbb\xbf" if rng.random() < 0.2 else b""
        for _ in range(rng.randint(0, 8)):
            data += b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
            if rng.random() < 0.8:
                data += rng.choice([b"\n", b"\r\n"])
        path = tmp_path / f"t{trial}.jsonl{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(data) if gz else data)
        assert list(iter_lines(path)) == _reference(data, 12), data


@pytest.mark.parametrize("member_bytes", [100, 2_000, 16_384, 65_536, 1_048_576])
def test_multi_member_gzip_reads_as_its_decompressed_bytes(tmp_path, member_bytes):
    # as `cat a.gz b.gz`, bgzip or a streaming writer make them: members that end anywhere in a
    # line, several in one read chunk, one ending in the input of a read cut short by the block
    # size (zlib then keeps the rest of the input in two places)
    data = b"".join(f'{{"request_id": "R{i:07d}", "country": "US", "outcome": "disclosed"}}\n'.encode()
                    for i in range(40_000))
    members = b"".join(gzip.compress(data[i:i + member_bytes]) for i in range(0, len(data), member_bytes))
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(members)
    assert list(iter_lines(path)) == _reference(gzip.decompress(members), MAX_LINE_BYTES)


@pytest.mark.parametrize("padding", [b"\0" * 300_000, "stored"], ids=["zeros", "stored-member"])
def test_a_bomb_after_padding_is_stopped(tmp_path, padding):
    padding = gzip.compress(random.randbytes(300_000), 0) if padding == "stored" else padding
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(padding + gzip.compress(b"\n" * 50_000_000, 9))
    lines = 0
    with pytest.raises(UnreadableFile, match="gzip stream expands more than 200 times"):
        for texts, *_ in iter_batches(path):
            lines += len(texts)
    assert lines <= 2_000_000


# the directory as a folder of part files, as a data lake writes it (CONTRACT 1.3) ---------------

SAMPLE_DIRECTORY = Path(__file__).resolve().parent.parent / "data" / "sample" / "directory"


def _raw_rows(raw: Path, table: str) -> list[tuple]:
    with duckdb.connect() as con:
        count = raw_drop.load_directory_table(con, raw, table)
        rows = con.execute(f"select * from raw.{table}").fetchall()
    assert count == len(rows)
    return sorted(rows, key=lambda row: tuple("" if v is None else v for v in row))


def _split_into_parts(source: Path, folder: Path) -> None:
    """The sample table as a lake writes it: a Parquet part, a CSV part, a gzipped CSV part in a
    subfolder (columns in another order), and the lake's bookkeeping files."""
    folder.mkdir(parents=True)
    (folder / "year=2024").mkdir()
    with duckdb.connect() as con:
        con.execute(f"create table t as select * from read_csv('{source}', all_varchar = true, header = true)")
        n = con.execute("select count(*) from t").fetchone()[0]
        columns = [row[0] for row in con.execute("describe t").fetchall()]
        third = n // 3
        con.execute(f"copy (select * from t limit {third}) to '{folder / 'part-00000.snappy.parquet'}'")
        con.execute(f"copy (select * from t limit {third} offset {third}) to '{folder / 'part-00001.csv'}'")
        reversed_columns = ", ".join(f'"{c}"' for c in reversed(columns))
        con.execute(f"copy (select {reversed_columns} from t offset {2 * third}) "
                    f"to '{folder / 'year=2024' / 'part-00002.csv.gz'}'")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.snappy.parquet.crc").write_bytes(b"\0\1")


@pytest.mark.parametrize("table", ["account_identifiers", "videos", "short_links"])
def test_a_folder_of_part_files_loads_the_same_rows_as_one_file(tmp_path, table):
    source = next(SAMPLE_DIRECTORY.glob(f"{table}.*"))
    one_file, parts = tmp_path / "one" / "directory", tmp_path / "parts" / "directory"
    one_file.mkdir(parents=True)
    (one_file / source.name).write_bytes(source.read_bytes())
    _split_into_parts(source, parts / table)
    assert _raw_rows(tmp_path / "parts", table) == _raw_rows(tmp_path / "one", table)
    assert len(_raw_rows(tmp_path / "one", table)) > 100


HEADER = "account_id,identifier_type,identifier_value,valid_from,valid_to\n"
GOOD_ROW = "6812345678901234567,username,jane.doe,,\n"


def _drop_with_parts(root: Path, parts: dict[str, str]) -> Path:
    folder = root / "directory" / "account_identifiers"
    for name, text in parts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return root


def _load_error(raw: Path) -> str:
    with duckdb.connect() as con, pytest.raises(raw_drop.DropError) as caught:
        raw_drop.load_directory_table(con, raw, "account_identifiers")
    return str(caught.value)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"a/part-0.csv": HEADER + GOOD_ROW, "b/part-1.csv": HEADER + GOOD_ROW + "6.8e+18,username,x,,\n"},
         "directory/account_identifiers/b/part-1.csv line 3: account_id is not a string of digits"),
        ({"part-0.csv": HEADER + GOOD_ROW + "\n" + GOOD_ROW.replace("jane.doe", '"jane\ndoe"')
          + "6.8e+18,username,x,,\n"},
         "directory/account_identifiers/part-0.csv line 6: account_id is not a string of digits"),
        ({"part-0.csv": HEADER + GOOD_ROW, "notes.txt": "hello"},
         "directory/account_identifiers/notes.txt is not a part file (.parquet, .csv, .csv.gz)"),
        ({"_SUCCESS": ""}, "directory/account_identifiers/ holds no part file (.parquet, .csv, .csv.gz)"),
        ({"part-0.csv": HEADER, "part-1.csv": HEADER},
         "directory/account_identifiers/ has no rows: an empty directory table would resolve nothing"),
        ({"part-0.csv": HEADER + GOOD_ROW, "part-1.csv": "account_id,identifier_type\n1,email\n"},
         "directory/account_identifiers/part-1.csv lacks column(s) identifier_value, valid_from, valid_to"),
    ],
    ids=["float-id-in-second-part", "after-a-blank-line-and-a-two-line-field", "stray-file", "only-bookkeeping", "header-only-parts", "missing-column"],
)
def test_a_broken_part_fails_naming_the_part_and_line(tmp_path, parts, expected):
    assert _load_error(_drop_with_parts(tmp_path, parts)) == expected


def test_a_part_that_is_a_symbolic_link_is_not_followed(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(HEADER + GOOD_ROW)
    raw = _drop_with_parts(tmp_path / "raw", {"part-0.csv": HEADER + GOOD_ROW})
    (raw / "directory" / "account_identifiers" / "part-1.csv").symlink_to(outside)
    assert _load_error(raw) == ("directory/account_identifiers/part-1.csv is a symbolic link: "
                                "a run never reads outside the drop")


def test_a_table_given_as_a_file_and_a_folder_fails(tmp_path):
    raw = _drop_with_parts(tmp_path, {"part-0.csv": HEADER + GOOD_ROW})
    (raw / "directory" / "account_identifiers.csv").write_text(HEADER + GOOD_ROW)
    assert _load_error(raw) == ("directory/ holds account_identifiers more than once "
                                "(account_identifiers.csv, account_identifiers/); keep one")


def test_parquet_parts_are_read_in_place_with_the_same_rows(tmp_path):
    source = SAMPLE_DIRECTORY / "account_identifiers.csv"
    one_file, parts = tmp_path / "one" / "directory", tmp_path / "parts" / "directory" / "account_identifiers"
    one_file.mkdir(parents=True)
    (one_file / source.name).write_bytes(source.read_bytes())
    (parts / "year=2024").mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(f"create table t as select * from read_csv('{source}', all_varchar = true, header = true)")
        con.execute(f"copy (select * from t limit 4000) to '{parts / 'part-0.parquet'}'")
        con.execute(f"copy (select valid_to, * exclude (valid_to) from t offset 4000) "
                    f"to '{parts / 'year=2024' / 'part-1.parquet'}'")
    (parts / "_SUCCESS").write_text("")
    assert _raw_rows(tmp_path / "parts", "account_identifiers") == _raw_rows(tmp_path / "one", "account_identifiers")
    with duckdb.connect() as con:
        raw_drop.load_directory_table(con, tmp_path / "parts", "account_identifiers")
        kind = con.execute("select table_type from information_schema.tables "
                           "where table_schema = 'raw' and table_name = 'account_identifiers'").fetchone()[0]
        # read where it lies: the warehouse holds a view, not a copy of the directory
        assert kind == "VIEW"
        # a later drop of CSV files replaces the view with a table
        raw_drop.load_directory_table(con, tmp_path / "one", "account_identifiers")
        assert con.execute("select table_type from information_schema.tables "
                           "where table_name = 'account_identifiers'").fetchone()[0] == "BASE TABLE"


def test_a_bad_id_in_a_parquet_part_names_the_part_and_row(tmp_path):
    folder = tmp_path / "directory" / "account_identifiers"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        for n, ids in enumerate((["6812345678901234567", "6812345678901234568"],
                                 ["6812345678901234569", "6.8e+18", "12x"])):
            con.execute(
                f"copy (select unnest(?::varchar[]) as account_id, 'username' as identifier_type, "
                f"'jane.doe' as identifier_value, null as valid_from, null as valid_to) "
                f"to '{folder / f'part-{n}.parquet'}'", [ids])
    assert _load_error(tmp_path) == "directory/account_identifiers/part-1.parquet row 2: account_id is not a string of digits"


def test_a_spark_named_folder_and_empty_partitions_are_read(tmp_path):
    # Spark writes df.write.parquet("account_identifiers.parquet") as a folder; empty partitions
    # come out as empty files
    raw = tmp_path / "raw"
    folder = raw / "directory" / "account_identifiers.csv"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text(HEADER + GOOD_ROW)
    (folder / "part-1.csv").write_text("")
    with duckdb.connect() as con:
        assert raw_drop.load_directory_table(con, raw, "account_identifiers") == 1


@pytest.mark.parametrize("as_folder", [False, True])
def test_a_directory_table_that_is_a_symbolic_link_is_not_followed(tmp_path, as_folder):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "account_identifiers.csv").write_text(HEADER + GOOD_ROW)
    directory = tmp_path / "raw" / "directory"
    directory.mkdir(parents=True)
    name = "account_identifiers" if as_folder else "account_identifiers.csv"
    (directory / name).symlink_to(outside if as_folder else outside / "account_identifiers.csv")
    assert _load_error(tmp_path / "raw") == (f"directory/{name} is a symbolic link: "
                                             "a run never reads outside the drop")


def _lines_of_a_fresh_load(raw: Path) -> list[tuple]:
    with duckdb.connect() as con:
        raw_drop.load_request_lines(con, raw)
        return con.execute("select * from raw.request_lines order by all").fetchall()


def _reload(con: duckdb.DuckDBPyConnection, raw: Path, **kwargs) -> tuple[list[str], list[tuple]]:
    """Load again into `con`: the files read this time, and the lines it then holds."""
    counts = raw_drop.load_request_lines(con, raw, **kwargs)
    read = sorted(name for name, (_, was_read) in counts.items() if was_read)
    return read, con.execute("select * from raw.request_lines order by all").fetchall()


def test_a_file_loaded_before_with_the_same_bytes_is_not_read_again(tmp_path):
    """Per-file fingerprints: a run reads only new and changed files, and then holds exactly the
    lines (and file order) a load of the whole drop from nothing would."""
    raw = tmp_path / "raw"
    folder = raw / "requests"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (folder / "c.jsonl.gz").write_bytes(gzip.compress(b'{"c": 1}\n'))
    (folder / "d.jsonl.gz").write_bytes(b"not gzip at all")
    (folder / "e.jsonl").symlink_to(folder / "a.jsonl")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert _reload(con, raw)[0] == ["a.jsonl", "c.jsonl.gz", "d.jsonl.gz", "e.jsonl"]
        assert _reload(con, raw) == (["e.jsonl"], _lines_of_a_fresh_load(raw))  # the link is listed again

        # a new file before c (c's index moves), c changed in place
        (folder / "b.jsonl").write_text('{"b": 1}\n')
        (folder / "c.jsonl.gz").write_bytes(gzip.compress(b'{"c": 2}\n{"c": 3}\n'))
        assert _reload(con, raw) == (["b.jsonl", "c.jsonl.gz", "e.jsonl"], _lines_of_a_fresh_load(raw))

        # a file removed: its lines go, the later files move up
        (folder / "a.jsonl").unlink()
        (folder / "e.jsonl").unlink()
        assert _reload(con, raw) == ([], _lines_of_a_fresh_load(raw))

        # --full-refresh, or another reader version, reads every file again
        everything = ["b.jsonl", "c.jsonl.gz", "d.jsonl.gz"]
        assert _reload(con, raw, full=True) == (everything, _lines_of_a_fresh_load(raw))
        con.execute("update raw.request_files set reader_version = reader_version - 1")
        assert _reload(con, raw)[0] == everything


def test_a_load_stopped_half_way_changes_nothing(tmp_path, monkeypatch):
    """The load is one transaction: stopped while reading a changed file, the lines stay those
    of the last load, and the next load reads only that file."""
    raw = tmp_path / "raw"
    folder = raw / "requests"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"a": 1}\n')
    (folder / "b.jsonl").write_text('{"b": 0}\n')
    insert = raw_drop._insert_lines

    def stopped(con, path, index, stop):
        insert(con, path, index, stop)
        raise KeyboardInterrupt

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _reload(con, raw)
        before = con.execute("select * from raw.request_lines order by all").fetchall()
        (folder / "b.jsonl").write_text("".join(f'{{"b": {i}}}\n' for i in range(5)))
        monkeypatch.setattr(raw_drop, "_insert_lines", stopped)
        with pytest.raises(KeyboardInterrupt):
            raw_drop.load_request_lines(con, raw)
        assert con.execute("select * from raw.request_lines order by all").fetchall() == before
        monkeypatch.setattr(raw_drop, "_insert_lines", insert)
        assert _reload(con, raw) == (["b.jsonl"], _lines_of_a_fresh_load(raw))


def test_parquet_parts_whose_bytes_passed_the_id_check_are_not_scanned_again(tmp_path):
    folder = tmp_path / "directory" / "account_identifiers"
    folder.mkdir(parents=True)

    def write_part(name: str, account_id: str) -> None:
        with duckdb.connect() as con:
            con.execute(f"copy (select '{account_id}' as account_id, 'username' as identifier_type, "
                        f"'jane.doe' as identifier_value, '' as valid_from, '' as valid_to) to '{folder / name}'")

    write_part("part-0.parquet", "6812345678901234567")
    write_part("part-1.parquet", "6812345678901234568")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        def load(full: bool = False) -> list[str]:
            checked: list[str] = []
            assert raw_drop.load_directory_table(con, tmp_path, "account_identifiers", full, checked) == 2
            return checked

        assert load() == []  # scanned
        assert load() == ["account_identifiers"]  # the same bytes: not scanned again
        assert load(full=True) == []  # --full-refresh scans anyway
        # a part rewritten with an id that is not digits is scanned, and fails the run
        write_part("part-1.parquet", "6.8e+18")
        with pytest.raises(raw_drop.DropError, match="part-1.parquet row 1: account_id is not a string of digits"):
            load()
        with pytest.raises(raw_drop.DropError):  # and again: a failed check is not remembered
            load()
        write_part("part-1.parquet", "6812345678901234568")
        assert load() == []  # bytes it has not passed since: scanned
        assert load() == ["account_identifiers"]


def _two_parquet_parts(raw: Path) -> Path:
    """directory/account_identifiers/ of `raw` as two Parquet parts of one row each; the folder."""
    folder = raw / "directory" / "account_identifiers"
    folder.mkdir(parents=True)
    for n in range(2):
        with duckdb.connect() as con:
            con.execute(f"copy (select '681234567890123456{n}' as account_id, 'username' as identifier_type, "
                        f"'jane.doe' as identifier_value, '' as valid_from, '' as valid_to) "
                        f"to '{folder / f'part-{n}.parquet'}'")
    return folder


def test_a_parquet_part_replaced_or_gone_after_the_load_is_told(tmp_path):
    """directory_changed: the parts a view reads where they lie, as the load stamped them before
    their check; a part rewritten or removed since is named, a directory of CSV files (copied
    into the warehouse) has none."""
    folder = _two_parquet_parts(tmp_path)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        raw_drop.load_directory_table(con, tmp_path, "account_identifiers")
        assert raw_drop.directory_changed(con) == []
        with duckdb.connect() as other:  # the same rows, other bytes
            other.execute(f"copy (select * replace (upper(identifier_value) as identifier_value) "
                          f"from '{folder / 'part-1.parquet'}') to '{folder / 'new.parquet'}'")
        (folder / "new.parquet").replace(folder / "part-1.parquet")
        assert raw_drop.directory_changed(con) == ["directory/account_identifiers/part-1.parquet"]
        # rewritten in place, the same size, its modification time set back (as `cp -p` does)
        raw_drop.load_directory_table(con, tmp_path, "account_identifiers")
        part = folder / "part-0.parquet"
        before, data = part.stat(), part.read_bytes()
        assert b"jane.doe" in data
        part.write_bytes(data.replace(b"jane.doe", b"JANE.DOE"))
        os.utime(part, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert (part.stat().st_size, part.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        assert raw_drop.directory_changed(con) == ["directory/account_identifiers/part-0.parquet"]
        (folder / "part-1.parquet").unlink()
        assert raw_drop.directory_changed(con) == ["directory/account_identifiers/part-0.parquet",
                                                   "directory/account_identifiers/part-1.parquet"]
        # loaded again, as they are now: nothing changed since
        raw_drop.load_directory_table(con, tmp_path, "account_identifiers")
        assert raw_drop.directory_changed(con) == []
        # a CSV directory is copied: nothing is read where it lies
        (folder / "part-0.parquet").unlink()
        (folder / "part-1.csv").write_text("account_id,identifier_type,identifier_value,valid_from,valid_to\n"
                                           "6812345678901234560,username,jane.doe,,\n")
        raw_drop.load_directory_table(con, tmp_path, "account_identifiers")
        (folder / "part-1.csv").unlink()
        assert raw_drop.directory_changed(con) == []
        assert con.execute("select count(*) from raw.directory_parts").fetchone() == (0,)


def test_the_drops_fingerprint_reads_again_only_what_the_load_did_not_hash(tmp_path, monkeypatch):
    """publish.input_fingerprint: sha256 over each file's path and sha256, in path order. The
    load's digests (request files, Parquet parts) serve while a file's stamp is unchanged."""
    import hashlib

    from dagster_project import publish

    raw = tmp_path / "raw"
    (raw / "requests").mkdir(parents=True)
    request = raw / "requests" / "2024.jsonl"
    request.write_text('{"request_id": "R1"}\n{"request_id": "R2"}\n')
    folder = _two_parquet_parts(raw)
    (raw / "directory" / "videos.csv").write_text("video_id,account_id\n1,6812345678901234560\n")
    (raw / "README.txt").write_text("a file the load does not read\n")

    def definition() -> str:  # the fingerprint as documented, every file read
        digest = hashlib.sha256()
        for path in sorted(p for p in raw.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(raw).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\0"
                          .encode())
        return digest.hexdigest()

    read: list[str] = []

    def counted(path, hashed=None):
        read.append(path.relative_to(raw).as_posix())
        return raw_drop.file_sha256(path, hashed)

    monkeypatch.setattr(publish, "file_sha256", counted)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert publish.input_fingerprint(raw, con) == definition()  # nothing recorded: every file read
        assert len(read) == 5
        hashed: raw_drop.Hashed = {}
        raw_drop.load_request_lines(con, raw, hashed=hashed)
        raw_drop.load_directory_table(con, raw, "account_identifiers", hashed=hashed)
        raw_drop.record_hashed(con, raw, hashed)
        read.clear()
        assert publish.input_fingerprint(raw, con) == definition()
        assert read == ["README.txt", "directory/videos.csv"]
        # rewritten in place, the same size and modification time: read again
        before, data = request.stat(), request.read_bytes()
        request.write_bytes(data.replace(b"R2", b"R3"))
        os.utime(request, ns=(before.st_atime_ns, before.st_mtime_ns))
        read.clear()
        changed = publish.input_fingerprint(raw, con)
        assert changed == definition()
        assert "requests/2024.jsonl" in read
        # gone: no longer part of it
        (folder / "part-1.parquet").unlink()
        assert publish.input_fingerprint(raw, con) == definition() != changed


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_a_directory_csv_loads_whatever_ends_its_lines(tmp_path, ending):
    folder = tmp_path / "directory"
    folder.mkdir()
    text = HEADER + GOOD_ROW + GOOD_ROW.replace("jane.doe", "bob")
    (folder / "account_identifiers.csv").write_bytes(text.replace("\n", ending).encode())
    assert [row[2] for row in _raw_rows(tmp_path, "account_identifiers")] == ["bob", "jane.doe"]


def _gzip_damaged(data: bytes) -> bytes:
    packed = gzip.compress(data)
    return packed[:12] + b"\xff" * 40 + packed[52:]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        # the byte is counted in the file, the byte-order mark included: 3 + "account_" + 1
        ("account_identifiers.csv", b"\xef\xbb\xbf" + HEADER.replace("account_id", "account_\xff", 1).encode("latin-1")
         + GOOD_ROW.encode(), "directory/account_identifiers.csv line 1 (the header): invalid UTF-8 at byte 12"),
        ("account_identifiers.csv.gz", _gzip_damaged((HEADER + GOOD_ROW * 2000).encode()),
         "directory/account_identifiers.csv.gz cannot be read: Error -3 while decompressing data"),
        ("account_identifiers.csv.gz",
         gzip.compress((HEADER + "".join(f"68{i:017d},username,u{i},,\n" for i in range(20000))).encode())[:4000],
         "directory/account_identifiers.csv.gz cannot be read: "),
        # a file with no line end is not read whole to find one
        ("account_identifiers.csv", b"account_id," * 200_000, "directory/account_identifiers.csv line 1 (the header) "
         "is longer than 1 MB"),
    ],
    ids=["bad-header-after-bom", "corrupt-gzip", "truncated-gzip", "no-line-end"],
)
def test_a_damaged_directory_csv_fails_with_one_line_naming_it(tmp_path, name, data, expected):
    folder = tmp_path / "directory"
    folder.mkdir()
    (folder / name).write_bytes(data)
    message = _load_error(tmp_path)
    assert message.startswith(expected) and str(tmp_path) not in message, message


def test_a_stopped_load_of_the_request_files_leaves_the_tables_as_they_were(tmp_path):
    raw = tmp_path / "raw"
    folder = raw / "requests"
    folder.mkdir(parents=True)
    for name in ("a.jsonl", "b.jsonl"):
        (folder / name).write_text('{"a": 0}\n')
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _reload(con, raw)
        before = con.execute("select * from raw.request_lines order by all").fetchall()
        (folder / "a.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
        asked = []

        def stop() -> bool:  # asked before each file: stop before the second
            asked.append(True)
            return len(asked) > 1

        with pytest.raises(raw_drop.LoadStopped):
            raw_drop.load_request_lines(con, raw, stop=stop)
        assert len(asked) == 2
        assert con.execute("select * from raw.request_lines order by all").fetchall() == before


def test_the_lines_text_is_stored_with_zstd(tmp_path):
    # ZSTD: half the commit's time and a smaller file than DuckDB's own choice for JSON lines
    folder = tmp_path / "raw" / "requests"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("".join(f'{{"request_id": "R-{i}", "outcome": "disclosed"}}\n' for i in range(1000)))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        raw_drop.load_request_lines(con, tmp_path / "raw")
        con.execute("checkpoint")
        stored = con.execute("select distinct compression from pragma_storage_info('raw.request_lines') "
                             "where column_name = 'line_text' and segment_type = 'VARCHAR'").fetchall()
    assert stored == [("ZSTD",)]


def test_a_load_asked_to_stop_after_its_last_file_or_within_a_file_rolls_back(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    (raw / "requests").mkdir(parents=True)
    (raw / "requests" / "a.jsonl").write_text("".join(f'{{"a": {i}}}\n' for i in range(100)))
    monkeypatch.setattr(raw_drop, "BATCH_LINES", 10)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        # asked before the file, before each of its ten batches, then before the commit: stopped
        # at the commit, the whole file read
        asked = []
        with pytest.raises(raw_drop.LoadStopped):
            raw_drop.load_request_lines(con, raw, stop=lambda: asked.append(True) or len(asked) > 12)
        assert len(asked) == 13
        # stopped within the file: at its second batch
        asked.clear()
        with pytest.raises(raw_drop.LoadStopped):
            raw_drop.load_request_lines(con, raw, stop=lambda: asked.append(True) or len(asked) > 2)
        assert len(asked) == 3
        assert con.execute("select count(*) from information_schema.tables "
                           "where table_schema = 'raw' and table_name = 'request_lines'").fetchone() == (0,)
