"""The load step: the directory is read on a second thread beside the request files, and a
failure on either side stops the other and fails the step with the directory's error first."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import materialize

from dagster_project import raw_drop
from dagster_project.assets import raw
from dagster_project.raw_drop import DropError
from dagster_project.resources import IrrPaths
from drops import write_drop

ACCOUNT = ("6812345678901234567", "username", "jane.doe", "", "")
WAIT = 60  # seconds: far more than either side takes here; reached only when they do not overlap
# a scan that would take far longer than the tests: only an interrupt ends it
ENDLESS = "select count(*) from range(10000000000000) as a(i) where hash(i) = 0"


def _drop(tmp_path: Path) -> IrrPaths:
    write_drop(tmp_path / "raw", {"a.jsonl": [{"request_id": "R-1"}], "b.jsonl": [{"request_id": "R-2"}]},
               accounts=[ACCOUNT], videos=[("7301234567890123456", ACCOUNT[0])],
               short_links=[("ZMabc123", "https://www.tiktok.com/@jane.doe")])
    return IrrPaths(raw_dir=str(tmp_path / "raw"), warehouse_dir=str(tmp_path / "wh"),
                    export_dir=str(tmp_path / "ex"))


def test_the_directory_is_read_while_the_request_files_are(tmp_path, monkeypatch):
    paths = _drop(tmp_path)
    directory_started, requests_started = threading.Event(), threading.Event()
    load_directory, load_requests = raw.load_directory_table, raw.load_request_lines

    def directory(*args, **kwargs):
        directory_started.set()
        assert requests_started.wait(WAIT), "the request files were not read while the directory was"
        return load_directory(*args, **kwargs)

    def requests(*args, **kwargs):
        requests_started.set()
        assert directory_started.wait(WAIT), "the directory was not read while the request files were"
        return load_requests(*args, **kwargs)

    monkeypatch.setattr(raw, "load_directory_table", directory)
    monkeypatch.setattr(raw, "load_request_lines", requests)
    result = materialize([raw.raw_drop], resources={"paths": paths})
    assert result.success
    rows = {mat.asset_key.path[-1]: mat.metadata for mat in result.asset_materializations_for_node("raw__drop")}
    assert list(rows) == ["account_identifiers", "short_links", "videos", "request_lines", "request_files"]
    assert rows["account_identifiers"]["rows"].value == 1 and rows["request_lines"]["lines"].value == 2
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        assert con.execute("select count(*) from raw.request_lines").fetchone() == (2,)
        assert con.execute("select count(*) from raw.videos").fetchone() == (1,)


def test_a_directory_error_stops_the_request_files_and_is_the_error_reported(tmp_path, monkeypatch):
    paths = _drop(tmp_path)
    stopped = []
    load_requests = raw.load_request_lines

    def directory(*args, **kwargs):
        raise DropError("directory/videos.csv lacks column(s) account_id")

    def requests(con, raw_dir, full=False, stop=None, **kwargs):
        # still reading when the directory fails: the load is asked to stop
        for _ in range(WAIT * 20):
            if stop():
                break
            threading.Event().wait(0.05)
        stopped.append(stop())
        return load_requests(con, raw_dir, full=full, stop=stop, **kwargs)

    monkeypatch.setattr(raw, "load_directory_table", directory)
    monkeypatch.setattr(raw, "load_request_lines", requests)
    result = materialize([raw.raw_drop], resources={"paths": paths}, raise_on_error=False)
    assert not result.success and stopped == [True]
    failure = next(event for event in result.all_events if event.is_step_failure)
    error = failure.step_failure_data.error.cause
    assert (error.cls_name, error.message.strip()) == ("DropError", "dagster_project.raw_drop.DropError: "
                                                       "directory/videos.csv lacks column(s) account_id")
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:  # the request lines rolled back
        assert con.execute("select count(*) from information_schema.tables "
                           "where table_schema = 'raw' and table_name = 'request_lines'").fetchone() == (0,)


@contextmanager
def _bounded(con: duckdb.DuckDBPyConnection, late: list) -> Iterator[None]:
    """The test's own bound on ENDLESS scans, should the step not interrupt them: after WAIT
    seconds the scan is interrupted, and `late` says so."""
    def give_up() -> None:
        late.append(True)
        con.interrupt()

    watchdog = threading.Timer(WAIT, give_up)
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def test_a_request_error_interrupts_the_directory_scan(tmp_path, monkeypatch):
    paths = _drop(tmp_path)
    scanning, failed = threading.Event(), threading.Event()
    late = []

    def directory(con, *args, **kwargs):
        with _bounded(con, late):
            scanning.set()
            con.execute(ENDLESS).fetchall()

    def requests(*args, **kwargs):
        assert scanning.wait(WAIT)
        failed.set()
        raise raw_drop.UnreadableFile("the requests folder cannot be read")

    monkeypatch.setattr(raw, "load_directory_table", directory)
    monkeypatch.setattr(raw, "load_request_lines", requests)
    result = materialize([raw.raw_drop], resources={"paths": paths}, raise_on_error=False)
    failure = next(event for event in result.all_events if event.is_step_failure)
    # the request files' error, not the interrupt it caused; the scan was interrupted by the step
    assert failed.is_set() and failure.step_failure_data.error.cause.cls_name == "UnreadableFile"
    assert not late


def test_an_interrupt_while_the_directory_is_checked_stops_its_thread_whatever_follows(tmp_path, monkeypatch):
    # the request files are read; the step waits for the directory's check; a SIGINT comes, then
    # another while the step is stopping the check (the CLI repeats it): the check's thread is
    # interrupted until it ends, and none is left running when the step ends
    paths = _drop(tmp_path)
    interrupted, late, ended = [], [], []
    main = threading.main_thread().ident

    def directory(con, *args, **kwargs):
        threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT)).start()
        with _bounded(con, late):
            for seconds in (1.0, 0):  # two scans with Python work between them (hashing the parts)
                if late:
                    break
                try:
                    con.execute(ENDLESS).fetchall()
                except duckdb.InterruptException:
                    interrupted.append(True)
                if seconds:
                    threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT)).start()
                    time.sleep(seconds)
        ended.append(True)

    monkeypatch.setattr(raw, "load_directory_table", directory)
    result = materialize([raw.raw_drop], resources={"paths": paths}, raise_on_error=False)
    failure = next(event for event in result.all_events if event.is_step_failure)
    # the step failed as interrupted (not on a connection closed under the thread)
    assert not result.success and failure.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
    # both scans were interrupted, and the thread had returned when the step ended
    assert interrupted == [True, True] and ended and not late
