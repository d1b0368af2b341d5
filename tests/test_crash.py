"""Crashes: `irr run` killed (SIGKILL) at several points leaves the last good report and export,
and the next run ends with output identical to a clean run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from drops import installed, irr_process_env, run_in_process
from test_end_to_end import e2e_drop

def _outputs(out: Path) -> dict:
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


def _start(raw: Path, out: Path, crash_at: str | None) -> subprocess.Popen:
    env = irr_process_env(raw, out / "warehouse", out / "exports")
    if crash_at:
        env["IRR_CRASH_AT"] = crash_at
    return subprocess.Popen([installed("irr"), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
        todo += [int(c) for c in children]
    return out


def _kill_during_dbt(proc: subprocess.Popen) -> bool:
    """SIGKILL the whole run (irr and its dbt subprocess) once a dbt build is running; True if it was."""
    seen = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        commands = []
        for pid in _descendants(proc.pid):
            try:
                commands.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass
        if any(b"dbt" in c and b"build" in c for c in commands):
            seen = True
            time.sleep(1.0)
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return seen


@pytest.mark.parametrize(
    "point", ["after_raw_load", "during_dbt", "export_before_rename", "publish_before_rename", "publish_after_rename"]
)
def test_kill_then_rerun(states, tmp_path, point):
    root, a, b = states
    shutil.copytree(root / "a", tmp_path / "run")
    out = tmp_path / "run"
    _change(out / "raw")
    proc = _start(out / "raw", out, None if point == "during_dbt" else point)
    if point == "during_dbt":
        assert _kill_during_dbt(proc), "no dbt build was seen running"
    else:
        proc.wait(timeout=600)
    os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
    assert proc.returncode == -signal.SIGKILL

    after_crash = _outputs(out)
    if point == "publish_after_rename":
        # the new report was complete and swapped in before the kill
        assert after_crash == b
    elif point == "publish_before_rename":
        # the export of the new drop was finished; report.duckdb is still the last good one
        assert after_crash["tables"] == a["tables"] and after_crash["exports"] == b["exports"]
    else:
        assert after_crash == a

    rerun = _start(out / "raw", out, None)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    assert _outputs(out) == b
    assert not list(out.rglob("*.tmp"))
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        versions = con.execute("select period, version from reporting.report_versions order by all").fetchall()
    # versions stay consecutive: a version that was never confirmed is not kept
    # (the change touches 2023-H2 only: 2024-H1 keeps its version)
    assert versions == [("2023-H2", 1), ("2023-H2", 2), ("2024-H1", 1)]
