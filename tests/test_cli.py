"""CONTRACT 3.3: `irr run` as a real process: env variables, --period, exit codes, byte-identical export."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from contract_cases import ACCOUNTS, SHORT_LINKS, VIDEOS
from dagster_project.dbt_project import DBT_PROJECT_DIR
from dagster_project.partitions import last_period
from drops import event, installed, irr_process_env, write_drop
from test_end_to_end import e2e_drop


def irr(args: list[str], raw: Path, out: Path, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = irr_process_env(raw, out / "wh", out / "ex", **extra)
    return subprocess.run([installed("irr"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    return e2e_drop(tmp_path_factory.mktemp("cli") / "raw")


def _report_tables(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse / "report.duckdb"), read_only=True) as con:
        return con.execute("select * from reporting.information_requests order by all").fetchall()


def test_run_twice_gives_byte_identical_export_equal_tables_and_no_new_version(drop, tmp_path):
    first = irr(["run"], drop, tmp_path / "one")
    assert first.returncode == 0, first.stderr[-2000:]
    exports = {p: (tmp_path / "one" / "ex" / p / "information_requests.csv").read_bytes() for p in ("2023-H2", "2024-H1")}
    pages = {p: (tmp_path / "one" / "ex" / p / "report.html").stat().st_ino for p in ("2023-H2", "2024-H1")}
    tables = _report_tables(tmp_path / "one" / "wh")
    second = irr(["run"], drop, tmp_path / "one")
    assert second.returncode == 0, second.stderr[-2000:]
    for period, data in exports.items():
        assert (tmp_path / "one" / "ex" / period / "information_requests.csv").read_bytes() == data
    # the request files were loaded and parsed by the first run: not read again
    files = re.search(r"^  request files +[\d,]+ lines in (\d+) files? \((\d+) unchanged\) ", second.stdout, re.M)
    assert files and files.group(1) == files.group(2), second.stdout
    assert "unchanged" not in next(line for line in first.stdout.splitlines() if line.startswith("  request files"))
    # the same figures: the pages are not drawn again (the files carried over into the new publication)
    assert re.search(r"^  html +0 pages \(2 unchanged\) and the index ", second.stdout, re.M), second.stdout
    assert {p: (tmp_path / "one" / "ex" / p / "report.html").stat().st_ino for p in pages} == pages
    assert _report_tables(tmp_path / "one" / "wh") == tables and len(tables) == 4
    # publishing the same figures again is not a new version
    assert "versions       no new version; unchanged 2023-H2 v1, 2024-H1 v1" in second.stdout
    with duckdb.connect(str(tmp_path / "one" / "wh" / "report.duckdb"), read_only=True) as con:
        assert con.execute("select period, version from reporting.report_versions order by all").fetchall() == [
            ("2023-H2", 1), ("2024-H1", 1)]

    # quiet, honest output: one line per step, the totals and the paths; nothing on stderr
    lines = first.stdout.splitlines()
    assert first.stderr == "" and "\x1b[" not in first.stdout
    assert len(lines) <= 25, first.stdout
    assert lines[0].startswith(f"irr run: {drop} (log: {tmp_path / 'one' / 'wh' / 'logs'}")
    labels = [line.split()[0] for line in lines if line.startswith("  ")]
    assert labels == ["directory", "directory", "directory", "request", "dbt", "data", "periods", "report",
                      "export", "versions", "html", "publication"], first.stdout
    assert "versions       new 2023-H2 v1, 2024-H1 v1" in first.stdout
    assert "publication    report.duckdb, CSVs and pages switched to run " in first.stdout
    assert any(line.startswith("  request files  ") and " lines in " in line for line in lines)
    assert f"report:  {tmp_path / 'one' / 'wh' / 'report.duckdb'}" in lines
    assert f"html:    {tmp_path / 'one' / 'ex' / 'index.html'}" in lines
    assert "2023-H2" in first.stdout

    # dbt's output went to the log file; dbt did not parse the project whole, not even in the
    # first run (a new warehouse): the partial-parse state made with the manifest serves it
    logs = sorted((tmp_path / "one" / "wh" / "logs").glob("irr-run-*.log"))
    assert len(logs) == 2
    first_log, second_log = (p.read_text() for p in logs)
    assert "Finished running" in first_log
    assert "Unable to do partial parsing" not in first_log + second_log
    dbt_log = (tmp_path / "one" / "wh" / "dbt" / "dbt.log").read_text()
    assert "Partial parsing enabled" in dbt_log and "Unable to do partial parsing" not in dbt_log
    # nor any file of it: the run's environment is the one the manifest was parsed in
    assert "Partial parsing: updated file" not in dbt_log
    # dbt worked in the warehouse folder: its database is there, nothing was written beside the project
    assert (tmp_path / "one" / "wh" / "warehouse.duckdb").exists()
    assert not list(DBT_PROJECT_DIR.glob("*.duckdb*"))
    # dbt's working files (artifacts, compiled SQL, its log) live with the warehouse
    assert {"run_results.json", "manifest.json", "compiled", "dbt.log"} <= {
        p.name for p in (tmp_path / "one" / "wh" / "dbt").iterdir()}

    # every version a run added is confirmed with its publication
    with duckdb.connect(str(tmp_path / "one" / "wh" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), count(*) filter (where is_published) "
                           "from history.report_versions").fetchone() == (2, 2)

    # a warehouse of an earlier irr: a seed with another column, a report table without one, the
    # table of a renamed model. A plain run stops and says what to do; --full-refresh rebuilds
    # every table, every period, to the same figures, and drops the retired table
    with duckdb.connect(str(tmp_path / "one" / "wh" / "warehouse.duckdb")) as con:
        con.execute("alter table reporting.information_requests drop column legal_requests_nondisclosure_order")
        con.execute("alter table reference.request_types add column request_type_label varchar")
        con.execute("create table intermediate.int_identifiers_canonical as select 'jane.doe' as canonical_value")
    stopped = irr(["run"], drop, tmp_path / "one")
    assert stopped.returncode == 1
    [reason] = stopped.stderr.splitlines()
    assert reason.startswith("irr: run failed: ") and reason.endswith("run `irr run --full-refresh` once)"), reason
    refreshed = irr(["run", "--full-refresh"], drop, tmp_path / "one")
    assert refreshed.returncode == 0, refreshed.stderr[-2000:]
    assert _report_tables(tmp_path / "one" / "wh") == tables
    assert "versions       no new version; unchanged 2023-H2 v1, 2024-H1 v1" in refreshed.stdout
    with duckdb.connect(str(tmp_path / "one" / "wh" / "warehouse.duckdb"), read_only=True) as con:
        assert not con.execute("select count(*) from duckdb_tables() "
                               "where table_name = 'int_identifiers_canonical'").fetchone()[0]


def test_full_refresh_of_one_period_is_refused(drop, tmp_path):
    result = irr(["run", "--full-refresh", "--period", "2023-H2"], drop, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["irr: run failed: --full-refresh rebuilds every period: leave out --period"]
    assert not (tmp_path / "wh").exists()


def test_run_one_period_with_relative_dirs_writes_only_that_period(drop, tmp_path):
    """Relative folders are read from the working directory; --period builds that half-year only."""
    env = irr_process_env(drop, "rel_wh", "rel_ex")
    result = subprocess.run([installed("irr"), "run", "--period", "2024-H1"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "rel_wh" / "report.duckdb").is_file()
    assert sorted(p.name for p in (tmp_path / "rel_ex").iterdir() if p.is_dir()) == ["2024-H1"]
    assert (tmp_path / "rel_ex" / "2024-H1" / "information_requests.csv").is_file()


def test_period_absent_from_drop_fails_with_one_line_reason(drop, tmp_path):
    result = irr(["run", "--period", "2019-H1"], drop, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "irr: run failed: irr_dbt_period_models: period 2019-H1 has no requests in the drop "
        "(periods found: 2023-H2, 2024-H1)"]
    assert not (tmp_path / "wh" / "report.duckdb").exists()


def test_period_outside_the_reported_range_is_refused_before_loading(drop, tmp_path):
    result = irr(["run", "--period", "1999-H1"], drop, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "irr: run failed: period 1999-H1 is outside the half-years this pipeline reports "
        f"(2019-H1 to {last_period()})"]
    assert not (tmp_path / "wh").exists()  # nothing was loaded


def test_missing_directory_folder_fails_with_one_line_before_loading(drop, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(drop / "requests", raw / "requests")
    result = irr(["run"], raw, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"irr: run failed: no directory/ folder in the raw drop {raw} (set IRR_RAW_DIR)"]
    assert not (tmp_path / "wh").exists()


def test_malformed_period_fails_before_running(drop, tmp_path):
    result = irr(["run", "--period", "2023-Q3"], drop, tmp_path)
    assert result.returncode == 1
    assert last_line(result) == "irr: run failed: --period must look like 2023-H2, not '2023-Q3'"


def test_small_count_setting_that_is_not_a_count_fails_before_running(drop, tmp_path):
    result = irr(["run"], drop, tmp_path, IRR_PUBLIC_MIN_COUNT="ten")
    assert result.returncode == 1
    assert last_line(result).startswith("irr: run failed: IRR_PUBLIC_MIN_COUNT must be a whole number")
    assert not (tmp_path / "wh").exists()


def test_memory_setting_that_is_not_a_size_fails_before_running(drop, tmp_path):
    result = irr(["run"], drop, tmp_path, IRR_DUCKDB_MEMORY_LIMIT="abc")
    assert result.returncode == 1
    assert last_line(result) == ("irr: run failed: IRR_DUCKDB_MEMORY_LIMIT must be a size such as 4GB or 500MB, "
                                 "not 'abc'")
    assert not (tmp_path / "wh").exists()


def test_directory_file_missing_a_column_fails_the_run(tmp_path):
    raw = write_drop(tmp_path / "raw", {"a.jsonl": [event("R1", ["@jane.doe"])]}, ACCOUNTS, VIDEOS, SHORT_LINKS)
    (raw / "directory" / "videos.csv").write_text("video_id\n7301234567890123456\n")
    result = irr(["run"], raw, tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "directory/videos.csv lacks column(s) account_id" in last_line(result)


def test_missing_drop_fails_with_one_line_reason(tmp_path):
    result = irr(["run"], tmp_path / "nowhere", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"irr: run failed: no requests/ folder in the raw drop {tmp_path / 'nowhere'} (set IRR_RAW_DIR)"]


def test_irr_run_gives_the_collector_back_once_its_imports_are_done(monkeypatch):
    """`irr run` (entry) holds the cyclic collector while it imports Dagster and the definitions:
    _imports_done freezes what they made, then collects again; once."""
    import gc

    from dagster_project import cli

    monkeypatch.setattr(cli, "_collector_held", [True])
    gc.disable()
    try:
        cli._imports_done()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.unfreeze()
        gc.disable()
        cli._imports_done()  # given back already: left as it is
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.enable()
