"""Hostile input: each kind of bad input is quarantined or counted as invalid with the right
reason, the run succeeds, and nothing else changes (the baseline figures stay exact)."""

from __future__ import annotations

import gzip
import json
import subprocess
import zlib
from pathlib import Path

import duckdb
import pytest

from contract_cases import ACCOUNTS, SHORT_LINKS, VIDEOS
from drops import REMOVE, event, installed, irr_process_env, run_measured, write_drop
from test_end_to_end import COLUMNS, EXPECTED_BY_COUNTRY, _approx, e2e_drop

H = "2022-03-01T00:00:00Z"  # the hostile requests that are accepted live in 2022-H1, apart from the baseline


def line(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def hostile_event(rid: str, **fields) -> dict:
    return event(rid, ["@jane.doe"], **{"received_at": H, "updated_at": H, **fields})


# file name -> (bytes, expected quarantine reasons of its lines, in order)
QUARANTINED: dict[str, tuple[bytes, list[str]]] = {
    "h01_truncated.jsonl": (b'{"request_id": "h1", "updated_at": "2023-', ["invalid JSON"]),
    "h02_array.jsonl": (b"[1, 2, 3]", ["not a JSON object"]),
    "h03_string.jsonl": (b'"just a string"', ["not a JSON object"]),
    "h04_number.jsonl": (b"42", ["not a JSON object"]),
    "h05_invalid_utf8.jsonl": (line(hostile_event("h5", agency="X")).replace(b'"X"', b'"\xff\xfe"'), ["invalid UTF-8"]),
    "h06_nul.jsonl": (line(hostile_event("h6", agency="X")).replace(b'"X"', b'"a\x00b"'), ["NUL byte in line"]),
    "h07_id_number.jsonl": (line(hostile_event("h7", request_id=7)), ["request_id is not a string"]),
    "h08_identifiers_object.jsonl": (line(hostile_event("h8", identifiers={"a": 1})), ["identifiers is not an array"]),
    "h09_country_number.jsonl": (line(hostile_event("h9", country=840)), ["unknown country"]),
    "h09b_nondisclosure_text.jsonl": (line(hostile_event("h9b", nondisclosure_order="yes")),
                                      ["nondisclosure_order is not true, false or null"]),
    "h10_received_number.jsonl": (line(hostile_event("h10", received_at=20230101)), ["invalid received_at"]),
    "h11_missing_id.jsonl": (line(hostile_event("h11", request_id=REMOVE)), ["missing request_id"]),
    "h12_null_outcome.jsonl": (line(hostile_event("h12", outcome=None)), ["missing outcome"]),
    "h13_missing_identifiers.jsonl": (line(hostile_event("h13", identifiers=REMOVE)), ["missing identifiers"]),
    "h14_unknown_country.jsonl": (line(hostile_event("h14", country="Atlantis")), ["unknown country"]),
    "h15_unknown_type.jsonl": (line(hostile_event("h15", request_type="subpoena")), ["unknown request_type"]),
    "h16_unknown_outcome.jsonl": (line(hostile_event("h16", outcome="maybe")), ["unknown outcome"]),
    "h17_impossible_date.jsonl": (line(hostile_event("h17", received_at="2023-02-30")), ["invalid received_at"]),
    "h18_far_future.jsonl": (line(hostile_event("h18", received_at="2999-01-01", updated_at="2999-01-02T00:00:00Z")),
                             ["received_at in the future"]),
    "h19_far_past.jsonl": (line(hostile_event("h19", received_at="1999-05-01")),
                           ["received_at before the first reported half-year"]),
    "h20_formula_country.jsonl": (line(hostile_event("h20", country='=HYPERLINK("http://x","US")')), ["unknown country"]),
    "h21_sql_type.jsonl": (line(hostile_event("h21", request_type="legal'; drop table reporting.information_requests; --")),
                           ["unknown request_type"]),
    "h22_zone_name.jsonl": (line(hostile_event("h22", updated_at="2022-03-01T00:00:00 Europe/Paris")),
                            ["invalid updated_at"]),
    "h23_empty_id.jsonl": (line(hostile_event("h23", request_id="  ")), ["empty request_id"]),
    "h24_blank_lines.jsonl": (b"\n   ", ["blank line", "blank line"]),
    # spaces that trim() takes off (U+3000, U+00A0) make a blank line; a tab is not one of them
    "h24b_unicode_blank_lines.jsonl": ("\u3000\u00a0 \n\t".encode(), ["blank line", "invalid JSON"]),
    "h25_legal_process_number.jsonl": (line(hostile_event("h25", legal_process=5)), ["legal_process is not a string"]),
    "h26_not_jsonl.txt": (b"hello\nworld", ["invalid JSON", "invalid JSON"]),
    "h27_sql_formula_id.jsonl": (line(hostile_event("h27", request_id="=1+1", country="Narnia")), ["unknown country"]),
    "h28_empty.jsonl": (b"", []),
    # JSON parsers disagree on which value of a repeated key wins (CONTRACT 1.1)
    "h30_duplicate_key.jsonl": (line(hostile_event("h30", country="FR"))[:-1] + b', "country": "US"}',
                                ["duplicate key"]),
    # a line over 1 MB is quarantined without being parsed, even when it is valid JSON
    "h31_long_line.jsonl": (line(hostile_event("h31", agency="x" * 1_100_000)), ["line longer than 1 MB, not parsed"]),
    # what DuckDB's lenient reader takes is not JSON (RFC 8259): NaN, Infinity, a trailing comma
    "h32_lenient_json.jsonl": (
        line(hostile_event("h32a", nondisclosure_order=float("nan"))) + b"\n"
        + line(hostile_event("h32b", agency="x")).replace(b'"x"', b"-Infinity") + b"\n"
        + line(hostile_event("h32c"))[:-1] + b", }",
        ["invalid JSON", "invalid JSON", "invalid JSON"]),
}
# entries of requests/ that are not read, listed with their reasons (CONTRACT 1)
NOT_READ: dict[str, str] = {
    "s01_link.jsonl": "symbolic link, not read",
    ".hidden.jsonl": "hidden file, not read",
    "sub": "folder, not read",
}

# request id -> (country code, expected accounts specified); each accepted in 2022-H1 as legal, disclosed
ACCEPTED: dict[str, tuple[str, int]] = {
    "H-BOM": ("NO", 1),
    "H-CRLF": ("SE", 1),
    "H-FULLWIDTH": ("FI", 1),
    "H-ZERO-WIDTH": ("DK", 1),
    "x'); drop table t;--": ("IS", 1),
    "H-FORMULA": ("EE", 1),
    "H-LONG-ID": ("LV", 1),
    "H-100K": ("LT", 1),
    "H-DUPLICATE": ("IE", 1),
    "H-WRONG-TYPES": ("AT", 0),
    "H-LATER-BROKEN": ("PT", 1),
    # the words of lenient JSON inside strings: valid
    "H-LENIENT-LOOKALIKE": ("HU", 1),
}
# request id -> invalid identifier reasons it must list
INVALID: dict[str, list[str]] = {
    "x'); drop table t;--": ["unrecognised text"],
    "H-FORMULA": ["unrecognised text"],
    "H-LONG-ID": ["identifier too long"],
    "H-WRONG-TYPES": ["item is not a string or object"] * 4 + ["object without a string value"],
}
SQL = "'; drop table reporting.information_requests; --"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def hostile_drop(root: Path) -> Path:
    raw = e2e_drop(root)
    requests = raw / "requests"
    for name, (data, _) in QUARANTINED.items():
        (requests / name).write_bytes(data + (b"\n" if data else b""))
    (requests / "h29_broken.jsonl.gz").write_bytes(b"this is not gzip")
    (requests / "a01_bom.jsonl").write_bytes(b"\xef\xbb\xbf" + line(hostile_event("H-BOM", country="NO")) + b"\n")
    (requests / "a02_crlf.jsonl").write_bytes(
        line(hostile_event("H-CRLF", country="SE", outcome="pending")) + b"\r\n"
        + line(hostile_event("H-CRLF", country="SE", updated_at="2022-03-02T00:00:00Z")) + b"\r\n")
    (requests / "a03_fullwidth.jsonl").write_bytes(line(event(
        "H-FULLWIDTH", ["＠ｊａｎｅ．ｄｏｅ", "ｊａｎｅ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"], country="ＦＩ",
        request_type="ＬＥＧＡＬ", received_at=H, updated_at=H)) + b"\n")
    (requests / "a04_zero_width.jsonl").write_bytes(line(event(
        "H-ZERO-WIDTH", ["\u202ejane.doe\u202c", "jane\u200b.doe@example.com"], country="D\u200bK",
        request_type="le\u200egal", outcome="disc\u200dlosed", received_at=H, updated_at=H)) + b"\n")
    (requests / "a05_sql.jsonl").write_bytes(line(event(
        "x'); drop table t;--", ["@jane.doe", SQL], country="IS", agency=SQL, legal_process=SQL,
        received_at=H, updated_at=H)) + b"\n")
    (requests / "a06_formula.jsonl").write_bytes(line(event(
        "H-FORMULA", ["@jane.doe", FORMULA], country="EE", agency=FORMULA, legal_process=FORMULA,
        received_at=H, updated_at=H)) + b"\n")
    (requests / "a07_long_identifier.jsonl").write_bytes(line(event(
        "H-LONG-ID", ["a" * 500_000, "@jane.doe"], country="LV", received_at=H, updated_at=H)) + b"\n")
    # 100,001 items in a line under 1 MB: the items past the limit count as invalid
    (requests / "a08_100k.jsonl").write_bytes(line(event(
        "H-100K", ["@jane.doe"] + [1] * 100_000, country="LT", received_at=H, updated_at=H)) + b"\n")
    duplicate = line(hostile_event("H-DUPLICATE", country="IE"))
    (requests / "a09_duplicate.jsonl").write_bytes(duplicate + b"\n" + duplicate + b"\n")
    (requests / "a10_wrong_types.jsonl").write_bytes(line(event(
        "H-WRONG-TYPES", [None, 5, True, ["@x"], {"value": 5}], country="AT", received_at=H, updated_at=H)) + b"\n")
    (requests / "a11_later_broken.jsonl").write_bytes(
        line(hostile_event("H-LATER-BROKEN", country="PT")) + b"\n"
        + line(hostile_event("H-LATER-BROKEN", country="PT", outcome="not_a_thing",
                             updated_at="2022-04-01T00:00:00Z")) + b"\n")
    (requests / "a13_lenient_lookalike.jsonl").write_bytes(line(hostile_event(
        "H-LENIENT-LOOKALIKE", country="HU", agency="NaN, Infinity, ]", legal_process="[nan,]")) + b"\n")
    # a preservation request that says it disclosed data (the report's definitions: none does)
    (requests / "a12_preservation_disclosed.jsonl").write_bytes(line(hostile_event(
        "H-PRESERVATION-DISCLOSED", country="CZ", request_type="preservation", outcome="disclosed",
        legal_process="preservation letter")) + b"\n")
    # not read: a link out of the drop, a hidden file and a folder (each holds a valid event)
    outside = root.parent / f"{root.name}-outside.jsonl"
    outside.write_bytes(line(hostile_event("H-OUTSIDE", country="FR")) + b"\n")
    (requests / "s01_link.jsonl").symlink_to(outside)
    (requests / ".hidden.jsonl").write_bytes(line(hostile_event("H-HIDDEN", country="FR")) + b"\n")
    (requests / "sub").mkdir()
    (requests / "sub" / "x.jsonl").write_bytes(line(hostile_event("H-SUBFOLDER", country="FR")) + b"\n")
    # memory: a 48 KB gzip of 50 million newlines, a 2 MB gzip of one 2 GiB line, a plain 200 MB line
    (requests / "m01_bomb.jsonl.gz").write_bytes(gzip.compress(b"\n" * 50_000_000, compresslevel=9))
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with (requests / "m02_2gib_line.jsonl.gz").open("wb") as handle:
        chunk = b"a" * (1 << 20)
        for _ in range(2048):
            handle.write(packer.compress(chunk))
        handle.write(packer.compress(b"\n") + packer.flush())
    with (requests / "m03_200mb_line.jsonl").open("wb") as handle:
        for _ in range(200):
            handle.write(b"b" * (1 << 20))
        handle.write(b"\n" + line(hostile_event("H-AFTER-LONG", country="GR")) + b"\n")
    # a directory row with a reversed interval: never valid, so jane.doe still refers to JANE only
    with (raw / "directory" / "account_identifiers.csv").open("a") as handle:
        handle.write("6800000000000000099,username,jane.doe,2024-01-01T00:00:00Z,2020-01-01T00:00:00Z\n")
    return raw


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    done, peak = run_measured(hostile_drop(root / "raw"), root)
    assert done.returncode == 0, done.stderr[-2000:]
    con = duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True)
    yield con, root, peak
    con.close()


def test_corpus_has_at_least_30_kinds():
    # quarantined files + the broken gzip + accepted-but-hostile requests + the reversed interval
    assert len(QUARANTINED) + 1 + len(ACCEPTED) + 1 >= 30


@pytest.mark.parametrize("name", sorted(QUARANTINED))
def test_bad_line_is_quarantined_with_its_reason(hostile, name):
    con, *_ = hostile
    got = [r[0] for r in con.execute(
        "select quarantine_reason from dq.dq_quarantined_lines where file_name = ? order by line_number", [name]
    ).fetchall()]
    assert got == QUARANTINED[name][1]


def test_unreadable_gzip_is_one_quarantined_row(hostile):
    con, *_ = hostile
    got = con.execute(
        "select line_number, quarantine_reason from dq.dq_quarantined_lines where file_name = 'h29_broken.jsonl.gz'"
    ).fetchall()
    assert len(got) == 1 and got[0][0] == 0
    assert got[0][1].startswith("unreadable file: not a readable gzip file")


@pytest.mark.parametrize("name", sorted(NOT_READ))
def test_entry_not_read_is_listed_with_its_reason(hostile, name):
    con, *_ = hostile
    got = con.execute(
        "select line_number, quarantine_reason from dq.dq_quarantined_lines where file_name = ?", [name]
    ).fetchall()
    assert got == [(0, NOT_READ[name])]


def test_nothing_outside_or_hidden_is_read(hostile):
    con, *_ = hostile
    read = {r[0] for r in con.execute(
        "select request_id from staging.stg_requests__events where request_id like 'H-%'").fetchall()}
    assert not read & {"H-OUTSIDE", "H-HIDDEN", "H-SUBFOLDER"}
    assert con.execute("select count(*) from raw.request_lines where line_text like '%H-OUTSIDE%'").fetchone()[0] == 0


def test_long_line_is_not_stored(hostile):
    con, *_ = hostile
    assert con.execute("select max(length(line_text)) from raw.request_lines").fetchone()[0] < 1_000_000


def test_later_broken_event_is_quarantined(hostile):
    con, *_ = hostile
    got = con.execute(
        "select line_number, quarantine_reason from dq.dq_quarantined_lines where file_name = 'a11_later_broken.jsonl'"
    ).fetchall()
    assert got == [(2, "unknown outcome")]


@pytest.mark.parametrize("request_id", sorted(ACCEPTED))
def test_hostile_but_valid_request_is_counted_exactly(hostile, request_id):
    con, *_ = hostile
    country, accounts = ACCEPTED[request_id]
    got = con.execute(
        "select period, country_code, request_type, outcome, accounts_specified "
        "from intermediate.int_requests_counted where request_id = ?", [request_id]
    ).fetchall()
    assert got == [("2022-H1", country, "legal", "disclosed", accounts)]


@pytest.mark.parametrize("request_id", sorted(INVALID))
def test_hostile_identifiers_are_invalid_with_reason(hostile, request_id):
    con, *_ = hostile
    got = [r[0] for r in con.execute(
        "select invalid_reason from dq.dq_invalid_identifiers where request_id = ? order by item_index", [request_id]
    ).fetchall()]
    assert got == INVALID[request_id]


def test_baseline_figures_unchanged(hostile):
    _, root, _ = hostile
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        rows = con.execute(
            f"select {', '.join(COLUMNS)} from reporting.information_requests where period <> '2022-H1' order by all"
        ).fetchall()
        hostile_rows = con.execute(
            "select country_code, total_requests from reporting.information_requests where period = '2022-H1' order by 1"
        ).fetchall()
    assert rows == _approx(EXPECTED_BY_COUNTRY)
    # the accepted hostile requests, and the one after the 200 MB line
    assert hostile_rows == sorted([*((c, 1) for c, _ in ACCEPTED.values()), ("GR", 1), ("CZ", 1)])


def test_a_preservation_request_said_to_disclose_counts_as_preservation_in_no_rate(hostile):
    """It used to fail the run (the legal processes' disclosed requests above those that could
    disclose): it is counted as a preservation request, with its outcome as written, and in no
    disclosure rate, as the report's definitions say no data is disclosed on one."""
    _, root, _ = hostile
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        country = con.execute(
            "select total_requests, preservation_requests, legal_requests_disclosed, emergency_requests_disclosed, "
            "legal_disclosure_rate, emergency_disclosure_rate from reporting.information_requests "
            "where period = '2022-H1' and country_code = 'CZ'").fetchall()
        outcome = con.execute(
            "select requests from reporting.information_requests_by_outcome where period = '2022-H1' "
            "and country_code = 'CZ' and request_type = 'preservation' and outcome = 'disclosed'").fetchall()
        process = con.execute(
            "select requests, requests_disclosed, requests_disclosable "
            "from reporting.information_requests_by_legal_process where period = '2022-H1' and country_code = 'CZ'"
        ).fetchall()
        # over every country, the processes' disclosed requests are the legal and emergency ones
        disclosed = con.execute(
            "select (select sum(requests_disclosed) from reporting.information_requests_by_legal_process_global "
            "where period = '2022-H1'), (select legal_requests_disclosed + emergency_requests_disclosed "
            "from reporting.information_requests_global where period = '2022-H1')").fetchone()
    assert country == [(1, 1, 0, 0, None, None)]
    assert outcome == [(1,)]
    assert process == [(1, 0, 0)]
    assert disclosed[0] == disclosed[1]


def test_reversed_interval_is_ignored_and_counted(hostile):
    con, *_ = hostile
    got = con.execute(
        "select value from dq.dq_run_summary where section = 'directory' and item like 'rows with a reversed%'"
    ).fetchall()
    assert got == [(1,)]


def test_rows_in_equal_rows_reported_plus_quarantined(hostile):
    con, *_ = hostile
    read = con.execute("select value from dq.dq_run_summary where section = 'lines' and item = 'read'").fetchone()[0]
    accepted = con.execute("select value from dq.dq_run_summary where section = 'lines' and item = 'accepted'").fetchone()[0]
    quarantined = con.execute("select count(*) from dq.dq_quarantined_lines").fetchone()[0]
    assert read == accepted + quarantined
    # gzip, later-broken, e2e's broken line, and the entries not read
    expected_quarantined = sum(len(r) for _, r in QUARANTINED.values()) + 1 + 1 + 1 + len(NOT_READ) + len(MEMORY)
    assert quarantined == expected_quarantined


MEMORY = {
    "m01_bomb.jsonl.gz": (0, "unreadable file: gzip stream expands more than 200 times"),
    "m02_2gib_line.jsonl.gz": (0, "unreadable file: gzip stream expands more than 200 times"),
    "m03_200mb_line.jsonl": (1, "line longer than 1 MB, not parsed"),
}


def test_bombs_and_huge_lines_are_quarantined_in_bounded_memory(hostile):
    con, root, peak = hostile
    for name, row in MEMORY.items():
        assert con.execute("select line_number, quarantine_reason from dq.dq_quarantined_lines "
                           "where file_name = ?", [name]).fetchall() == [row], name
    # the line after the 200 MB one is read and counted; the run published its report
    assert con.execute("select count(*) from staging.stg_requests__current "
                       "where request_id = 'H-AFTER-LONG'").fetchone()[0] == 1
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as report:
        assert report.execute("select count(*) from reporting.information_requests where country_code = 'GR'"
                              ).fetchone()[0] == 1
    assert peak < 1 << 30, f"peak RSS {peak / 2**20:.0f} MiB"


def test_export_has_no_formula_cells(hostile):
    _, root, _ = hostile
    for path in (root / "exports").rglob("*.csv"):
        for cell in (c for row in path.read_text().splitlines() for c in row.split(",")):
            assert not cell.startswith(("=", "+", "@")) or cell.replace(".", "", 1).lstrip("+-").isdigit(), (path, cell)


# malformed directory files fail the run with a one-line reason ---------------------------------

def _irr_run(raw: Path, out: Path) -> subprocess.CompletedProcess:
    env = irr_process_env(raw, out / "wh", out / "ex")
    return subprocess.run([installed("irr"), "run"], env=env,
                          capture_output=True, text=True, timeout=600)


def _small_drop(root: Path) -> Path:
    return write_drop(root, {"a.jsonl": [event("R1", ["@jane.doe"])]}, ACCOUNTS, VIDEOS, SHORT_LINKS)


def test_parquet_file_that_is_not_parquet_fails_the_run(tmp_path):
    raw = _small_drop(tmp_path / "raw")
    (raw / "directory" / "videos.csv").unlink()
    (raw / "directory" / "videos.parquet").write_bytes(b"video_id,account_id\n1,2\n")
    result = _irr_run(raw, tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("irr: run failed: raw__drop: directory/videos.parquet cannot be read")


def test_a_parquet_directory_changed_while_the_models_read_it_fails_the_run(tmp_path, monkeypatch):
    """A Parquet directory is read where it lies: the load checks it, the models read it again
    (and the match trusts the profile's count of values that may not be canonical). A part
    replaced meanwhile, here with the same rows upper-cased once dbt has built the models, fails
    the models' step naming the part, and nothing is published."""
    from dagster_project.assets import dbt as dbt_assets
    from dagster_project.cli import RunFailed
    from drops import marts_alone_refused, run_in_process

    raw = _small_drop(tmp_path / "raw")
    csv, part = raw / "directory" / "account_identifiers.csv", raw / "directory" / "account_identifiers" / "part-0.parquet"
    part.parent.mkdir()
    with duckdb.connect() as con:
        con.execute(f"copy (select * from read_csv('{csv}', all_varchar = true, header = true)) to '{part}'")
    csv.unlink()
    build = dbt_assets._build

    def build_then_replace_the_part(*args, **kwargs):
        yield from build(*args, **kwargs)
        with duckdb.connect() as con:
            con.execute(f"copy (select * replace (upper(identifier_value) as identifier_value) from '{part}') "
                        f"to '{part}.new' (format parquet)")
        Path(f"{part}.new").replace(part)

    monkeypatch.setattr(dbt_assets, "_build", build_then_replace_the_part)
    with pytest.raises(RunFailed, match=r"^irr_dbt_models: directory/account_identifiers/part-0\.parquet changed "
                                        r"after the load checked it"):
        run_in_process(raw, tmp_path)
    assert not (tmp_path / "warehouse" / "report.duckdb").exists()
    assert not list((tmp_path / "exports").glob("*.csv"))
    # the build is forgotten as a failed one: the report marts run alone (as from the UI) refuse it
    monkeypatch.undo()
    assert marts_alone_refused(raw, tmp_path, "2023-H2").startswith("the intermediate models hold no complete build")


def test_directory_held_twice_fails_the_run(tmp_path):
    raw = _small_drop(tmp_path / "raw")
    (raw / "directory" / "short_links.csv.gz").write_bytes(b"")
    result = _irr_run(raw, tmp_path)
    assert result.returncode == 1
    assert "directory/ holds short_links more than once" in result.stderr.strip().splitlines()[-1]


# the directory is checked before anything is published (CONTRACT 1.3) ---------------------------

HEADER = "account_id,identifier_type,identifier_value,valid_from,valid_to\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEADER, "directory/account_identifiers.csv has no rows: an empty directory table would resolve nothing"),
        (HEADER + "6812345678901234567,username,jane.doe,,\n6800000000000097849,username,johngarcia\n",
         "directory/account_identifiers.csv line 3: unreadable row (MISSING COLUMNS)"),
        (HEADER + "6812345678901234567,username,jane.doe,,\n6.800000000000001e+18,username,johngarcia,,\n",
         "directory/account_identifiers.csv line 3: account_id is not a string of digits"),
        # invalid UTF-8 in the header, then in a row (the header is read alone: not its fault)
        (HEADER.replace("account_id", "account_\udcffid").encode("utf-8", "surrogateescape")
         + b"6812345678901234567,username,jane.doe,,\n",
         "directory/account_identifiers.csv line 1 (the header): invalid UTF-8 at byte 9"),
        (HEADER.encode() + b"6812345678901234567,username,jane.doe,,\n6800000000000097849,username,john\xffgarcia,,\n",
         "directory/account_identifiers.csv line 3: unreadable row (INVALID ENCODING)"),
    ],
    ids=["header-only", "three-fields", "float-id", "utf8-header", "utf8-row"],
)
def test_broken_directory_fails_with_one_line_and_no_value(tmp_path, content, expected):
    raw = _small_drop(tmp_path / "raw")
    target = raw / "directory" / "account_identifiers.csv"
    target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    result = _irr_run(raw, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"irr: run failed: raw__drop: {expected}"]
    # no value of the file reaches the output, the run's log or the Dagster event log
    seen = result.stdout + result.stderr + "".join(
        p.read_text(errors="replace") for p in (tmp_path / "wh" / "logs").glob("*.log"))
    seen += _event_log_text(tmp_path / "wh" / "dagster_home")
    for value in ("johngarcia", "6800000000000097849", "6.800000000000001e+18"):
        assert value not in seen
    assert not (tmp_path / "wh" / "report.duckdb").exists()


def _event_log_text(home: Path) -> str:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return "".join(str(entry) for record in instance.get_run_records()
                       for entry in instance.all_logs(record.dagster_run.run_id))


def test_parquet_directory_with_float_ids_fails_naming_the_row(tmp_path):
    raw = _small_drop(tmp_path / "raw")
    csv_path = raw / "directory" / "account_identifiers.csv"
    with duckdb.connect() as con:  # a data lake wrote account_id as DOUBLE: digits were lost
        con.execute(
            f"copy (select account_id::double as account_id, identifier_type, identifier_value, valid_from, valid_to "
            f"from read_csv('{csv_path}', all_varchar = true)) to '{raw / 'directory' / 'account_identifiers.parquet'}'"
        )
    csv_path.unlink()
    result = _irr_run(raw, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "irr: run failed: raw__drop: directory/account_identifiers.parquet row 1: "
        "account_id is not a string of digits"]


def test_small_count_protection_takes_no_published_count_for_a_known_zero(hostile):
    """The reader's program treats cells as known zeros where a sum has no other term: the
    preservation request said to disclose is a nonzero cell, and must not be one of them."""
    from dagster_project.disclosure import build_system

    _, root, _ = hostile
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        system = build_system(con, "2022-H1", 10)
    assert system.values[("outcome", "CZ", "preservation", "disclosed", "requests")] == 1
    assert {k: system.values[k] for k in system.known if system.values[k]} == {}
    assert not system.broken_sums() and not system.broken_orders()
