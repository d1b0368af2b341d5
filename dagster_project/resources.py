"""Resources: where the raw drop, the warehouse and the exports live, connections to the
warehouse, and the one writer of a warehouse."""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

def dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list[dict]:
    """The rows of a query, each as a dict by column name."""
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


MEMORY_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([KMGT])i?B", re.ASCII | re.IGNORECASE)
# Below this DuckDB cannot even read a directory file, and the error would blame the file.
MIN_MEMORY_BYTES = 100 * 10**6


def memory_limit() -> str:
    """DuckDB's memory limit for every connection of a run, Python's and dbt's (IRR_DUCKDB_MEMORY_LIMIT,
    unset or empty: 4GB). A size such as 4GB, 500MB or 1.5 GiB, of 100 MB at least: anything else
    (`none` included, which would lift the bound) raises ValueError."""
    value = (os.environ.get("IRR_DUCKDB_MEMORY_LIMIT") or "").strip() or "4GB"
    match = MEMORY_SIZE.fullmatch(value)
    if not match:
        raise ValueError(f"IRR_DUCKDB_MEMORY_LIMIT must be a size such as 4GB or 500MB, not {value!r}")
    size = float(match.group(1)) * 1000 ** ("KMGT".index(match.group(2).upper()) + 1)
    if size < MIN_MEMORY_BYTES:
        raise ValueError(f"IRR_DUCKDB_MEMORY_LIMIT must be 100MB or more, not {value!r}")
    return value


# The warehouse's database file, in the warehouse folder; dbt's profile names it relative to
# that folder (dbt works there), the same for every warehouse.
WAREHOUSE_DB = "warehouse.duckdb"

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RAW_DIR = REPO_ROOT / "data" / "sample"
LOCK_FILE = ".irr-run.lock"


class WarehouseBusy(RuntimeError):
    """Another process is writing the warehouse; the message names it."""


class IrrPaths(ConfigurableResource):
    """Folders of one deployment, and the warehouse held exclusively for the whole run.

    A field left unset is read from its environment variable when the run starts
    (IRR_RAW_DIR, IRR_WAREHOUSE_DIR, IRR_EXPORT_DIR), else the contract's default;
    relative paths are read from the working directory. Every asset of every run (CLI, UI,
    schedule, sensor) uses this resource, so every run takes the warehouse lock: a second
    writer fails at once with one line naming the holder.
    """

    raw_dir: Optional[str] = None
    warehouse_dir: Optional[str] = None
    export_dir: Optional[str] = None

    _hold: Optional[object] = PrivateAttr(default=None)

    @property
    def raw_path(self) -> Path:
        return _folder(self.raw_dir, "IRR_RAW_DIR", str(SAMPLE_RAW_DIR))

    @property
    def warehouse_path(self) -> Path:
        return _folder(self.warehouse_dir, "IRR_WAREHOUSE_DIR", "warehouse")

    @property
    def export_path(self) -> Path:
        # not resolved: the export folder is a link to the current publication, followed at each read
        return _folder(self.export_dir, "IRR_EXPORT_DIR", "exports", resolve=False)

    @property
    def warehouse_db(self) -> Path:
        return self.warehouse_path / WAREHOUSE_DB

    @property
    def report_db(self) -> Path:
        """The analysts' stable path: a link through `current` to the published file."""
        return self.warehouse_path / "report.duckdb"

    @property
    def dbt_target_path(self) -> Path:
        """dbt's artifacts, logs and partial-parse state for this warehouse (one folder, reused)."""
        return self.warehouse_path / "dbt"

    def connect(self, database: Optional[Path] = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to the warehouse, or to `database` (a staged report.duckdb): every
        asset, sensor and the CLI connect here. Use it as a context manager, so it closes.

        dbt's own connection to the warehouse is configured in dbt/profiles.yml.
        """
        path = database or self.warehouse_db
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
        # the same bound as dbt's (profiles.yml): past it DuckDB spills beside the database
        # rather than growing to most of the machine's memory (its default)
        con.execute(f"set memory_limit = '{memory_limit()}'")
        if not read_only:
            # as dbt's (profiles.yml): no checkpoint merges part-full row groups. A single one
            # left to merge them would rewrite, at its close, the tables every dbt build made.
            # Every VACUUM_EVERY_LOADS loads, the load merges them (vacuum_if_due).
            con.execute("set max_vacuum_tasks = 0")
        return con

    def setup_for_execution(self, context: InitResourceContext) -> None:
        run_id = context.run.run_id if context.run else "?"
        self._hold = hold_warehouse(self.warehouse_path, f"Dagster run {run_id[:8]}")
        self._hold.__enter__()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._hold is not None:
            self._hold.__exit__(None, None, None)
            self._hold = None


# How many loads of a warehouse one vacuum serves. Without it, a table kept between runs whose
# rows are deleted and inserted again (the request lines of a changed file, a period's marts)
# gains a part-full row group each time, and a row group that keeps one live row stays: 1.9 MB a
# run on the 250k drop when a different request file changes each time. The vacuum merges them
# (and the part-full row groups every parallel insert leaves: 0.85 s at 250k requests).
VACUUM_EVERY_LOADS = 8


def vacuum_if_due(con: duckdb.DuckDBPyConnection) -> bool:
    """Count this load (raw.vacuum_state) and, every VACUUM_EVERY_LOADS of them, checkpoint with
    DuckDB's vacuum (it merges part-full row groups and drops deleted rows); whether it did. Called
    by the load before it writes, with no other transaction open on the warehouse."""
    con.execute("create schema if not exists raw")
    con.execute("create table if not exists raw.vacuum_state (loads_since_vacuum integer)")
    done = con.execute("select max(loads_since_vacuum) from raw.vacuum_state").fetchone()[0] or 0
    due = done + 1 >= VACUUM_EVERY_LOADS
    con.execute("begin")
    con.execute("delete from raw.vacuum_state")
    con.execute("insert into raw.vacuum_state values (?)", [0 if due else done + 1])
    con.execute("commit")
    if due:  # after that write: DuckDB skips a checkpoint that has nothing new to write, vacuum and all
        con.execute("reset max_vacuum_tasks")
        try:
            con.execute("checkpoint")
        finally:
            con.execute("set max_vacuum_tasks = 0")
    return due


def _folder(configured: Optional[str], variable: str, default: str, resolve: bool = True) -> Path:
    value = Path(configured or os.environ.get(variable) or default).expanduser()
    return value.resolve() if resolve else Path(os.path.abspath(value))


# Warehouses this process holds: (nesting depth, lock file). `irr run` holds its warehouse
# across its Dagster runs, and each run's resource takes it again inside.
_held: dict[Path, tuple[int, object]] = {}
_held_guard = threading.Lock()


@contextmanager
def hold_warehouse(warehouse_dir: Path, holder: str) -> Iterator[None]:
    """Hold the warehouse's exclusive lock (an flock the OS drops when the process dies), or fail at once."""
    warehouse_dir = warehouse_dir.resolve()
    with _held_guard:
        depth, handle = _held.get(warehouse_dir, (0, None))
        _held[warehouse_dir] = (depth + 1, handle or _acquire(warehouse_dir, holder))
    try:
        yield
    finally:
        with _held_guard:
            depth, handle = _held.pop(warehouse_dir)
            if depth > 1:
                _held[warehouse_dir] = (depth - 1, handle)
            else:
                _release(handle)


def _acquire(warehouse_dir: Path, holder: str):
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    handle = (warehouse_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "another process"
        handle.close()
        raise WarehouseBusy(
            f"warehouse {warehouse_dir} is being written by {other}; try again when it has finished"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder}, pid {os.getpid()}")
    handle.flush()
    return handle


def _release(handle) -> None:
    handle.seek(0)
    handle.truncate()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
