"""Read a raw drop folder into the warehouse's `raw` schema, keeping every line and value as text."""

from __future__ import annotations

import csv
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

UTF8_BOM = b"\xef\xbb\xbf"

DIRECTORY_TABLES: dict[str, tuple[str, ...]] = {
    "account_identifiers": ("account_id", "identifier_type", "identifier_value", "valid_from", "valid_to"),
    "videos": ("video_id", "account_id"),
    "short_links": ("code", "target_url"),
}
DIRECTORY_SUFFIXES = (".csv", ".csv.gz", ".parquet")


class DropError(Exception):
    """The raw drop cannot be read; the message is one line and names the file."""


@dataclass(frozen=True)
class FileLines:
    file_name: str
    lines: list[str]
    valid_utf8: list[bool]
    has_nul: list[bool]
    unreadable: str | None = None  # why the file as a whole could not be read


def request_files(raw_dir: Path) -> list[Path]:
    """Every regular, non-hidden file in `requests/`, sorted by name."""
    folder = raw_dir / "requests"
    if not folder.is_dir():
        raise DropError(f"{folder} is missing: a drop needs a requests/ folder")
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def read_lines(path: Path) -> FileLines:
    """Split a (possibly gzipped) file into lines without their line ends, numbered by position."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b" or path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return FileLines(path.name, [], [], [], unreadable=f"not a readable gzip file ({exc})")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()  # the line end of the last line, not a line of its own
    lines: list[str] = []
    valid: list[bool] = []
    nul: list[bool] = []
    for chunk in chunks:
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        try:
            text = chunk.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            text = chunk.decode("utf-8", errors="replace")
            ok = False
        lines.append(text.replace("\x00", "\ufffd"))
        valid.append(ok)
        nul.append("\x00" in text)
    return FileLines(path.name, lines, valid, nul)


def load_request_lines(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> dict[str, int]:
    """Replace raw.request_lines with every line of every request file; returns lines per file."""
    con.execute("create schema if not exists raw")
    con.execute(
        """
        create or replace table raw.request_lines (
            file_name varchar, file_index integer, line_number bigint,
            line_text varchar, is_valid_utf8 boolean, has_nul_byte boolean,
            is_unreadable_file boolean
        )
        """
    )
    counts: dict[str, int] = {}
    for index, path in enumerate(request_files(raw_dir), start=1):
        content = read_lines(path)
        if content.unreadable is not None:
            # one row stands for the whole file, so that it is counted and quarantined
            con.execute(
                "insert into raw.request_lines values (?, ?, 0, ?, true, false, true)",
                [content.file_name, index, content.unreadable],
            )
            counts[content.file_name] = 1
            continue
        counts[content.file_name] = len(content.lines)
        if not content.lines:
            continue
        con.execute(
            """
            insert into raw.request_lines
            select ?, ?, generate_subscripts(l, 1), unnest(l), unnest(v), unnest(n), false
            from (select ?::varchar[] as l, ?::boolean[] as v, ?::boolean[] as n)
            """,
            [content.file_name, index, content.lines, content.valid_utf8, content.has_nul],
        )
    return counts


def directory_file(raw_dir: Path, table: str) -> Path:
    """The one file that holds a directory table (.csv, .csv.gz or .parquet)."""
    found = [raw_dir / "directory" / f"{table}{suffix}" for suffix in DIRECTORY_SUFFIXES]
    found = [p for p in found if p.is_file()]
    if not found:
        raise DropError(f"directory/{table}.csv (or .csv.gz, .parquet) is missing from {raw_dir}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DropError(f"directory/ holds {table} more than once ({names}); keep one")
    return found[0]


def load_directory_table(con: duckdb.DuckDBPyConnection, raw_dir: Path, table: str) -> int:
    """Replace raw.<table> with the directory file's rows, every column as text; returns the row count."""
    path = directory_file(raw_dir, table)
    columns = DIRECTORY_TABLES[table]
    if path.name.endswith(".parquet"):
        scan = f"read_parquet('{_sql_path(path)}')"
    else:
        scan = (
            f"read_csv('{_sql_path(path)}', header = true, all_varchar = true, delim = ',', "
            "quote = '\"', escape = '\"', auto_detect = false, "
            f"columns = {_csv_columns(path)})"
        )
    try:
        found = [row[0] for row in con.execute(f"describe select * from {scan}").fetchall()]
    except duckdb.Error as exc:
        raise DropError(f"directory/{path.name} cannot be read: {_first_line(exc)}") from exc
    missing = [c for c in columns if c not in found]
    if missing:
        raise DropError(f"directory/{path.name} lacks column(s) {', '.join(missing)}")
    select_list = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in columns)
    try:
        con.execute("create schema if not exists raw")
        con.execute(f"create or replace table raw.{table} as select {select_list} from {scan}")
    except duckdb.Error as exc:
        raise DropError(f"directory/{path.name} cannot be read: {_first_line(exc)}") from exc
    return con.execute(f"select count(*) from raw.{table}").fetchone()[0]


def _csv_columns(path: Path) -> str:
    """The CSV header as a DuckDB struct literal of varchar columns."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader([handle.readline()]), [])
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DropError(f"directory/{path.name} cannot be read: {exc}") from exc
    if not first:
        raise DropError(f"directory/{path.name} is empty: it needs a header row")
    names = [name.strip().replace("'", "") for name in first]
    return "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
