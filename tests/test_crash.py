"""Crashes and faults: `irr run` killed (SIGKILL) or failing (disk full, permission denied) at each
step of building and switching a publication leaves every public output of one publication
(the last good one, or the new one once switched), and the next run ends with the output of a
clean run. The faults are injected from outside the product (tests/faulty_irr.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from drops import cmdline, descendants, installed, irr_process_env, run_in_process
from test_end_to_end import e2e_drop

def _outputs(out: Path) -> dict:
    """What readers of the stable paths see; every file must belong to one publication."""
    files = [out / "warehouse" / "report.duckdb", *(p for p in (out / "exports").rglob("*") if p.is_file())]
    folders = {p.resolve().relative_to((out / "warehouse" / "publications").resolve()).parts[0] for p in files}
    assert len(folders) == 1, f"outputs of several publications: {sorted(folders)}"
    assert not [p for p in (out / "exports").rglob(".*")], "a temporary file in the public folder"
    assert {p.name for p in (out / "exports").rglob("*.html")} == {"report.html", "index.html"}
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        tables = {t: con.execute(f"select * from reporting.{t} order by all").fetchall()
                  for t in ("information_requests", "information_requests_global")}
    exports = {str(p.relative_to(out / "exports")): p.read_bytes() for p in sorted((out / "exports").rglob("*.csv"))}
    return {"tables": tables, "exports": exports}


def _change(raw: Path) -> None:
    path = raw / "requests" / "2023.jsonl"
    path.write_text(path.read_text().replace('"request_id": "U2"', '"request_id": "U2b"')
                    .replace('"rejected"', '"disclosed"'))


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """A (the last good run of the old drop) and B (a clean run of the changed drop)."""
    root = tmp_path_factory.mktemp("crash")
    raw_a = e2e_drop(root / "a" / "raw")
    run_in_process(raw_a, root / "a")
    raw_b = e2e_drop(root / "b" / "raw")
    _change(raw_b)
    run_in_process(raw_b, root / "b")
    a, b = _outputs(root / "a"), _outputs(root / "b")
    assert a != b
    return root, a, b


def _start(raw: Path, out: Path, fault: tuple[str, str] | None = None) -> subprocess.Popen:
    env = irr_process_env(raw, out / "warehouse", out / "exports")
    command = [installed("irr"), "run"]
    if fault:
        command = [sys.executable, str(Path(__file__).with_name("faulty_irr.py")), *fault, "run"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _kill_during_dbt(proc: subprocess.Popen) -> bool:
    """SIGKILL the whole run (irr and its dbt subprocess) once a dbt build is running; True if it was."""
    seen = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        commands = [cmdline(pid) for pid in descendants(proc.pid)]
        if any(b"dbt" in c and b"build" in c for c in commands):
            seen = True
            time.sleep(1.0)
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return seen


# (where, fault), in the order a run reaches them; each leaves the warehouse the next one starts from
FAULTS = [
    ("after:dagster_project.assets.report:write_export", "kill"),          # one period's CSV staged
    ("before:dagster_project.publication:Publisher._point_current", "enospc"),  # the disk full at the switch
    ("after:dagster_project.publication:Publisher.switch", "kill"),        # switched, versions not yet marked
]
# (every file-system step of staging and switching, killed and failed with ENOSPC and EACCES,
# is tests/test_publication.py's: this test checks a whole run around them)


def test_killed_or_failing_at_each_step_then_rerun(states, tmp_path):
    root, a, b = states
    shutil.copytree(root / "a", tmp_path / "run", symlinks=True)
    out = tmp_path / "run"
    _change(out / "raw")

    proc = _start(out / "raw", out)
    assert _kill_during_dbt(proc), "no dbt build was seen running"
    assert _outputs(out) == a

    for where, fault in FAULTS:
        proc = _start(out / "raw", out, (where, fault))
        _, err = proc.communicate(timeout=600)
        if fault == "kill":
            assert proc.returncode == -signal.SIGKILL, (where, err[-2000:])
        else:
            assert proc.returncode == 1, (where, err[-2000:])
            [line] = err.splitlines()
            assert line.startswith("irr: run failed: ") and ("Errno 28" in line or "Errno 13" in line), line
        # all old until the switch, all new from it
        expected = b if where.endswith("Publisher.switch") else a
        assert _outputs(out) == expected, where

    rerun = _start(out / "raw", out)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    assert _outputs(out) == b
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".seeding")]
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        versions = con.execute("select period, version from reporting.report_versions order by all").fetchall()
    # versions stay consecutive: the switched run's versions are confirmed, the others' dropped
    # (the change touches 2023-H2 only: 2024-H1 keeps its version)
    assert versions == [("2023-H2", 1), ("2023-H2", 2), ("2024-H1", 1)]
    # the staging folders of the runs that died are gone; the current and two earlier are kept
    assert len(list((out / "warehouse" / "publications").iterdir())) <= 3
