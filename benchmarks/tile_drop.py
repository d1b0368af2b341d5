"""Large drops for the benchmark, in minutes: a realistic drop repeated, and a directory padded.

    python benchmarks/tile_drop.py OUT --base 12500 --times 240 --directory-rows 100000000

The base is `irr generate`'s realistic drop (messy identifier forms, shared phones, renamed and
reused usernames, short links, broken lines). Its request files are written `--times` times, each
copy with its own request ids (`LR-2023-0000123` becomes `LR-2023-0000123-t7`), so every request
is counted; the copies name the same accounts, so the distinct identifiers stay those of the base.
The directory gets `--directory-rows` rows in all: the base's rows and padding accounts that no
request names (usernames and emails, valid throughout), written by DuckDB as a folder of Parquet
part files (CONTRACT 1.3), or one CSV with `--directory-format csv`. Same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from irr_dev.generate import write_drop  # noqa: E402

REQUEST_ID = re.compile(rb'("request_id": "[^"]*)"')
# account ids of the padding: above every id the base generator hands out (6.8e18 + i * 7919)
PAD_ACCOUNT_BASE = 7_000_000_000_000_000_000
PART_ROWS = 10_000_000


def tile_requests(base: Path, out: Path, times: int) -> int:
    """Write each base request file `times` times with request ids made unique per copy; returns lines."""
    out.mkdir(parents=True, exist_ok=True)
    lines = 0
    for path in sorted(base.iterdir()):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
        for copy in range(times):
            suffix = f"-t{copy}".encode()
            tiled = REQUEST_ID.sub(lambda m: m.group(1) + suffix + b'"', data)  # noqa: B023
            (out / f"{stem}_t{copy:04d}.jsonl").write_bytes(tiled)
            lines += tiled.count(b"\n")
    return lines


def pad_directory(base_csv: Path, out: Path, rows: int, form: str) -> int:
    """account_identifiers: the base rows, then padding rows up to `rows`; returns the padding rows."""
    with duckdb.connect() as con:
        con.execute(f"create table base as select * from read_csv('{base_csv}', all_varchar = true, header = true)")
        have = con.execute("select count(*) from base").fetchone()[0]
        pad = max(0, rows - have)
        # two rows per padding account: a username and an email
        padding = f"""
            select cast({PAD_ACCOUNT_BASE} + n // 2 as varchar) as account_id,
                   case when n % 2 = 0 then 'username' else 'email' end as identifier_type,
                   case when n % 2 = 0 then 'pad' || (n // 2)
                        else 'pad' || (n // 2) || '@pad.example' end as identifier_value,
                   '' as valid_from, '' as valid_to
            from range({pad}) as t(n)
        """
        if form == "csv":
            con.execute(f"copy (select * from base union all {padding}) to '{out / 'account_identifiers.csv'}' "
                        "(header, quote '\"')")
        else:
            folder = out / "account_identifiers"
            folder.mkdir()
            con.execute(f"copy base to '{folder / 'part-base.parquet'}'")
            for start in range(0, pad, PART_ROWS):
                size = min(PART_ROWS, pad - start)
                part = padding.replace(f"range({pad})", f"range({start}, {start + size})")
                con.execute(f"copy ({part}) to '{folder / f'part-{start // PART_ROWS:05d}.parquet'}'")
    return pad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", type=int, default=12_500, help="requests of the realistic base drop")
    parser.add_argument("--times", type=int, default=10, help="copies of the base's request files")
    parser.add_argument("--directory-rows", type=int, default=0, help="account_identifiers rows in all")
    parser.add_argument("--directory-format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.out.exists():
        shutil.rmtree(args.out)
    base = args.out / ".base"
    counts = write_drop(base, args.base, args.seed)
    lines = tile_requests(base / "requests", args.out / "requests", args.times)
    directory = args.out / "directory"
    directory.mkdir()
    for name in ("videos.csv.gz", "short_links.csv"):
        shutil.copy(base / "directory" / name, directory / name)
    pad = pad_directory(base / "directory" / "account_identifiers.csv", directory,
                        args.directory_rows, args.directory_format)
    shutil.rmtree(base)
    print(f"{args.out}: {counts['requests'] * args.times:,} requests ({lines:,} lines), "
          f"{pad:,} padding directory rows; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
