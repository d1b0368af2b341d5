"""Semiannual operations: partitions, the schedule, idempotent re-runs, versions and restatements,
readers during a run, and one writer at a time."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import build_schedule_context

from dagster_project.cli import RunFailed
from dagster_project.partitions import half_year_partitions, partition_key_to_period, period_to_partition_key
from dagster_project.resources import SAMPLE_RAW_DIR, IrrPaths
from dagster_project.schedules import closed_period, cron_for_lag, half_yearly_report
from drops import installed, irr_process_env, marts_alone_refused, run_in_process
from test_end_to_end import e2e_drop

REPO = Path(__file__).resolve().parent.parent


# partitions and schedule ---------------------------------------------------------------------

@pytest.mark.parametrize(("period", "key"), [("2019-H1", "2019-01-01"), ("2023-H2", "2023-07-01")])
def test_period_and_partition_key_map_both_ways(period, key):
    assert period_to_partition_key(period) == key
    assert partition_key_to_period(key) == period


def test_partitions_start_in_2019_h1_and_include_the_half_year_in_progress():
    keys = half_year_partitions.get_partition_keys(current_time=datetime(2026, 11, 24, tzinfo=timezone.utc))
    assert keys[0] == "2019-01-01"
    assert keys[-1] == "2026-07-01"
    assert len(keys) == 16


@pytest.mark.parametrize(
    ("lag", "crons"),
    [(0, ["0 0 1 1 *", "0 0 1 7 *"]), (14, ["0 0 15 1 *", "0 0 15 7 *"]), (45, ["0 0 15 2 *", "0 0 15 8 *"])],
)
def test_schedule_fires_lag_days_after_each_half_year(lag, crons):
    assert cron_for_lag(lag) == crons


@pytest.mark.parametrize(
    ("scheduled", "lag", "period"),
    [
        (datetime(2024, 1, 15), 14, "2023-H2"),
        (datetime(2024, 7, 15), 14, "2024-H1"),
        (datetime(2024, 1, 1), 0, "2023-H2"),
        (datetime(2024, 8, 15), 45, "2024-H1"),
    ],
)
def test_closed_period(scheduled, lag, period):
    assert closed_period(scheduled.date(), lag) == period


@pytest.mark.parametrize(
    ("scheduled", "partition_key"),
    [(datetime(2024, 1, 15, tzinfo=timezone.utc), "2023-07-01"),
     (datetime(2025, 7, 15, tzinfo=timezone.utc), "2025-01-01")],
)
def test_schedule_requests_the_closed_half_year(scheduled, partition_key):
    request = half_yearly_report(build_schedule_context(scheduled_execution_time=scheduled))
    assert request.partition_key == partition_key
    assert request.run_key == f"scheduled-{partition_key_to_period(partition_key)}"


# re-runs, versions, restatements -------------------------------------------------------------

def _tables(out: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        return {t: con.execute(f"select * from reporting.{t} order by all").fetchall()
                for t in ("information_requests", "information_requests_global")}


def _warehouse_report(out: Path) -> list[tuple]:
    """The warehouse's own report rows (what the next run publishes)."""
    with duckdb.connect(str(out / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select * from reporting.information_requests order by all").fetchall()


def _exports(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out / "exports")): p.read_bytes() for p in sorted((out / "exports").rglob("*.csv"))}


def _versions(out: Path) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        return con.execute("select period, version from reporting.report_versions order by all").fetchall()


def _restatements(out: Path) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse" / "report.duckdb"), read_only=True) as con:
        return con.execute(
            "select period, version, country_code, metric, old_value, new_value from reporting.restatements order by all"
        ).fetchall()


def _rewrite(raw: Path, name: str, request_id: str, **changes) -> None:
    path = raw / "requests" / name
    lines = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            lines.append(line)
            continue
        if event.get("request_id") == request_id:
            event.update(changes)
        lines.append(json.dumps(event))
    path.write_text("\n".join(lines) + "\n")


def _as_legacy_history(warehouse_db: Path) -> None:
    with duckdb.connect(str(warehouse_db)) as con:
        con.execute("create table reporting.report_versions as select * from history.report_versions")
        for table in ("information_requests_versions", "restatements"):
            con.execute(f"create table reporting.{table} as "
                        f"select * exclude (run_id, is_published) from history.{table}")
        con.execute("drop schema history cascade")


def test_rerun_is_idempotent_and_a_change_restates_exactly_the_affected_rows(tmp_path):
    raw = e2e_drop(tmp_path / "raw")
    run_in_process(raw, tmp_path)
    tables_1, exports_1 = _tables(tmp_path), _exports(tmp_path)

    # the same input again: identical tables, byte-identical export, no new version, no restatement
    second = run_in_process(raw, tmp_path)
    assert _tables(tmp_path) == tables_1
    assert _exports(tmp_path) == exports_1
    assert _versions(tmp_path) == [("2023-H2", 1), ("2024-H1", 1)]
    assert _restatements(tmp_path) == []
    assert second["metadata"]["reporting/report_duckdb"]["versions_published"] == "none"
    assert second["metadata"]["reporting/report_duckdb"]["versions_unchanged"] == "2023-H2 v1, 2024-H1 v1"

    # U2 (US, legal, 2023-H2) is now disclosed; D1 (DE, 2024-H1) changes too, but only 2023-H2 is run
    _rewrite(raw, "2023.jsonl", "U2", outcome="disclosed")
    _rewrite(raw, "2024.jsonl", "D1", outcome="rejected")
    third = run_in_process(raw, tmp_path, period="2023-H2")
    tables_3 = _tables(tmp_path)
    # one period costs what its requests cost: every request is read, but only 2023-H2's are
    # worked on from their identifiers on (the data-quality account says so)
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select * from intermediate.int_run_scope").fetchall() == [("2023-H2", "2023-H2")]
        assert con.execute("select distinct period from intermediate.int_requests_counted").fetchall() == [("2023-H2",)]
        assert con.execute("select count(distinct period) from staging.stg_requests__current").fetchone()[0] == 2
    assert third["metadata"]["dq/data_quality_account"]["periods"] == "2023-H2"
    # so the marts of another half-year cannot be rebuilt from them (materialised alone, as from
    # the UI): the run fails before it deletes a row, and says what to do
    assert marts_alone_refused(raw, tmp_path, "2024-H1") == (
        "the intermediate models hold the half-years 2023-H2 to 2023-H2, not all of 2024-H1 to 2024-H1")
    assert _tables(tmp_path) == tables_3
    built = _warehouse_report(tmp_path)

    # a run of a half-year the drop no longer holds fails before it touches that half-year's rows
    # (else the next run would publish the half-year without them)
    (raw / "requests" / "2023.jsonl").rename(tmp_path / "2023.jsonl")
    with pytest.raises(RunFailed, match="irr_dbt_period_models: period 2023-H2 has no requests in the drop"):
        run_in_process(raw, tmp_path, period="2023-H2")
    assert _warehouse_report(tmp_path) == built
    (tmp_path / "2023.jsonl").rename(raw / "requests" / "2023.jsonl")

    # a build that stops half-way (a failing directory check) leaves no record of what the
    # intermediate models hold: the marts alone are refused even for the half-year built before
    accounts = raw / "directory" / "account_identifiers.csv"
    kept = accounts.read_bytes()
    accounts.write_bytes(kept + b"6800000000000000395,fax,123,,\n")
    with pytest.raises(RunFailed, match="directory_identifier_types_are_email_phone_or_username"):
        run_in_process(raw, tmp_path)
    accounts.write_bytes(kept)
    assert marts_alone_refused(raw, tmp_path, "2023-H2") == (
        "the intermediate models hold no complete build, not all of 2023-H2 to 2023-H2")
    assert _warehouse_report(tmp_path) == built
    changed = [row for row in tables_3["information_requests"] if row not in tables_1["information_requests"]]
    assert [(r[0], r[3], r[9], r[11]) for r in changed] == [("2023-H2", "US", 2, 1.0)]
    assert len(tables_3["information_requests"]) == len(tables_1["information_requests"])
    # 2024-H1 was not run: its figures are untouched even though its input changed
    assert [r for r in tables_3["information_requests"] if r[0] == "2024-H1"] == \
           [r for r in tables_1["information_requests"] if r[0] == "2024-H1"]
    assert _restatements(tmp_path) == [
        ("2023-H2", 2, "US", "legal_disclosure_rate", 0.5, 1.0),
        ("2023-H2", 2, "US", "legal_requests_disclosed", 1.0, 2.0),
    ]
    exports_3 = _exports(tmp_path)
    assert exports_3["2024-H1/information_requests.csv"] == exports_1["2024-H1/information_requests.csv"]
    assert exports_3["2023-H2/information_requests.csv"] != exports_1["2023-H2/information_requests.csv"]

    # earlier versions stay queryable
    with duckdb.connect(str(tmp_path / "warehouse" / "report.duckdb"), read_only=True) as con:
        by_version = con.execute(
            "select version, legal_requests_disclosed from reporting.information_requests_versions "
            "where period = '2023-H2' and country_code = 'US' order by version"
        ).fetchall()
    assert by_version == [(1, 1), (2, 2)]

    # a warehouse from before dbt kept the history (Python wrote it into `reporting`, without a
    # run or status on the figures) is taken over by the next run: versions go on where they stopped
    _as_legacy_history(tmp_path / "warehouse" / "warehouse.duckdb")

    # now 2024-H1 is run: D1 no longer disclosed
    run_in_process(raw, tmp_path, period="2024-H1")
    assert ("2024-H1", 2, "DE", "legal_requests_disclosed", 2.0, 1.0) in _restatements(tmp_path)
    assert _versions(tmp_path) == [("2023-H2", 1), ("2023-H2", 2), ("2024-H1", 1), ("2024-H1", 2)]
    assert ("2023-H2", 2, "US", "legal_requests_disclosed", 1.0, 2.0) in _restatements(tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_tables() where schema_name = 'reporting' "
                           "and table_name in ('report_versions', 'restatements')").fetchone()[0] == 0


# readers and writers -------------------------------------------------------------------------

READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select sum(total_requests) from reporting.information_requests").fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute("select sum(total_requests) from reporting.information_requests").fetchone()[0], flush=True)
"""


WRITER = """
import duckdb, os, sys
con = duckdb.connect(sys.argv[1])  # read-write: what an analyst must not do
con.execute("create table analyst_scratch as select 1 as x")
os._exit(0)  # dies without a checkpoint: the write stays in report.duckdb.wal
"""
COUNT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from duckdb_tables() where table_name = 'analyst_scratch'").fetchone()[0],
      con.execute("select sum(total_requests) from reporting.information_requests").fetchone()[0])
"""


def _irr(args: list[str], raw: Path, out: Path, **kwargs) -> subprocess.Popen:
    env = irr_process_env(raw, out / "warehouse", out / "exports")
    return subprocess.Popen([installed("irr"), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_readers_and_an_analyst_writing_do_not_disturb_a_run(tmp_path):
    raw = e2e_drop(tmp_path / "raw")
    run_in_process(raw, tmp_path)
    report = tmp_path / "warehouse" / "report.duckdb"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(report)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdout.readline().strip() == "10"
    _rewrite(raw, "2024.jsonl", "F1", request_type="legal")  # the count stays 10, the file is replaced
    (raw / "requests" / "2025.jsonl").write_text(json.dumps({
        "request_id": "N1", "updated_at": "2024-03-01T00:00:00Z", "received_at": "2024-03-01",
        "country": "FR", "request_type": "legal", "outcome": "disclosed", "identifiers": []}) + "\n")
    run = _irr(["run"], raw, tmp_path)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-2000:]
    reader.stdin.write("\n")
    reader.stdin.flush()
    # the reader keeps its consistent (old) view; a new reader sees the new file
    assert reader.stdout.readline().strip() == "10"
    reader.wait(timeout=60)
    with duckdb.connect(str(report), read_only=True) as con:
        assert con.execute("select sum(total_requests) from reporting.information_requests").fetchone()[0] == 11
    assert not list((tmp_path / "warehouse").glob(".report.duckdb.*"))

    # an analyst who writes to the published file cannot break the next run nor its readers
    assert stat.S_IMODE(report.stat().st_mode) == 0o444  # read-only on disk (root can still write)
    subprocess.run([sys.executable, "-c", WRITER, str(report)], check=True, timeout=120)
    written = report.resolve()  # the published file the link pointed at; its WAL lies beside it
    assert written.with_name("report.duckdb.wal").exists()
    run_in_process(raw, tmp_path)  # does not fail on the analyst's WAL
    assert report.resolve() != written
    assert not report.resolve().with_name("report.duckdb.wal").exists()
    assert not report.with_name("report.duckdb.wal").exists()
    reader = subprocess.run([sys.executable, "-c", COUNT, str(report)], capture_output=True, text=True, timeout=120)
    assert reader.returncode == 0, reader.stderr[-2000:]
    assert reader.stdout.split() == ["0", "11"]  # the published figures, without the analyst's table


def _wait_for_holder(lock: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.05)
    return lock.read_text().strip()


def test_second_concurrent_run_fails_fast(tmp_path):
    raw = e2e_drop(tmp_path / "raw")
    first = _irr(["run"], raw, tmp_path)
    lock = tmp_path / "warehouse" / ".irr-run.lock"
    assert _wait_for_holder(lock) == f"irr run, pid {first.pid}"
    second = _irr(["run"], raw, tmp_path)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 1
    assert err.strip().splitlines() == [
        f"irr: run failed: warehouse {tmp_path / 'warehouse'} is being written by irr run, pid {first.pid}; "
        "try again when it has finished"
    ]
    assert first.poll() is None  # the second one did not wait for the first to finish

    # a run launched by Dagster (UI, schedule, sensor, `dagster job execute`) honours the same lock
    from dagster import DagsterInstance

    from dagster_project.definitions import defs
    from drops import irr_env

    with irr_env(raw, tmp_path / "warehouse", tmp_path / "exports"), DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("irr_load").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
    assert f"is being written by irr run, pid {first.pid}" in failure.event_specific_data.error.message

    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    assert lock.read_text() == ""  # released


def test_irr_run_fails_at_once_while_a_dagster_run_holds_the_warehouse(tmp_path):
    """The other way round: while a Dagster run holds the warehouse, `irr run` fails at once naming it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from dagster_project.resources import hold_warehouse\n"
         "with hold_warehouse(Path(sys.argv[1]), 'Dagster run 1a2b3c4d'):\n"
         "    print('held', flush=True); time.sleep(120)", str(tmp_path / "warehouse")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = _irr(["run"], SAMPLE_RAW_DIR, tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert f"is being written by Dagster run 1a2b3c4d, pid {holder.pid};" in err.strip().splitlines()[-1]
        assert not (tmp_path / "warehouse" / "warehouse.duckdb").exists()
    finally:
        holder.kill()
        holder.wait()


def test_shipped_instance_runs_one_run_at_a_time(tmp_path):
    from dagster import DagsterInstance

    from dagster_project.instance import INSTANCE_TEMPLATE

    (tmp_path / "dagster.yaml").write_bytes(INSTANCE_TEMPLATE.read_bytes())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 1


def test_every_python_connection_is_bounded_by_the_memory_setting(tmp_path, monkeypatch):
    from dagster_project.resources import IrrPaths

    monkeypatch.setenv("IRR_DUCKDB_MEMORY_LIMIT", "300MB")
    paths = IrrPaths(warehouse_dir=str(tmp_path / "wh"))
    with paths.connect() as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    for wrong in ("4GB'; drop table x; --", "none", "abc", "100", "4GB4GB", "\uff11\uff27\uff22"):
        monkeypatch.setenv("IRR_DUCKDB_MEMORY_LIMIT", wrong)
        with pytest.raises(ValueError, match="IRR_DUCKDB_MEMORY_LIMIT must be a size such as 4GB"):
            paths.connect()
    monkeypatch.setenv("IRR_DUCKDB_MEMORY_LIMIT", "1KB")  # DuckDB could not read a file: refused
    with pytest.raises(ValueError, match="must be 100MB or more"):
        paths.connect()
    monkeypatch.setenv("IRR_DUCKDB_MEMORY_LIMIT", "")  # set but empty: the default, as in dbt's profile
    with paths.connect() as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "3.7 GiB"


def test_checkpoints_keep_row_groups_as_written_and_the_load_vacuums_every_few_loads(tmp_path):
    import yaml

    from dagster_project.resources import VACUUM_EVERY_LOADS, IrrPaths, vacuum_if_due

    # both sides of a run: a checkpoint by either would otherwise merge what the other left
    profile = yaml.safe_load((Path(__file__).parents[1] / "dbt" / "profiles.yml").read_text())
    assert profile["irr"]["outputs"]["warehouse"]["settings"]["max_vacuum_tasks"] == 0

    def loads(paths: IrrPaths, vacuum: bool) -> list[int]:
        """What re-runs do to a kept table: each deletes one row (another each time: another
        request file changed) and inserts it again; the file's size after each."""
        sizes, done = [], []
        with paths.connect() as con:
            assert con.execute("select current_setting('max_vacuum_tasks')").fetchone()[0] == 0
            con.execute("create table files as select range as i, md5(range::varchar) as s from range(180)")
            for n in range(4 * VACUUM_EVERY_LOADS):
                if vacuum:
                    done.append(vacuum_if_due(con))
                con.execute("delete from files where i = ?", [n])
                con.execute("insert into files select ?, md5(?::varchar)", [n, n])
                con.execute("checkpoint")
                sizes.append(paths.warehouse_db.stat().st_size)
            assert con.execute("select count(*) from files").fetchone()[0] == 180
        if vacuum:
            assert done == [(n + 1) % VACUUM_EVERY_LOADS == 0 for n in range(4 * VACUUM_EVERY_LOADS)]
        return sizes

    grown = loads(IrrPaths(warehouse_dir=str(tmp_path / "kept")), vacuum=False)
    assert grown[-1] > 3 * grown[VACUUM_EVERY_LOADS - 1], grown  # a row group a load, never merged
    vacuumed = loads(IrrPaths(warehouse_dir=str(tmp_path / "vacuumed")), vacuum=True)
    # the space of the merged row groups is used again: the file stops growing
    assert max(vacuumed[2 * VACUUM_EVERY_LOADS:]) <= max(vacuumed[:2 * VACUUM_EVERY_LOADS]) < grown[-1] / 2, (
        vacuumed, grown)


def _events_of(instance, key):
    from dagster import DagsterEventType, EventRecordsFilter

    return instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, asset_key=key))


def test_irr_runs_store_events_that_dagsters_own_storage_reads(tmp_path, monkeypatch):
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    from dagster_project.event_log import IrrSqliteEventLogStorage
    from dagster_project.instance import irr_instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    paths = IrrPaths(warehouse_dir=str(tmp_path / "wh"))
    key = AssetKey(["reporting", "x"])
    with irr_instance(paths) as instance:
        assert isinstance(instance.event_log_storage, IrrSqliteEventLogStorage)
        for n in range(3):  # a data version is one of the tags Dagster indexes (its own table)
            instance.report_runless_asset_event(
                AssetMaterialization(key, metadata={"n": n}, tags={"dagster/data_version": f"v{n}"}))
        assert len(_events_of(instance, key)) == 3
    home = tmp_path / "wh" / "dagster_home"
    # closed: no connection left open (SQLite removes the write-ahead log with the last one)
    assert not list((home / "history" / "runs").glob("*-wal"))
    with DagsterInstance.from_config(str(home)) as instance:  # as the webserver and daemon read it
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        records = _events_of(instance, key)
        tags = instance.event_log_storage.get_event_tags_for_asset(key)
    assert sorted(r.asset_materialization.metadata["n"].value for r in records) == [0, 1, 2]
    assert sorted(t["dagster/data_version"] for t in tags) == ["v0", "v1", "v2"]


def test_an_instance_with_its_own_storage_keeps_it(tmp_path, monkeypatch):
    from dagster_project.instance import irr_instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "wh" / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(
        f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n")
    with irr_instance(IrrPaths(warehouse_dir=str(tmp_path / "wh"))) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
    assert (tmp_path / "elsewhere").is_dir()
