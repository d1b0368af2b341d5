"""Helpers to write small hand-made raw drops and to run the pipeline on them."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ACCOUNT_COLUMNS = ("account_id", "identifier_type", "identifier_value", "valid_from", "valid_to")


def event(request_id: str, identifiers: list | None = None, /, **fields) -> dict:
    """A valid request event with defaults; keyword arguments override or (with None) remove fields."""
    base = {
        "request_id": request_id,
        "updated_at": "2023-08-01T00:00:00Z",
        "received_at": "2023-08-01T00:00:00Z",
        "country": "US",
        "request_type": "legal",
        "outcome": "disclosed",
        "legal_process": "subpoena",
        "agency": "Test Police",
        "identifiers": identifiers if identifiers is not None else [],
    }
    for key, value in fields.items():
        if value is _REMOVE:
            base.pop(key, None)
        else:
            base[key] = value
    return base


class _Remove:
    pass


_REMOVE = _Remove()
REMOVE = _REMOVE


def write_drop(
    root: Path,
    files: dict[str, list[dict | str | bytes]],
    accounts: list[tuple[str, str, str, str, str]] = (),
    videos: list[tuple[str, str]] = (),
    short_links: list[tuple[str, str]] = (),
) -> Path:
    """Write requests/<name> files (dict -> JSON line, str/bytes as is) and the directory CSVs."""
    (root / "requests").mkdir(parents=True, exist_ok=True)
    (root / "directory").mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        data = b""
        for line in lines:
            if isinstance(line, dict):
                data += json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"
            elif isinstance(line, str):
                data += line.encode("utf-8") + b"\n"
            else:
                data += line + b"\n"
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        (root / "requests" / name).write_bytes(data)
    _csv(root / "directory" / "account_identifiers.csv", ACCOUNT_COLUMNS, accounts)
    _csv(root / "directory" / "videos.csv", ("video_id", "account_id"), videos)
    _csv(root / "directory" / "short_links.csv", ("code", "target_url"), short_links)
    return root


def _csv(path: Path, header, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# The installed entry points (irr, dagster, dagster-daemon, ...) are called by absolute path with
# a PATH that does not hold them, as cron, systemd or the daemon would: nothing activates a venv.
BIN = Path(sys.executable).parent
BARE_PATH = "/usr/bin:/bin"


def installed(name: str) -> str:
    """Absolute path of an entry point installed beside this interpreter."""
    return str(BIN / name)


def children(pid: int) -> list[int]:
    """The processes `pid` started (from its main thread), as /proc lists them now."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), as /proc lists them now."""
    out, todo = [], [pid]
    while todo:
        found = children(todo.pop())
        out += found
        todo += found
    return out


def cmdline(pid: int) -> bytes:
    """A process's command line (NUL-separated); empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except OSError:
        return False


def irr_process_env(raw: Path | str, warehouse: Path | str, exports: Path | str, **extra: str) -> dict[str, str]:
    """The environment of an `irr` subprocess pointed at the given folders, with no venv on PATH."""
    return {**os.environ, "PATH": BARE_PATH, "IRR_RAW_DIR": str(raw), "IRR_WAREHOUSE_DIR": str(warehouse),
            "IRR_EXPORT_DIR": str(exports), **extra}


@contextmanager
def irr_env(raw: Path, warehouse: Path, exports: Path):
    """Point the IRR_* variables at the given folders for the duration of the block."""
    names = {"IRR_RAW_DIR": raw, "IRR_WAREHOUSE_DIR": warehouse, "IRR_EXPORT_DIR": exports}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_in_process(raw: Path, out: Path, period: str | None = None) -> dict:
    """Run the Dagster job in-process on `raw`, writing under `out`; returns the CLI's outcome."""
    from dagster_project.cli import run

    with irr_env(raw, out / "warehouse", out / "exports"):
        return run(period)


MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)  # KiB, largest process
sys.exit(done.returncode)
"""


def run_measured(raw: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess, int]:
    """`irr run` as a subprocess; returns it and the peak RSS in bytes of its largest process
    (irr itself or one of its dbt invocations)."""
    done = subprocess.run([sys.executable, "-c", MEASURED, installed("irr"), "run", *args],
                          env=irr_process_env(raw, out / "warehouse", out / "exports"),
                          capture_output=True, text=True, timeout=900)
    *err, peak = done.stderr.splitlines()
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, "\n".join(err)), int(peak) * 1024


def compiled_match(target: Path) -> str:
    """int_directory_named as dbt compiled it into its target folder `target` (a run's is
    <warehouse>/dbt), on one line: which column its match compares."""
    sql = (target / "compiled" / "irr" / "models" / "intermediate" / "int_directory_named.sql").read_text()
    return " ".join(sql.split())


def dbt_by_hand(args: list[str], warehouse: Path, tmp_path: Path, succeeds: bool = True,
                **extra: str) -> subprocess.CompletedProcess:
    """dbt run by hand on `warehouse`: none of a run's settings (nor the production build's
    exclusion of unit tests: the e2e run was in-process)."""
    from dagster_project.dbt_project import DBT_PROJECT_DIR

    env = {**os.environ, "IRR_WAREHOUSE_DB": str(warehouse), "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "false"}
    for name in ("IRR_RUN_ID", "IRR_CURRENT_PUBLICATION", "IRR_PERIOD_FROM", "IRR_PERIOD_TO",
                 "DBT_EXCLUDE_RESOURCE_TYPES", "IRR_GROUP_SLICES"):
        env.pop(name, None)
    env.update(extra)
    result = subprocess.run(
        [installed("dbt"), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert (result.returncode == 0) == succeeds, result.stdout[-3000:]
    return result


def marts_alone_refused(raw: Path, out: Path, period: str) -> str:
    """Materialise the report marts of `period` alone (job irr_periods, as from the UI); it must
    fail: returns what the guard said (macros/periods.sql)."""
    from dagster_project.definitions import defs
    from dagster_project.instance import irr_instance
    from dagster_project.partitions import period_to_partition_key
    from dagster_project.resources import IrrPaths

    with irr_env(raw, out / "warehouse", out / "exports"), irr_instance(IrrPaths()) as instance:
        result = defs.resolve_job_def("irr_periods").execute_in_process(
            instance=instance, tags={"dagster/partition": period_to_partition_key(period)}, raise_on_error=False)
    assert not result.success
    said = re.search(r"the intermediate models hold [^:]*", "\n".join(
        str(e.event_specific_data) for e in result.all_events if e.is_failure))
    assert said, "the run failed, but not at the guard"
    return said.group(0)
