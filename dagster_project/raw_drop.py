"""Read a raw drop folder into the warehouse's `raw` schema, keeping every line and value as text."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import duckdb

UTF8_BOM = b"\xef\xbb\xbf"
# CONTRACT 1.1: a longer line is quarantined without being parsed.
MAX_LINE_BYTES = 1_000_000
# JSON Lines compress 5-20 times; a stream that expands far more is a bomb (50 million
# newlines in 48 KB), read no further: the file is quarantined as unreadable.
MAX_GZIP_RATIO = 200
# ... measured once this much of the compressed file has been read (before, a few kilobytes of
# a header could expand much more than that without being a bomb)
GZIP_RATIO_FLOOR = 8 * 1024
# Lines are inserted into the warehouse in batches of this many: memory does not grow with a file.
BATCH_LINES = 50_000

DIRECTORY_TABLES: dict[str, tuple[str, ...]] = {
    "account_identifiers": ("account_id", "identifier_type", "identifier_value", "valid_from", "valid_to"),
    "videos": ("video_id", "account_id"),
    "short_links": ("code", "target_url"),
}
DIRECTORY_SUFFIXES = (".csv", ".csv.gz", ".parquet")
# Ids are strings of digits (CONTRACT 1.3): a float such as 6.8e+18 has lost digits.
DIRECTORY_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "account_identifiers": ("account_id",),
    "videos": ("video_id", "account_id"),
    "short_links": (),
}


class DropError(Exception):
    """The raw drop cannot be read; the message is one line and names the file."""


def request_entries(raw_dir: Path) -> list[tuple[Path, str | None]]:
    """Every entry of `requests/` by name, with why it is not read (None for a regular file).

    Symbolic links (wherever they point), folders and hidden files are not read: a run never
    reads outside the drop, and what it skips is listed with its reason.
    """
    folder = raw_dir / "requests"
    if not folder.is_dir():
        raise DropError(f"{folder} is missing: a drop needs a requests/ folder")
    entries = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.is_symlink():
            reason = "symbolic link, not read"
        elif path.name.startswith("."):
            reason = "hidden file, not read"
        elif path.is_dir():
            reason = "folder, not read"
        elif not path.is_file():
            reason = "not a regular file, not read"
        else:
            reason = None
        entries.append((path, reason))
    return entries


class LoadStopped(Exception):
    """A load was asked to stop before its end (another part of the same load failed)."""


def _stop_if_asked(stop: Callable[[], bool]) -> None:
    if stop():
        raise LoadStopped("the load of the request files was stopped")


class UnreadableFile(Exception):
    """The file as a whole cannot be read (a broken or runaway gzip stream)."""


class GzipStream:
    """The decompressed bytes of a gzip file, member after member, its expansion bounded.

    Compressed bytes are fed CHUNK at a time and counted exactly, so the expansion is measured
    against what was consumed: a bomb is stopped after at most MAX_GZIP_RATIO times
    GZIP_RATIO_FLOOR bytes, wherever it lies in the file and whatever follows it (padding, a
    small last member). zlib checks each member's CRC and length.
    """

    CHUNK = 8 * 1024
    # output is measured this often, so a bomb is stopped close to the bound
    STEP = 256 * 1024

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.inflater = zlib.decompressobj(31)
        self.pending = b""
        self.in_member = False
        self.consumed = self.produced = 0  # the whole file
        self.member_in = self.member_out = 0  # the current member

    def __enter__(self) -> "GzipStream":
        return self

    def __exit__(self, *exc) -> None:
        self.raw.close()

    def read(self, size: int) -> bytes:
        parts, got = [], 0
        while got < size:
            if not self.pending:
                chunk = self.raw.read(self.CHUNK)
                if not chunk:
                    if self.in_member:
                        raise EOFError("the gzip stream ends before its last member does")
                    break
                self.consumed += len(chunk)
                self.pending = chunk
            if not self.in_member:
                self.pending = self.pending.lstrip(b"\0")  # zero padding between or after members
                if not self.pending:
                    continue
                self.in_member = True
                self.member_in = self.member_out = 0
            fed = len(self.pending)
            data = self.inflater.decompress(self.pending, min(size - got, self.STEP))
            ended = self.inflater.eof
            # past a member's end the rest of the input is in unused_data only (unconsumed_tail
            # may still hold a stale copy of it)
            self.pending = self.inflater.unused_data if ended else self.inflater.unconsumed_tail
            self.member_in += fed - len(self.pending)
            self.member_out += len(data)
            self.produced += len(data)
            parts.append(data)
            got += len(data)
            # each member, and the file as a whole, within the ratio: a bomb is stopped whatever
            # comes before or after it (padding, other members)
            if (self.member_out > MAX_GZIP_RATIO * max(self.member_in, GZIP_RATIO_FLOOR)
                    or self.produced > MAX_GZIP_RATIO * max(self.consumed, GZIP_RATIO_FLOOR)):
                raise UnreadableFile(f"gzip stream expands more than {MAX_GZIP_RATIO} times")
            if ended:
                self.inflater = zlib.decompressobj(31)
                self.in_member = False
        return b"".join(parts)


def _open(path: Path) -> BinaryIO | GzipStream:
    handle = path.open("rb")
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b" or path.name.endswith(".gz"):
        return GzipStream(handle)
    return handle


# Request files are read this many (decompressed) bytes at a time and split in C.
BLOCK_BYTES = 1 << 20
LONG_LINE = "line longer than 1 MB, not parsed"
Columns = tuple[list, list, list, list]


def _long_line(out: Columns) -> None:
    for column, value in zip(out, ("", True, False, LONG_LINE)):
        column.append(value)


def _too_long(body: bytes) -> bool:
    return len(body) > MAX_LINE_BYTES and not body.endswith(b"\r") or len(body) > MAX_LINE_BYTES + 1


def _decode(lines: list[bytes], out: Columns) -> None:
    """Append complete lines to `out`; the common case (valid UTF-8, no CR or NUL) in one decode."""
    texts, valid, nul, reasons = out
    data = b"\n".join(lines)
    if b"\r" not in data and b"\x00" not in data and max(map(len, lines)) <= MAX_LINE_BYTES:
        try:
            decoded = data.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            pass
        else:
            texts += decoded
            valid += [True] * len(decoded)
            nul += [False] * len(decoded)
            reasons += [None] * len(decoded)
            return
    for body in lines:
        if _too_long(body):
            _long_line(out)
            continue
        if body.endswith(b"\r"):
            body = body[:-1]
        try:
            text, ok = body.decode("utf-8"), True
        except UnicodeDecodeError:
            text, ok = body.decode("utf-8", errors="replace"), False
        texts.append(text.replace("\x00", "\ufffd"))
        valid.append(ok)
        nul.append("\x00" in text)
        reasons.append(None)


def iter_lines(path: Path) -> Iterator[tuple[str, bool, bool, str | None]]:
    """The lines of `iter_batches` one by one."""
    for columns in iter_batches(path):
        yield from zip(*columns)


def iter_batches(path: Path) -> Iterator[Columns]:
    """Stream a file's lines as column batches (texts, is valid UTF-8, had a NUL byte, why not read).

    The file is read in blocks of BLOCK_BYTES and split in C; memory stays bounded whatever it
    holds: a line longer than MAX_LINE_BYTES is skipped to its end unread ("line longer than 1
    MB, not parsed"), and a gzip stream that expands more than MAX_GZIP_RATIO times its size is a
    bomb, not a drop (UnreadableFile).
    """
    try:
        with _open(path) as handle:
            carry, skipping, first = b"", False, True
            while True:
                block = handle.read(BLOCK_BYTES)
                if first and block.startswith(UTF8_BOM):
                    block = block[len(UTF8_BOM):]
                first = False
                out: Columns = ([], [], [], [])
                if not block:
                    if skipping:
                        _long_line(out)
                    elif carry:
                        _decode([carry], out)
                    if out[0]:
                        yield out
                    return
                parts = block.split(b"\n")
                lines: list[bytes] = []
                if len(parts) == 1:  # no line ends in this block
                    if not skipping:
                        carry += block
                        if _too_long(carry):
                            carry, skipping = b"", True
                    continue
                if skipping:
                    skipping = False
                    _long_line(out)
                else:
                    lines.append(carry + parts[0])
                lines += parts[1:-1]
                carry = parts[-1]
                if _too_long(carry):
                    carry, skipping = b"", True
                if lines:
                    _decode(lines, out)
                yield out
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"not a readable gzip file ({exc})") from None


# Bumped whenever the way a file becomes lines changes (decoding, flags, limits): lines a run
# stored with another reader are read again.
READER_VERSION = 1


def load_request_lines(con: duckdb.DuckDBPyConnection, raw_dir: Path, full: bool = False,
                       stop: Callable[[], bool] | None = None,
                       hashed: Hashed | None = None) -> dict[str, tuple[int, bool]]:
    """Bring raw.request_lines up to date with every line of every request file; returns each
    file's lines and whether it was read (False: loaded before, with the same bytes).

    A file already loaded with the same bytes (its sha256, in raw.request_files) is not read
    again: on a drop of many half-years, a run costs what its new and changed files cost. Lines
    of files that changed or left the drop are replaced or removed, and every file's index
    follows the drop's name order, as if all were read again. `full` reads every file again.

    The load is one transaction: a run stopped during it leaves the tables as they were (and one
    commit, not one per statement, halves the time of a load of millions of lines). `stop` is
    asked before each file, each batch of lines and the commit: when it says so, the load rolls
    back and raises LoadStopped. `hashed`, if given, gets every file hashed (file_sha256).
    """
    stop = stop or (lambda: False)
    con.execute("begin transaction")
    try:
        counts = _load_request_lines(con, raw_dir, full, stop, hashed)
        _stop_if_asked(stop)
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")
    return counts


def _load_request_lines(con: duckdb.DuckDBPyConnection, raw_dir: Path, full: bool,
                        stop: Callable[[], bool], hashed: Hashed | None) -> dict[str, tuple[int, bool]]:
    con.execute("create schema if not exists raw")
    # one row per entry of requests/ whose lines are in raw.request_lines, with its place in the
    # drop's name order and the sha256 of its bytes (NULL: not read, so read again next run)
    columns = {"file_name": "varchar", "file_index": "integer", "sha256": "varchar",
               "reader_version": "integer", "lines": "bigint"}
    found = [row[0] for row in con.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'request_files' order by ordinal_position").fetchall()]
    if found and found != list(columns):  # made by another version: nothing in it can be trusted
        con.execute("drop table raw.request_files")
    con.execute(f"create table if not exists raw.request_files "
                f"({', '.join(f'{name} {kind}' for name, kind in columns.items())})")
    entries = request_entries(raw_dir)
    names = [path.name for path, _ in entries]
    con.execute(
        "delete from raw.request_files where ? or sha256 is null or reader_version is distinct from ? "
        "or file_name not in (select unnest(?::varchar[]))",
        [full, READER_VERSION, names],
    )
    known = {name: (digest, lines) for name, digest, lines
             in con.execute("select file_name, sha256, lines from raw.request_files").fetchall()}
    # nothing to keep: a new table, rather than deleting every row of the old one. The lines'
    # text is stored with ZSTD: DuckDB's own choice (FSST) took 0.63 s of the commit of 332 k
    # lines (108 MB) for a 46 MB file; ZSTD takes 0.29 s for 18 MB, and a scan of every line is
    # 0.02 s slower. A table made before keeps its columns' storage until a load replaces it.
    con.execute(
        f"""
        create {'table if not exists' if known else 'or replace table'} raw.request_lines (
            file_name varchar, file_index integer, line_number bigint,
            line_text varchar using compression zstd, is_valid_utf8 boolean, has_nul_byte boolean,
            not_read_reason varchar
        )
        """
    )
    # the lines of files that left the drop or were made by another reader
    con.execute("delete from raw.request_lines where file_name not in (select file_name from raw.request_files)")
    counts: dict[str, tuple[int, bool]] = {}
    for index, (path, skipped) in enumerate(entries, start=1):
        _stop_if_asked(stop)
        digest = None if skipped else file_sha256(path, hashed)
        if digest is not None and known.get(path.name, (None,))[0] == digest:
            counts[path.name] = (known[path.name][1], False)
            continue
        if path.name in known:  # changed: its old lines go (a file not known has none left)
            con.execute("delete from raw.request_files where file_name = ?", [path.name])
            con.execute("delete from raw.request_lines where file_name = ?", [path.name])
        reason, lines = skipped, 1
        if not reason:
            try:
                lines = _insert_lines(con, path, index, stop)
            except UnreadableFile as exc:
                con.execute("delete from raw.request_lines where file_name = ?", [path.name])
                reason = f"unreadable file: {exc}"
        if reason:
            # one row (line 0) stands for the whole entry, so that it is counted and listed
            con.execute(
                "insert into raw.request_lines values (?, ?, 0, '', true, false, ?)",
                [path.name, index, reason],
            )
            lines = 1
        counts[path.name] = (lines, True)
        con.execute("insert into raw.request_files values (?, ?, ?, ?, ?)",
                    [path.name, index, digest, READER_VERSION, lines])
    # a file added or removed before others moves their place in the name order (the later file
    # wins a tie of updated_at): the kept files, and their lines, take their place in this drop
    con.execute(
        """
        update raw.request_files as f set file_index = n.file_index
        from (select unnest(?::varchar[]) as file_name, unnest(?::integer[]) as file_index) as n
        where f.file_name = n.file_name and f.file_index <> n.file_index
        """,
        [names, list(range(1, len(names) + 1))],
    )
    con.execute(
        """
        update raw.request_lines as l set file_index = f.file_index
        from raw.request_files as f
        where l.file_name = f.file_name and l.file_index <> f.file_index
        """
    )
    return counts


def file_blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes, BLOCK_BYTES at a time (to hash a file without holding it whole)."""
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(BLOCK_BYTES), b"")


# The files of the drop a load hashed: each one's stamp (_stamp), taken before its bytes were
# read, and the sha256 of those bytes.
Hashed = dict[Path, tuple[str, str]]


def file_sha256(path: Path, hashed: Hashed | None = None) -> str | None:
    """The file's bytes as one digest (whether it is the file already loaded); None if they
    cannot be read, and reading the file then says why. `hashed`, if given, gets the file."""
    digest = hashlib.sha256()
    try:
        stamp = _stamp(path) if hashed is not None else ""
        for block in file_blocks(path):
            digest.update(block)
    except OSError:
        return None
    if hashed is not None:
        hashed[path] = (stamp, digest.hexdigest())
    return digest.hexdigest()


def record_hashed(con: duckdb.DuckDBPyConnection, raw_dir: Path, hashed: Hashed) -> None:
    """Keep what the load hashed (raw.drop_files, by path in the drop), for the drop's
    fingerprint (publish.input_fingerprint): a file whose stamp has not changed since is not read
    again on the way to the report marts (2.1 GB, about 2 s, at 3 M requests)."""
    rows = [(path.relative_to(raw_dir).as_posix(), stamp, digest) for path, (stamp, digest) in hashed.items()]
    con.execute("create or replace table raw.drop_files (path varchar, stamp varchar, sha256 varchar)")
    con.execute("insert into raw.drop_files select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[])",
                [[row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows]])


def recorded_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """raw.drop_files as {path in the drop: (stamp, sha256)}; empty when no load recorded it."""
    try:
        return {path: (stamp, digest) for path, stamp, digest
                in con.execute("select path, stamp, sha256 from raw.drop_files").fetchall()}
    except duckdb.CatalogException:
        return {}


def stamp_of(path: Path) -> str | None:
    """_stamp, or None for a file that cannot be read."""
    try:
        return _stamp(path)
    except OSError:
        return None


def _insert_lines(con: duckdb.DuckDBPyConnection, path: Path, index: int, stop: Callable[[], bool]) -> int:
    """Stream a request file into raw.request_lines in batches; returns its line count. `stop` is
    asked before each batch (LoadStopped)."""
    batch: list[list] = [[], [], [], []]
    total = 0

    def flush() -> None:
        _stop_if_asked(stop)
        if batch[0]:
            texts, valid, nul, reasons = batch
            # the lines go to DuckDB as one text that it splits (no line holds a newline): handing
            # it a list of strings costs a conversion per line, most of the load's time. The
            # flags go as lists only when some line needs them (the common case: clean lines).
            clean = all(valid) and not any(nul) and not any(reasons)
            flags = "true, false, null" if clean else "unnest(?::boolean[]), unnest(?::boolean[]), unnest(?::varchar[])"
            con.execute(
                f"""
                insert into raw.request_lines
                select ?, ?, ? + generate_subscripts(l, 1), unnest(l), {flags}
                from (select string_split(?, chr(10)) as l)
                """,
                [path.name, index, total - len(texts), *([] if clean else [valid, nul, reasons]), "\n".join(texts)],
            )
            for column in batch:
                column.clear()

    for columns in iter_batches(path):
        for start in range(0, len(columns[0]), BATCH_LINES):
            piece = [values[start:start + BATCH_LINES] for values in columns]
            for column, values in zip(batch, piece):
                column.extend(values)
            total += len(piece[0])
            if len(batch[0]) >= BATCH_LINES:
                flush()
    flush()
    return total


def directory_parts(raw_dir: Path, table: str) -> tuple[str, list[Path]]:
    """The files that hold a directory table, and how errors name it (CONTRACT 1.3).

    One file (`<table>.csv`, `.csv.gz` or `.parquet`) or a folder of part files as a data lake
    writes them: `<table>/`, or `<table>.parquet/` and `<table>.csv/` as Spark names its output
    (`*.parquet`, `*.csv`, `*.csv.gz`, in subfolders too, read in path order). In a folder, names
    that start with `.` or `_` are a lake's bookkeeping (`_SUCCESS`, `.part-0.parquet.crc`) and
    empty files are empty partitions: neither is read. Any other file, and any symbolic link (a
    run never reads outside the drop), fails the run: a table with a part missing would resolve
    wrongly without a word.
    """
    base = raw_dir / "directory"
    candidates = [*(base / f"{table}{suffix}" for suffix in DIRECTORY_SUFFIXES), base / table]
    for path in candidates:
        if path.is_symlink():
            raise DropError(f"directory/{path.name} is a symbolic link: a run never reads outside the drop")
    found = [p for p in candidates if p.is_file() or p.is_dir()]
    if not found:
        raise DropError(f"directory/{table}.csv (or .csv.gz, .parquet, or a folder {table}/ of part files) "
                        f"is missing from {raw_dir}")
    if len(found) > 1:
        names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in found)
        raise DropError(f"directory/ holds {table} more than once ({names}); keep one")
    folder = found[0]
    if folder.is_file():
        return f"directory/{folder.name}", found
    parts = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(name.startswith((".", "_")) for name in relative.parts):
            continue
        label = f"directory/{folder.name}/{relative.as_posix()}"
        if path.is_symlink():
            raise DropError(f"{label} is a symbolic link: a run never reads outside the drop")
        if path.is_dir():
            continue
        if not path.name.endswith(DIRECTORY_SUFFIXES):
            raise DropError(f"{label} is not a part file (.parquet, .csv, .csv.gz)")
        if path.stat().st_size:
            parts.append(path)
    if not parts:
        raise DropError(f"directory/{folder.name}/ holds no part file (.parquet, .csv, .csv.gz)")
    return f"directory/{folder.name}/", parts


def load_directory_table(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: str, full: bool = False,
                         checked: list[str] | None = None, hashed: Hashed | None = None) -> int:
    """Replace raw.<table> with the directory's rows, every column as text; returns the row count.

    The directory is checked before anything is published (CONTRACT 1.3): a table with no rows,
    an unreadable row, or an id that is not a string of digits fails the run with one line that
    names the file (the part file) and line (a Parquet file: the row) and never a value from it.
    Parquet parts whose bytes passed the id check before are not scanned again (`full` scans
    them anyway); `checked`, if given, gets the tables so spared, and `hashed` the parts hashed.
    """
    name, parts = directory_parts(raw_dir, table)
    columns = DIRECTORY_TABLES[table]
    con.execute("create schema if not exists raw")
    _drop_relation(con, f"raw.{table}")
    con.execute("create table if not exists raw.directory_parts "
                "(table_name varchar, label varchar, path varchar, stamp varchar)")
    con.execute("delete from raw.directory_parts where table_name = ?", [table])
    if all(path.name.endswith(".parquet") for path in parts):
        # read where they lie, by the checks now and by the models later in the run: each part as
        # it is before it is checked (directory_changed tells the models' step if one changed)
        con.executemany("insert into raw.directory_parts values (?, ?, ?, ?)",
                        [(table, path.relative_to(raw_dir).as_posix(), str(path), _stamp(path)) for path in parts])
        rows = _view_parquet(con, raw_dir, table, parts, full, checked, hashed)
    else:
        con.execute(f"create table raw.{table} ({', '.join(f'{c} varchar' for c in columns)})")
        for path in parts:
            _load_part(con, raw_dir, table, path)
        rows = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
    if not rows:
        raise DropError(f"{name} has no rows: an empty directory table would resolve nothing")
    return rows


def _stamp(path: Path) -> str:
    """A file's inode, size, and modification and change times (ns): a file put in its place or
    written changes them, even one whose modification time is set back (`cp -p`, `touch -r`: the
    change time cannot be set). A change of mode or owner changes them too, on the safe side."""
    stat = path.stat()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def directory_changed(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The directory parts read where they lie whose stamp (_stamp) is no longer what the load
    recorded before checking them (gone, replaced, rewritten or touched since), by label.

    A Parquet directory is a view: the load checks its ids, the models read it again, twice
    (int_directory_profile, int_directory_named, which trusts the profile's count of values that
    may not be canonical). A part changed in between would give figures from bytes no check saw.
    """
    try:
        parts = con.execute("select label, path, stamp from raw.directory_parts order by table_name, label").fetchall()
    except duckdb.CatalogException:  # a warehouse loaded by an irr that recorded none
        return []
    return [label for label, path, stamp in parts if stamp_of(Path(path)) != stamp]


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop raw.<table> whether an earlier run made it a table or a view."""
    schema, table = name.split(".")
    kind = con.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    if kind:
        con.execute(f"drop {'view' if kind[0] == 'VIEW' else 'table'} {name}")


# The id check's rules: a new version checks every directory again.
DIRECTORY_CHECK_VERSION = 1


def _parts_fingerprint(raw_dir: Path, parts: list[Path], hashed: Hashed | None = None) -> str | None:
    """sha256 over the check's version and each part's name and bytes; None if one cannot be read."""
    digest = hashlib.sha256(f"{DIRECTORY_CHECK_VERSION}\0".encode())
    for path in parts:
        part = file_sha256(path, hashed)
        if part is None:
            return None
        digest.update(f"{path.relative_to(raw_dir).as_posix()}\0{part}\0".encode())
    return digest.hexdigest()


def _view_parquet(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: str, parts: list[Path],
                  full: bool = False, checked: list[str] | None = None, hashed: Hashed | None = None) -> int:
    """raw.<table> as a view over Parquet files read where they lie: a directory of 10^8 rows is not
    copied into the warehouse before staging reads it. Checks the columns (each part's footer),
    counts the rows (the footers) and checks the ids in one scan of their columns, unless the same
    bytes passed it before (raw.directory_checks, hashed: a second of I/O where the scan takes
    ten at 10^8 rows); returns the rows."""
    for path in parts:
        _check_columns(con, f"read_parquet('{_sql_path(path)}')", path.relative_to(raw_dir).as_posix(), table)
    files = "[" + ", ".join(f"'{_sql_path(p)}'" for p in parts) + "]"
    con.execute(f"create view raw.{table} as select {_as_text(table)} "
                f"from read_parquet({files}, union_by_name = true)")
    labels = {str(p): p.relative_to(raw_dir).as_posix() for p in parts}
    con.execute("create table if not exists raw.directory_checks (table_name varchar, fingerprint varchar)")
    fingerprint = _parts_fingerprint(raw_dir, parts, hashed)
    passed = con.execute("select fingerprint from raw.directory_checks where table_name = ?", [table]).fetchone()
    try:
        rows = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        if not full and fingerprint is not None and passed == (fingerprint,):
            if checked is not None:
                checked.append(table)
            return rows
        con.execute("delete from raw.directory_checks where table_name = ?", [table])
        for column in DIRECTORY_ID_COLUMNS[table]:
            bad = con.execute(
                f'select filename, min(file_row_number) from read_parquet({files}, union_by_name = true, '
                f'filename = true, file_row_number = true) '
                f'where not regexp_full_match(coalesce(cast("{column}" as varchar), \'\'), \'[0-9]+\') '
                f'group by filename'
            ).fetchall()
            if bad:
                # the first part in read order, then its first row
                order = {str(p): i for i, p in enumerate(parts)}
                part, row = min(bad, key=lambda found: (order.get(found[0], len(order)), found[1]))
                raise DropError(f"{labels.get(part, part)} row {row + 1}: {column} is not a string of digits")
    except duckdb.Error as exc:
        raise DropError(f"directory/{table} cannot be read: {_reason(exc)}") from None
    # remembered only if the bytes did not change while they were scanned
    if fingerprint is not None and _parts_fingerprint(raw_dir, parts) == fingerprint:
        con.execute("insert into raw.directory_checks values (?, ?)", [table, fingerprint])
    return rows


def _check_columns(con: duckdb.DuckDBPyConnection, scan: str, label: str, table: str) -> None:
    """The file `scan` reads can be read and has the table's columns, or DropError naming it."""
    try:
        found = [row[0] for row in con.execute(f"describe select * from {scan}").fetchall()]
    except duckdb.Error as exc:
        raise DropError(f"{label} cannot be read: {_reason(exc)}") from None
    missing = [c for c in DIRECTORY_TABLES[table] if c not in found]
    if missing:
        raise DropError(f"{label} lacks column(s) {', '.join(missing)}")


def _as_text(table: str) -> str:
    """The select list of a directory table: its columns, each as text."""
    return ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in DIRECTORY_TABLES[table])


def _load_part(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: str, path: Path) -> None:
    """Append one directory file to raw.<table> and check its ids, naming it on error."""
    label = path.relative_to(raw_dir).as_posix()
    is_parquet = path.name.endswith(".parquet")
    if is_parquet:
        scan = f"read_parquet('{_sql_path(path)}')"
    else:
        scan = (
            f"read_csv('{_sql_path(path)}', header = true, all_varchar = true, delim = ',', "
            "quote = '\"', escape = '\"', auto_detect = false, store_rejects = true, "
            f"columns = {_csv_columns(path, label)})"
        )
    _check_columns(con, scan, label, table)
    # rows already in the table: this file's rows follow them in insertion order (the file's)
    before = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
    try:
        con.execute(f"insert into raw.{table} select {_as_text(table)} from {scan}")
    except duckdb.Error as exc:
        # DuckDB names the file by the path it was given: the drop's own name for it instead
        reason = _reason(exc).replace(_sql_path(path), label).replace(str(path), label)
        raise DropError(f"{label} cannot be read: {reason}") from None
    if not is_parquet:
        rejected = con.execute("select line, error_type from reject_errors order by line limit 1").fetchone()
        if rejected:
            raise DropError(f"{label} line {rejected[0]}: unreadable row ({rejected[1]})")
    for column in DIRECTORY_ID_COLUMNS[table]:
        # insertion order is the file's order: this file's first row (line 2, under the header)
        # has rowid `before`
        bad = con.execute(
            f'select min(rowid) - ? from raw.{table} where rowid >= ? '
            f'and not regexp_full_match(coalesce("{column}", \'\'), \'[0-9]+\')',
            [before, before],
        ).fetchone()[0]
        if bad is not None:
            where = f"row {bad + 1}" if is_parquet else f"line {_csv_line(path, bad)}"
            raise DropError(f"{label} {where}: {column} is not a string of digits")


def _csv_line(path: Path, index: int) -> int:
    """The line where the CSV file's record `index` (0 = the first under the header) starts: blank
    lines are not records, and a quoted field may span lines. Read only to report an error."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        end, seen = reader.line_num, -1
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:
                seen += 1
                if seen == index:
                    return start
    return index + 2  # not found again (the file changed): where it would be without blank lines


def _reason(exc: BaseException) -> str:
    """The kind of a reader error without the data it quotes (DuckDB cites the offending line)."""
    first = _first_line(exc)
    return re.split(r"(?i)\b(original line|line:|value)\b", first)[0].rstrip(" :(") or type(exc).__name__


def _first_line_bytes(path: Path, block: int = 1 << 16) -> bytes | None:
    """The file's first line, without its end (LF, CRLF or a lone CR, as csv reads them); None
    when it is longer than a line may be (MAX_LINE_BYTES): a file without line ends is not read
    whole to find one."""
    opener = gzip.open if path.name.endswith(".gz") else open
    head = b""
    with opener(path, "rb") as handle:
        while len(head) <= MAX_LINE_BYTES:
            more = handle.read(block)
            head += more
            end = re.search(rb"[\r\n]", head)
            if end or not more:
                return head[:end.start()] if end else head
    return None


def _csv_columns(path: Path, label: str) -> str:
    """The CSV header as a DuckDB struct literal of varchar columns."""
    try:
        header = _first_line_bytes(path)  # alone: a fault further down is not the header's
        if header is None:
            raise DropError(f"{label} line 1 (the header) is longer than {MAX_LINE_BYTES // 1_000_000} MB")
        bom = len(codecs.BOM_UTF8) if header.startswith(codecs.BOM_UTF8) else 0
        first = next(csv.reader([header[bom:].decode("utf-8")]), [])
    except UnicodeDecodeError as exc:
        raise DropError(f"{label} line 1 (the header): invalid UTF-8 at byte {bom + exc.start + 1}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DropError(f"{label} cannot be read: {exc}") from None
    if not first:
        raise DropError(f"{label} is empty: it needs a header row")
    names = [name.strip().replace("'", "") for name in first]
    return "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
