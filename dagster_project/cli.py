"""The `irr` command line: launch the report's Dagster jobs on the persistent instance, quietly.

`irr run` does three things of its own and leaves the rest to Dagster: it refuses a bad
request before anything is loaded, chooses the periods present in the drop once it is loaded,
and prints one line per step while the runs go on (dbt's and Dagster's own output goes to a
log file, or to the terminal with --verbose).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

LOGS_KEPT = 20


class RunFailed(Exception):
    """The run did not succeed; the message is the one-line reason."""


class Interrupted(BaseException):
    """A termination signal arrived; the message names it."""


# Signals that arrived while the CLI ran (names), seen through a wakeup pipe: Dagster handles
# SIGINT and SIGTERM itself during a run and a library may swallow the exception it raises,
# so the pipe is what tells irr that it was asked to stop.
_signals: list[str] = []
_wakeup: list[int] = []  # the pipe's read end, when main() installed it


def _install_signal_pipe() -> None:
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    _wakeup[:] = [read]


def _received_signals() -> list[str]:
    """Names of the signals that arrived since the last call (never blocks)."""
    if _wakeup:
        try:
            data = os.read(_wakeup[0], 64)
        except BlockingIOError:
            data = b""
        for signum in data:
            _signals.append(signal.Signals(signum).name)
    return _signals


def prepare_manifest(force: bool = False) -> None:
    """Build the dbt manifest the Dagster definitions are made from, when missing or stale."""
    from dagster_project.dbt_project import ensure_manifest

    ensure_manifest(force=force)


def _absolute_env() -> None:
    """Make the IRR_* folders absolute, so that the dbt subprocess reads the same paths.

    Links are kept: the export folder is a link to the current publication, read at each use.
    """
    for name in ("IRR_RAW_DIR", "IRR_WAREHOUSE_DIR", "IRR_EXPORT_DIR"):
        if os.environ.get(name):
            os.environ[name] = os.path.abspath(Path(os.environ[name]).expanduser())


def _one_line(error) -> str:
    """The most telling line of a (possibly wrapped) step error: a dbt failure or the root cause."""
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    for err in chain:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", err.message)  # dbt colours its output
        lines = [line.strip() for line in plain.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if line.startswith(("Failure in ", "Runtime Error in ", "Compilation Error in ")):
                detail = lines[i + 1] if i + 1 < len(lines) else ""
                return f"dbt: {line} {detail}".strip()
    # the first error that is not Dagster's own wrapper says what went wrong in our words
    told = [err for err in chain if not err.message.startswith("dagster._core.errors.")
            and "Error occurred while executing" not in err.message.splitlines()[0]]
    root = (told[0] if told else chain[-1]).message.strip() if chain else ""
    first = root.splitlines()[0] if root else "unknown error"
    return re.sub(r"^[\w.]+(Error|Exception|Failure): ", "", first)


def check_period(period: str) -> None:
    """Refuse a period that is malformed or outside the half-years this pipeline reports."""
    from dagster_project.partitions import FIRST_PERIOD, PERIOD_PATTERN, last_period

    if not PERIOD_PATTERN.match(period):
        raise RunFailed(f"--period must look like 2023-H2, not {period!r}")
    if not FIRST_PERIOD <= period <= last_period():
        raise RunFailed(f"period {period} is outside the half-years this pipeline reports "
                        f"({FIRST_PERIOD} to {last_period()})")


# --- progress ----------------------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _load_lines(mats: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    """The load step's lines: one per directory table, then the request files."""
    lines = []
    for key, meta in mats:
        if key == "raw/request_lines":
            unchanged = int(meta.get("files_unchanged") or 0)
            lines.append(("request files", f"{_plural(int(meta.get('lines', 0)), 'line')} in "
                                           f"{_plural(int(meta.get('files', 0)), 'file')}"
                                           + (f" ({unchanged:,} unchanged)" if unchanged else "")))
        elif key != "raw/request_files":
            lines.append(("directory", f"{key.split('/')[-1].replace('_', ' ')}: {_plural(int(meta.get('rows', 0)), 'row')}"
                                       + (" (unchanged: ids checked before)" if meta.get("ids_checked_before") else "")))
    return lines


def _step_line(step: str, mats: list[tuple[str, dict]], checks: tuple[int, int]) -> tuple[str, str]:
    """A finished step's label and what it did, from its materialisations' metadata and its checks."""
    meta = mats[0][1] if mats else {}
    passed, failed = checks
    if step in ("irr_dbt_models", "irr_dbt_period_models"):
        label = "dbt models" if step == "irr_dbt_models" else "report marts"
        tested = f", {passed:,} checks passed" + (f", {failed:,} failed" if failed else "")
        return label, f"{_plural(len({key for key, _ in mats}), 'table')} built{tested}"
    if step == "dq__data_quality_account":
        return "data quality", (f"{int(meta.get('lines_read', 0)):,} lines read, "
                                f"{int(meta.get('lines_quarantined', 0)):,} quarantined; "
                                f"{_plural(int(meta.get('requests', 0)), 'request')}"
                                + ("" if meta.get("periods", "every period") == "every period" else f" of {meta['periods']}"))
    if step == "exports__information_requests_csv":
        protection = meta.get("small_count_protection", "off")
        return "export", f"CSV for {meta.get('periods', '')}" + (f"; {protection}" if protection != "off" else "")
    if step == "reporting__report_duckdb":
        published, unchanged = meta.get("versions_published", "none"), meta.get("versions_unchanged", "none")
        text = f"new {published}" if published != "none" else "no new version"
        return "versions", text + (f"; unchanged {unchanged}" if unchanged != "none" else "")
    if step == "exports__report_html":
        drawn = _plural(str(meta.get("pages", "")).count("report.html"), "page")
        unchanged = int(meta.get("pages_unchanged") or 0)
        return "html", f"{drawn}{f' ({unchanged} unchanged)' if unchanged else ''} and the index"
    if step == "publication":
        return "publication", f"report.duckdb, CSVs and pages switched to run {str(meta.get('publication', ''))[:8]}"
    return step, ""


class Progress:
    """Prints one line per finished step of a run, read from the instance's event log as it runs."""

    def __init__(self, instance, out: TextIO) -> None:
        self.instance = instance
        self.out = out
        self.metadata: dict[str, dict] = {}  # asset key -> metadata of its last materialisation

    def print(self, label: str, detail: str, seconds: float | None = None) -> None:
        elapsed = f"{seconds:6.1f} s" if seconds is not None else ""
        self.out.write(f"  {label:<14} {detail:<60} {elapsed}".rstrip() + "\n")
        self.out.flush()

    def execute(self, job, **kwargs):
        from dagster import DagsterEventType
        from dagster._core.utils import make_new_run_id

        run_id = make_new_run_id()
        done = threading.Event()
        types = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS,
                 DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
        steps: dict[str, dict] = {}

        def follow() -> None:
            try:
                _follow()
            except Exception:  # noqa: BLE001 - progress lines are a courtesy; the run's result decides
                return

        def _follow() -> None:
            cursor, nudged = None, 0.0
            while True:
                finished = done.is_set()
                while True:
                    page = self.instance.get_records_for_run(run_id, cursor=cursor, of_type=types, limit=500)
                    cursor = page.cursor
                    for record in page.records:
                        self._take(record.event_log_entry, steps)
                    if not page.has_more:
                        break
                if finished:
                    return
                if _received_signals() and time.monotonic() - nudged > 2:
                    # asked to stop: interrupt the run again until it ends (a step may have
                    # swallowed the first interrupt)
                    nudged = time.monotonic()
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                done.wait(0.3)

        follower = threading.Thread(target=follow, name="irr-progress", daemon=True)
        follower.start()
        try:
            result = job.execute_in_process(
                instance=self.instance, run_id=run_id, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}}, **kwargs,
            )
        finally:
            done.set()
            follower.join(timeout=10)
        if _received_signals():
            raise Interrupted(f"interrupted by {_signals[0]}")
        if not result.success:
            raise RunFailed(_failure_reason(result))
        return result

    def _take(self, entry, steps: dict[str, dict]) -> None:
        event = entry.dagster_event
        step = steps.setdefault(event.step_key, {"start": entry.timestamp, "mats": [], "passed": 0, "failed": 0})
        if event.event_type_value == "STEP_START":
            step["start"] = entry.timestamp
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            metadata = {k: v.value for k, v in mat.metadata.items()}
            step["mats"].append((mat.asset_key.to_user_string(), metadata))
            self.metadata[mat.asset_key.to_user_string()] = metadata
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            step["passed" if event.event_specific_data.passed else "failed"] += 1
        elif event.event_type_value == "STEP_SUCCESS":
            seconds = entry.timestamp - step["start"]
            if event.step_key == "raw__drop":  # the directory is read beside the request files: one time for all
                *tables, last = _load_lines(step["mats"]) or [("load", "")]
                for label, detail in tables:
                    self.print(label, detail)
                self.print(*last, seconds)
                return
            label, detail = _step_line(event.step_key, step["mats"], (step["passed"], step["failed"]))
            self.print(label, detail, seconds)


# dbt's words when a table of the warehouse has the columns of an earlier irr (a seed or an
# incremental model changed): a migration, which `irr run --full-refresh` is
_SCHEMA_CHANGED = ("out of sync", "Failure in seed")


def _failure_reason(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            reason = f"{event.step_key}: {_one_line(error)}"
            if any(words in str(error) or words in reason for words in _SCHEMA_CHANGED):
                reason += " (a table of the warehouse has the columns of an earlier irr: run `irr run --full-refresh` once)"
            return reason
    return "the run failed"


# --- quiet output ------------------------------------------------------------------------------

@contextmanager
def _output(log_path: Path, verbose: bool) -> Iterator[TextIO]:
    """Send everything written to stdout and stderr (this process's and dbt's) to the log file.

    Yields the stream for irr's own lines: the real stdout. With `verbose`, nothing is
    redirected and the log file is not written.
    """
    if verbose:
        yield sys.stdout
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for old in sorted(log_path.parent.glob("irr-run-*.log"))[:-LOGS_KEPT]:
        old.unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    own = os.fdopen(os.dup(saved_out), "w", buffering=1)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield own
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except OSError:  # a full disk must not keep the terminal from getting its streams back
                    pass
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            own.close()


# --- the run -----------------------------------------------------------------------------------

def run(period: str | None, verbose: bool = False, out: TextIO | None = None, full_refresh: bool = False) -> dict:
    """Load the drop, then build, export and publish one period or every period in it.

    The runs are Dagster runs on the persistent instance (one for a period, two for every period:
    `_run_jobs`). `full_refresh` rebuilds the report
    marts from nothing (every period: a schema change). Raises RunFailed with a one-line reason.
    """
    from dagster_project import warm_dbt

    started = time.monotonic()
    with warm_dbt.started():  # dbt imports on the other core while this process imports Dagster
        return _run(period, verbose, out, full_refresh, started)


def _run(period: str | None, verbose: bool, out: TextIO | None, full_refresh: bool, started: float) -> dict:
    echo = out or sys.stdout
    if period is not None and full_refresh:
        raise RunFailed("--full-refresh rebuilds every period: leave out --period")
    if period is not None:
        check_period(period)
    from dagster_project.disclosure import min_count

    from dagster_project.resources import memory_limit

    try:
        min_count()  # a setting that is not a count stops the run before anything is read
        # dbt reads the same variable (profiles.yml): it gets the value checked here
        os.environ["IRR_DUCKDB_MEMORY_LIMIT"] = memory_limit()
    except ValueError as exc:
        raise RunFailed(str(exc)) from None
    _absolute_env()
    from dagster_project.resources import IrrPaths, WarehouseBusy, hold_warehouse

    paths = IrrPaths()
    from dagster_project.publication import PublicationError, Publisher

    try:
        Publisher(paths.warehouse_path, paths.export_path).check()
    except PublicationError as exc:
        raise RunFailed(str(exc)) from None
    for folder in ("requests", "directory"):
        if not (paths.raw_path / folder).is_dir():
            raise RunFailed(f"no {folder}/ folder in the raw drop {paths.raw_path} (set IRR_RAW_DIR)")
    from dagster_project.dbt_project import DbtNotFound, dbt_executable

    try:
        dbt_executable()
    except DbtNotFound as exc:
        raise RunFailed(str(exc)) from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = paths.warehouse_path / "logs" / f"irr-run-{stamp}-{os.getpid()}.log"
    try:
        with hold_warehouse(paths.warehouse_path, "irr run"):
            if not verbose:
                echo.write(f"irr run: {paths.raw_path} (log: {log_path})\n")
            with _output(log_path, verbose) as own:
                return _run_jobs(paths, period, own if out is None else echo, started, full_refresh) | {"log": log_path}
    except WarehouseBusy as exc:
        raise RunFailed(str(exc)) from None
    except Exception as exc:
        # a step's failure names its own cause; a write of the orchestration itself may not
        full = _full_disk(paths, None if isinstance(exc, RunFailed) else log_path)
        if full is not None:  # SQLite and DuckDB say "disk I/O error" or worse: name the cause
            raise RunFailed(f"no space left on the device of {full} ({_first(exc)})") from None
        raise


def _full_disk(paths, log_path: Path | None) -> Path | None:
    """The first of the run's output folders whose device has (almost) no space left; else, when
    the run's log is given and says a write found no space (the process that failed gave its
    space back on the way out: dbt's database rolled back), the output folder with the least
    space left. (Texts of the drop reach the log too: only a failure that is not a step's, such
    as SQLite's 'disk I/O error', looks there.)"""
    free = {}
    for folder in (paths.warehouse_path, paths.export_path):
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None:
            free[folder] = shutil.disk_usage(existing).free
            if free[folder] < 1 << 20:
                return folder
    if log_path is None:
        return None
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - (1 << 20)))
            said = b"[Errno 28] No space left on device" in log.read()
    except OSError:
        said = False
    return min(free, key=free.get) if said and free else None


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _run_jobs(paths, period: str | None, echo: TextIO, started: float, full_refresh: bool = False) -> dict:
    """One period: one Dagster run of the whole report job for its partition (the period is known
    before anything is read). Every period: two runs, since the periods are those the loaded drop
    holds: the load and build, then the marts of its half-years as one partition range."""
    from dagster_project.instance import dagster_home, irr_instance

    prepare_manifest()
    from dagster_project.jobs import irr_load_job, irr_periods_job, irr_report_job
    from dagster_project.assets.dbt import FULL_REFRESH_TAG, periods_found
    from dagster_project.partitions import period_range_tags

    with irr_instance(paths) as instance:
        jobs = [_resolved(job) for job in ((irr_report_job,) if period is not None else (irr_load_job, irr_periods_job))]
        _imports_done()
        progress = Progress(instance, echo)
        if period is not None:
            # a period without requests fails in the run, with the periods the drop holds
            progress.print("periods", period)
            result = progress.execute(jobs[0], tags=period_range_tags(period, period))
            runs, wanted = [result], [period]
        else:
            refresh = {FULL_REFRESH_TAG: "true"} if full_refresh else {}
            loaded = progress.execute(jobs[0], tags=refresh)
            with paths.connect(read_only=True) as con:
                wanted = periods_found(con)
            if not wanted:
                raise RunFailed("the drop holds no accepted request (see dq.dq_quarantined_lines)")
            progress.print("periods", ", ".join(wanted))
            tags = period_range_tags(wanted[0], wanted[-1]) | refresh
            runs = [loaded, progress.execute(jobs[1], tags=tags)]
    return {"paths": paths, "run_ids": [r.run_id for r in runs], "periods": wanted,
            "metadata": progress.metadata, "dagster_home": dagster_home(paths),
            "seconds": time.monotonic() - started}


def _resolved(job):
    from dagster_project.definitions import defs

    return defs.resolve_job_def(job.name)


# Whether `irr run` (entry) holds the cyclic collector until the run's imports are done.
_collector_held: list[bool] = []


def _imports_done() -> None:
    """Dagster, DuckDB, the instance's storage and the definitions are imported and made: objects
    that live as long as the process. The `irr run` process (entry) has held the cyclic collector
    until now: its full collections during those imports (four, 0.3 s of every run) are spared,
    and, frozen (gc.freeze), those objects are not walked by the collections to come."""
    if _collector_held:
        import gc

        _collector_held.clear()
        gc.freeze()
        gc.enable()


def _print_summary(outcome: dict) -> None:
    paths = outcome["paths"]
    with paths.connect(paths.report_db, read_only=True) as con:
        rows = con.execute(
            "select period, countries, total_requests, legal_requests, emergency_requests, "
            "preservation_requests from reporting.information_requests_global order by period"
        ).fetchall()
    print("period    countries  total  legal  emergency  preservation")
    for p, c, t, l, e, s in rows:
        print(f"{p:<9} {c:>9} {t:>6} {l:>6} {e:>10} {s:>13}")
    print(f"done in {outcome['seconds']:.1f} s; runs recorded in {outcome['dagster_home']}")
    print(f"report:  {paths.report_db}")
    print(f"exports: {paths.export_path}")
    print(f"html:    {paths.export_path / 'index.html'}")


# --- entry point -------------------------------------------------------------------------------

def _on_signal(signum, _frame) -> None:
    _received_signals()
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


def _quiet_warnings() -> None:
    """Third-party warnings are not the operator's business (they go to the log with --verbose)."""
    if "--verbose" not in sys.argv:
        warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="irr", description="Information Requests Report pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="materialise the report for every period in the drop, or one")
    run_p.add_argument("--period", help="one half-year, e.g. 2023-H2")
    run_p.add_argument("--verbose", action="store_true", help="show dbt's and Dagster's output instead of a log file")
    run_p.add_argument("--accept-drift", action="store_true",
                       help="publish even if the figures drifted from the last published version (the drift gate)")
    run_p.add_argument("--full-refresh", action="store_true",
                       help="rebuild the report tables from nothing, every period (after a column was added or changed)")
    gen_p = sub.add_parser("generate", help="write a deterministic synthetic raw drop")
    gen_p.add_argument("out", type=Path)
    gen_p.add_argument("--requests", type=int, default=1000)
    gen_p.add_argument("--seed", type=int, default=1)
    gen_p.add_argument("--start", default="2023-01-01", help="first day covered (a 1 Jan or 1 Jul)")
    gen_p.add_argument("--halves", type=int, default=4, help="number of half-years covered")
    sub.add_parser("prepare", help="build the dbt manifest and create the Dagster instance folder (DAGSTER_HOME)")
    args = parser.parse_args(argv)

    _quiet_warnings()
    _install_signal_pipe()
    terminal = os.fdopen(os.dup(2), "w", buffering=1)  # stderr as it was, whatever a run redirects
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _on_signal)
    try:
        if args.command == "run":
            if args.accept_drift:
                os.environ["IRR_ACCEPT_DRIFT"] = "1"
            _print_summary(run(args.period, verbose=args.verbose, full_refresh=args.full_refresh))
        elif args.command == "generate":
            try:
                from irr_dev.generate import write_drop
            except ImportError:
                raise RunFailed("irr generate is a development command: install irr from its repository "
                                "(pip install -e \".[dev]\")") from None

            counts = write_drop(args.out, args.requests, args.seed, args.start, args.halves)
            print(", ".join(f"{k}: {v}" for k, v in counts.items()))
        elif args.command == "prepare":
            prepare_manifest(force=True)
            from dagster_project.dbt_project import MANIFEST_TARGET
            from dagster_project.dbt_selections import STORED_NAME, selections_of

            selections_of((MANIFEST_TARGET / "manifest.json").read_bytes(), MANIFEST_TARGET / STORED_NAME)
            _absolute_env()
            from dagster_project.instance import dagster_home
            from dagster_project.resources import IrrPaths

            print(f"manifest built; Dagster instance at {dagster_home(IrrPaths())}")
    except BaseException as exc:  # noqa: BLE001 - the CLI promises a one-line reason
        if _received_signals() or isinstance(exc, (Interrupted, KeyboardInterrupt)):
            name = (_signals or ["SIGINT"])[0]
            print(f"irr: {args.command} interrupted by {name}", file=terminal)
            return 128 + signal.Signals[name].value
        if isinstance(exc, RunFailed):
            print(f"irr: {args.command} failed: {exc}", file=terminal)
            return 1
        if not isinstance(exc, Exception):
            raise
        print(f"irr: {args.command} failed: {_first(exc)}", file=terminal)
        return 1
    return 0


def entry() -> None:
    """The `irr` command: `main`, then out without the interpreter's teardown.

    A run leaves Dagster and DuckDB imported: freeing their modules one object at a time
    takes the interpreter about a second after the work is done. What an exit must do is done
    here instead: the threads are joined, the exit hooks run and the streams flushed.
    """
    from dagster_project.warm_dbt import finish

    # dbt runs in processes of its own (warm_dbt.py): this one never imports dbt-core, which
    # dagster-dbt imports whenever it can (about 1 s) and here needs only to evaluate two
    # selections, evaluated elsewhere instead (dbt_selections.py)
    sys.modules.setdefault("dbt", None)
    if sys.argv[1:2] == ["run"]:  # until its imports are done (_imports_done)
        import gc

        gc.disable()
        _collector_held.append(True)
    code = main()
    if not finish():
        code = code or 1
    os._exit(code)


if __name__ == "__main__":
    entry()
