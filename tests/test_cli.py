"""CONTRACT 3.3: `irr run` as a real process: env variables, --period, exit codes, byte-identical export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from contract_cases import ACCOUNTS, SHORT_LINKS, VIDEOS
from drops import event, irr_process_env, write_drop
from test_end_to_end import e2e_drop


def irr(args: list[str], raw: Path, out: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = irr_process_env(raw, out / "wh", out / "ex")
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    return e2e_drop(tmp_path_factory.mktemp("cli") / "raw")


def test_run_twice_gives_byte_identical_export_and_equal_tables(drop, tmp_path):
    first = irr(["run"], drop, tmp_path / "one")
    second = irr(["run"], drop, tmp_path / "two")
    assert first.returncode == 0, first.stderr[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    for period in ("2023-H2", "2024-H1"):
        a = (tmp_path / "one" / "ex" / period / "information_requests.csv").read_bytes()
        b = (tmp_path / "two" / "ex" / period / "information_requests.csv").read_bytes()
        assert a == b
    tables = []
    for name in ("one", "two"):
        with duckdb.connect(str(tmp_path / name / "wh" / "report.duckdb"), read_only=True) as con:
            tables.append(con.execute("select * from reporting.information_requests order by all").fetchall())
    assert tables[0] == tables[1] and len(tables[0]) == 4
    assert "2023-H2" in first.stdout  # the summary printed on success


def test_run_one_period_writes_only_that_period(drop, tmp_path):
    result = irr(["run", "--period", "2024-H1"], drop, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "ex").iterdir() if p.is_dir()) == ["2024-H1"]


def test_run_relative_dirs_are_read_from_the_working_directory(drop, tmp_path):
    env = irr_process_env(drop, "rel_wh", "rel_ex")
    result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "run", "--period", "2023-H2"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "rel_wh" / "report.duckdb").is_file()
    assert (tmp_path / "rel_ex" / "2023-H2" / "information_requests.csv").is_file()


def test_period_absent_from_drop_fails_with_one_line_reason(drop, tmp_path):
    result = irr(["run", "--period", "2019-H1"], drop, tmp_path)
    assert result.returncode != 0
    assert last_line(result).startswith("irr: run failed:")
    assert "2019-H1" in last_line(result) and "2023-H2" in last_line(result)
    assert not (tmp_path / "wh" / "report.duckdb").exists()


def test_malformed_period_fails_before_running(drop, tmp_path):
    result = irr(["run", "--period", "2023-Q3"], drop, tmp_path)
    assert result.returncode == 1
    assert last_line(result) == "irr: run failed: --period must look like 2023-H2, not '2023-Q3'"


def test_directory_file_missing_a_column_fails_the_run(tmp_path):
    raw = write_drop(tmp_path / "raw", {"a.jsonl": [event("R1", ["@jane.doe"])]}, ACCOUNTS, VIDEOS, SHORT_LINKS)
    (raw / "directory" / "videos.csv").write_text("video_id\n7301234567890123456\n")
    result = irr(["run"], raw, tmp_path)
    assert result.returncode == 1
    assert "directory/videos.csv lacks column(s) account_id" in last_line(result)


def test_missing_drop_fails_with_one_line_reason(tmp_path):
    result = irr(["run"], tmp_path / "nowhere", tmp_path)
    assert result.returncode == 1
    assert last_line(result).startswith("irr: run failed: no raw drop at")
