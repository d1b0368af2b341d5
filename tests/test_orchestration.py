"""Dagster is the one orchestrator: runs recorded in the persistent instance, the schedule and the
drop sensors executed through it, a code location that loads from an installed venv that nobody
activated, and a run that stops with one line when it is asked to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
)

from drops import alive, cmdline, descendants, event, installed, irr_env, irr_process_env
from test_end_to_end import e2e_drop

REPO = Path(__file__).resolve().parent.parent


def _published(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse / "report.duckdb"), read_only=True) as con:
        return con.execute("select period, version from reporting.report_versions order by all").fetchall()


def _execute(job_name: str, instance: DagsterInstance, request: RunRequest):
    """Execute a run request the way the daemon would launch it: its job, its tags, on the instance."""
    from dagster_project.definitions import defs

    tags = dict(request.tags)
    if request.partition_key:
        tags["dagster/partition"] = request.partition_key
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    return result


# the instance -------------------------------------------------------------------------------

def test_cli_runs_are_recorded_in_the_persistent_instance(contract_run):
    home = contract_run / "warehouse" / "dagster_home"
    assert (home / "dagster.yaml").is_file()
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_run_records()
        assert sorted(r.dagster_run.job_name for r in runs) == ["irr_load", "irr_periods"]
        assert {r.dagster_run.status for r in runs} == {DagsterRunStatus.SUCCESS}
        # partition status, as the UI shows it: the periods of the contract-cases drop
        partitions = instance.get_materialized_partitions(AssetKey(["reporting", "information_requests"]))
        assert partitions == {"2023-01-01", "2023-07-01", "2024-01-01"}
        # asset check results (dbt tests) and metadata are kept
        check = instance.event_log_storage.get_asset_check_execution_history(
            next(iter(_check_keys("unique_stg_requests__current_request_id"))), limit=5)
        assert check and check[0].status.value == "SUCCEEDED"
        latest = instance.get_latest_materialization_event(AssetKey(["dq", "data_quality_account"]))
        assert latest.asset_materialization.metadata["lines_balance"].value is True


def _check_keys(fragment: str):
    from dagster_project.definitions import defs

    return {key for key in defs.resolve_asset_graph().asset_check_keys if key.name.startswith(fragment)}


# the schedule and the sensors ----------------------------------------------------------------

def test_schedule_evaluated_at_a_date_publishes_the_closed_half_year(tmp_path):
    from dagster_project.schedules import half_yearly_report

    raw = e2e_drop(tmp_path / "raw")
    with irr_env(raw, tmp_path / "warehouse", tmp_path / "exports"), \
            DagsterInstance.from_config(str(_home(tmp_path))) as instance:
        request = half_yearly_report(build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 7, 15, tzinfo=timezone.utc)))
        assert request.partition_key == "2024-01-01"
        result = _execute("irr_report", instance, request)
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["dagster/partition"] == "2024-01-01" and run.status == DagsterRunStatus.SUCCESS
    assert _published(tmp_path / "warehouse") == [("2024-H1", 1)]
    assert (tmp_path / "exports" / "2024-H1" / "information_requests.csv").is_file()
    assert not (tmp_path / "exports" / "2023-H2").exists()


def _home(root: Path) -> Path:
    from dagster_project.instance import INSTANCE_TEMPLATE

    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_bytes(INSTANCE_TEMPLATE.read_bytes())
    return home


def _status_context(instance: DagsterInstance, run_id: str):
    run = instance.get_run_by_id(run_id)
    success = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_SUCCESS).records[0]
    return build_run_status_sensor_context(
        sensor_name="periods_of_changed_drop", dagster_instance=instance, dagster_run=run,
        dagster_event=success.event_log_entry.dagster_event,
    )


def test_drop_sensor_loads_a_changed_drop_and_publishes_the_periods_it_touches(tmp_path):
    from dagster_project.sensors import CHANGED_TAG, periods_of_changed_drop, raw_drop_changed, touched_periods

    raw = e2e_drop(tmp_path / "raw")
    # U2 was received in 2023-H2; a later export in another file moves it into 2024-H1
    (raw / "requests" / "fix.jsonl").write_text(json.dumps(event(
        "U2", ["@bob"], received_at="2024-02-01T00:00:00Z", updated_at="2024-02-02T00:00:00Z")) + "\n")
    warehouse = tmp_path / "warehouse"
    with irr_env(raw, warehouse, tmp_path / "exports"), \
            DagsterInstance.from_config(str(_home(tmp_path))) as instance:
        # a drop never seen: load it, then every period in it
        context = build_sensor_context(instance=instance, cursor=None)
        request = raw_drop_changed(context)
        assert isinstance(request, RunRequest) and json.loads(request.tags[CHANGED_TAG]) == ["*"]
        loaded = _execute("irr_load", instance, request)
        follow_up = periods_of_changed_drop(_status_context(instance, loaded.run_id))
        assert follow_up.tags["irr/periods"] == "2023-H2,2024-H1"
        # which periods a change would touch: a file holding a moved request touches both the
        # period it left and the one it entered; a directory change touches every period
        with duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True) as con:
            assert touched_periods(con, ["requests/fix.jsonl"]) == ["2023-H2", "2024-H1"]
            assert touched_periods(con, ["requests/2024.jsonl"]) == ["2024-H1"]
            assert touched_periods(con, ["directory/videos.csv"]) == ["2023-H2", "2024-H1"]
            assert touched_periods(con, ["requests/removed.jsonl"]) == ["2023-H2", "2024-H1"]
        periods_run = _execute("irr_periods", instance, follow_up)
        assert _published(warehouse) == [("2023-H2", 1), ("2024-H1", 1)]

        # nothing changed: no run
        cursor = context.cursor
        assert isinstance(raw_drop_changed(build_sensor_context(instance=instance, cursor=cursor)), SkipReason)

        # a new file with one request of 2024-H1: only that period is rebuilt and re-published
        (raw / "requests" / "2025.jsonl").write_text(json.dumps(event(
            "N1", ["@new.person"], country="FR", received_at="2024-03-01T00:00:00Z",
            updated_at="2024-03-02T00:00:00Z")) + "\n")
        context = build_sensor_context(instance=instance, cursor=cursor)
        request = raw_drop_changed(context)
        assert json.loads(request.tags[CHANGED_TAG]) == ["requests/2025.jsonl"]
        loaded = _execute("irr_load", instance, request)
        follow_up = periods_of_changed_drop(_status_context(instance, loaded.run_id))
        assert follow_up.tags["irr/periods"] == "2024-H1"
        assert follow_up.tags["dagster/partition"] == "2024-01-01"
        _execute("irr_periods", instance, follow_up)
        assert _published(warehouse) == [("2023-H2", 1), ("2024-H1", 1), ("2024-H1", 2)]

        # a run that no drop sensor asked for (irr run, the UI) requests nothing
        assert isinstance(periods_of_changed_drop(_status_context(instance, periods_run.run_id)), SkipReason)


# a code location that loads anywhere ---------------------------------------------------------

def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**irr_process_env(tmp_path / "raw", tmp_path / "wh", tmp_path / "ex"), **extra}


def test_definitions_validate_and_the_daemon_starts_from_the_installed_venv(tmp_path):
    env = _bare_env(tmp_path, DAGSTER_HOME=str(_home(tmp_path)))
    validate = subprocess.run([installed("dagster"), "definitions", "validate", "-m", "dagster_project.definitions"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stderr[-3000:]
    daemon = subprocess.Popen([installed("dagster-daemon"), "run", "-m", "dagster_project.definitions"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(daemon.stdout), daemon=True)
    reader.start()
    try:
        # the sensor daemon evaluates raw_drop_changed: a tick is recorded in the instance
        deadline = time.monotonic() + 180
        ticks = []
        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            while time.monotonic() < deadline and daemon.poll() is None and not ticks:
                time.sleep(2)
                ticks = [t for state in instance.all_instigator_state() for t in instance.get_ticks(
                    state.instigator_origin_id, state.selector_id, limit=1)
                    if state.instigator_name == "raw_drop_changed"]
        assert daemon.poll() is None, "".join(seen)[-3000:]
        assert ticks, "".join(seen)[-3000:]
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def test_dbt_is_found_beside_the_interpreter_and_a_missing_one_is_one_line(tmp_path):
    from dagster_project.dbt_project import dbt_executable

    assert dbt_executable() == str(Path(sys.executable).with_name("dbt"))
    script = ("import sys; sys.executable = '/nonexistent/bin/python'\n"
              "from dagster_project.cli import main; sys.exit(main(['run']))")
    result = subprocess.run([sys.executable, "-c", script], env=_bare_env(tmp_path, IRR_RAW_DIR=str(e2e_drop(
        tmp_path / "raw"))), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "irr: run failed: dbt not found beside /nonexistent/bin/python nor on PATH; install the project with "
        "`python -m pip install -e .` into that interpreter"]


def test_manifest_is_built_once_when_several_processes_start_at_once(tmp_path, monkeypatch):
    from dagster_project import dbt_project

    monkeypatch.setattr(dbt_project, "MANIFEST_TARGET", tmp_path)
    parses: list[float] = []

    def fake_parse() -> None:
        parses.append(time.monotonic())
        time.sleep(0.5)
        (tmp_path / "manifest.json").write_text("{}")

    monkeypatch.setattr(dbt_project, "_parse", fake_parse)
    threads = [threading.Thread(target=dbt_project.ensure_manifest) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(parses) == 1  # the others waited for it and found it fresh
    # stale (a model changed after it): built again
    os.utime(tmp_path / "manifest.json", (0, 0))
    dbt_project.ensure_manifest()
    assert len(parses) == 2
    dbt_project.ensure_manifest()
    assert len(parses) == 2


def test_manifest_is_built_again_when_a_project_file_is_removed(tmp_path, monkeypatch):
    from dagster_project import dbt_project

    project = tmp_path / "dbt"
    for name in ("models/a.sql", "models/b.sql", "macros/m.sql", "dbt_project.yml", "profiles.yml"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("select 1")
    (tmp_path / "seeds").mkdir()
    monkeypatch.setattr(dbt_project, "DBT_PROJECT_DIR", project)
    monkeypatch.setattr(dbt_project, "SEEDS_DIR", tmp_path / "seeds")
    monkeypatch.setattr(dbt_project, "MANIFEST_TARGET", tmp_path / "target")
    parses = []
    monkeypatch.setattr(dbt_project, "_parse", lambda: (parses.append(1), (tmp_path / "target" / "manifest.json").write_text("{}")))
    dbt_project.ensure_manifest()
    dbt_project.ensure_manifest()
    assert len(parses) == 1
    # no file is newer than the manifest, but one is gone: its model must leave the manifest
    (project / "models" / "b.sql").unlink()
    dbt_project.ensure_manifest()
    assert len(parses) == 2
    (project / "models" / "b.sql").write_text("select 1")
    os.utime(project / "models" / "b.sql", (0, 0))  # an old file copied back in
    dbt_project.ensure_manifest()
    assert len(parses) == 3


def test_python_versions_are_not_capped():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


# stopping ------------------------------------------------------------------------------------

def test_sigterm_stops_the_run_with_one_line(tmp_path):
    raw = e2e_drop(tmp_path / "raw")
    proc = subprocess.Popen([installed("irr"), "run"], env=irr_process_env(raw, tmp_path / "wh", tmp_path / "ex"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:  # wait until dbt has started building
        lines.append(line)
        if line.startswith("  directory      videos"):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (lines, err)
    assert err.splitlines() == ["irr: run interrupted by SIGTERM"]
    assert not (tmp_path / "wh" / "report.duckdb").exists()


def test_dbt_dies_with_a_run_killed_outright(tmp_path):
    """SIGKILL of `irr` alone (not its process group, as the OOM killer does): its dbt goes too,
    so nothing writes the warehouse once the run's lock is gone. The build runs in a worker forked
    from the run's warm dbt (warm_dbt.py), under the `irr-dbt` that dagster-dbt started."""
    raw = e2e_drop(tmp_path / "raw")
    proc = subprocess.Popen([installed("irr"), "run"], env=irr_process_env(raw, tmp_path / "wh", tmp_path / "ex"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        family = descendants(proc.pid)
        servers = [pid for pid in family if b"dagster_project.warm_dbt" in cmdline(pid)]
        # a fork of the server (same command line) runs the build
        if any(b"build" in cmdline(pid) for pid in family) and any(
                cmdline(pid) == cmdline(server) for server in servers for pid in descendants(server)):
            break
        time.sleep(0.05)
    else:
        pytest.fail("no dbt build was seen running in a worker of the warm dbt")
    proc.kill()
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in family if alive(pid)]


def test_a_drop_that_names_a_full_disk_is_not_one(tmp_path):
    # the run's log holds texts of the drop (here a file's name): a step's failure is its own
    raw = e2e_drop(tmp_path / "raw")
    videos = raw / "directory" / "videos"
    videos.mkdir()
    (raw / "directory" / "videos.csv").rename(videos / "part-0.csv")
    (videos / "[Errno 28] No space left on device").write_text("x")
    result = subprocess.run([installed("irr"), "run"], env=irr_process_env(raw, tmp_path / "wh", tmp_path / "ex"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("irr: run failed: raw__drop: directory/videos/[Errno 28] No space left on device "
                           "is not a part file"), line


def test_a_full_disk_is_one_line_on_the_terminal(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("no tmpfs mount here (needs root): " + mounted.stderr.decode(errors="replace").strip())
    try:
        raw = e2e_drop(tmp_path / "raw")
        result = subprocess.run([installed("irr"), "run"], env=irr_process_env(raw, small / "wh", tmp_path / "ex"),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert line.startswith(f"irr: run failed: no space left on the device of {small / 'wh'} ("), line
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


_DESCRIBE_DEFINITIONS = """
import json, sys
if sys.argv[1] == "without":
    sys.modules["dbt"] = None  # as `irr` (cli.entry) does
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_project.definitions import defs
graph = defs.resolve_asset_graph()
out = {
    "dbt_core": DBT_PYTHON_VERSION is not None,
    "dbt_modules": sorted(m for m in sys.modules if m.startswith("dbt.") and sys.modules[m] is not None),
    "assets": {k.to_user_string(): [sorted(d.to_user_string() for d in graph.get(k).parent_keys),
                                    graph.get(k).partitions_def is not None]
               for k in graph.get_all_asset_keys()},
    "checks": sorted(c.to_user_string() for c in graph.asset_check_keys),
    "jobs": {name: sorted(k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.selected_asset_keys)
             for name in ("irr_load", "irr_periods", "irr_report")},
}
print(json.dumps(out))
"""


def test_definitions_without_dbt_core_are_the_definitions_with_it():
    """`irr run` keeps dbt-core out of its process and gives dagster-dbt the two selections
    evaluated elsewhere (dbt_selections.py): the assets, their lineage, partitions, checks and
    jobs are those that dagster-dbt builds with dbt-core (the webserver's)."""
    described = {}
    for mode in ("with", "without"):
        out = subprocess.run([sys.executable, "-c", _DESCRIBE_DEFINITIONS, mode], capture_output=True, text=True,
                             env={**os.environ, "DO_NOT_TRACK": "1"}, check=True, timeout=300)
        described[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    with_core, without = described["with"], described["without"]
    assert with_core["dbt_core"] and not without["dbt_core"]
    assert with_core["dbt_modules"] and without["dbt_modules"] == []
    assert without["assets"] == with_core["assets"]
    assert without["checks"] == with_core["checks"]
    assert without["jobs"] == with_core["jobs"]
    # both halves are there: staging without partitions, the report marts by half-year
    assert with_core["assets"]["staging/stg_requests__current"][1] is False
    assert with_core["assets"]["reporting/information_requests"][1] is True
    assert "intermediate/int_requests_counted" in with_core["assets"]["reporting/information_requests"][0]


def test_stored_selections_serve_only_the_manifest_they_were_evaluated_from(tmp_path):
    from dagster_project import dbt_selections
    from dagster_project.dbt_project import MANIFEST_TARGET

    manifest = (MANIFEST_TARGET / "manifest.json").read_bytes()
    evaluated = dbt_selections.evaluate(manifest)
    path = tmp_path / "selections.json"
    dbt_selections.store(evaluated, path)
    found = dbt_selections.stored(manifest, path)
    assert set(found) == set(dbt_selections.SELECTIONS.values())
    period = found[dbt_selections.SELECTIONS["irr_dbt_period_models"]]
    assert "model.irr.information_requests" in period and "model.irr.stg_requests__current" not in period
    # another manifest (one byte changed), a damaged file, no file: nothing stored for it
    assert dbt_selections.stored(manifest + b" ", path) is None
    path.write_text('{"manifest_sha256": "x"')
    assert dbt_selections.stored(manifest, path) is None
    assert dbt_selections.stored(manifest, tmp_path / "none.json") is None
    # the right manifest, but a selection of the code missing (the code changed, not the manifest)
    dbt_selections.store({**evaluated, "selections": evaluated["selections"][:1]}, path)
    assert dbt_selections.stored(manifest, path) is None
    # evaluated in another interpreter: the same
    assert dbt_selections.evaluate_elsewhere(manifest) == evaluated


def test_stored_selections_answer_dagster_dbt_for_their_manifest_only(tmp_path, monkeypatch):
    import dagster_dbt.asset_utils as asset_utils

    from dagster_project import dbt_selections
    from dagster_project.dbt_project import MANIFEST_TARGET

    asked = []

    def dagster_dbts_own(select, exclude, selector, project, manifest_json):
        asked.append((select, exclude))
        return {"asked dagster-dbt"}

    monkeypatch.setattr(asset_utils, "select_unique_ids", dagster_dbts_own)
    path = MANIFEST_TARGET / "manifest.json"
    stored = tmp_path / "selections.json"  # none yet: evaluated, then kept
    manifest = dbt_selections.use_stored_selections(path, stored)
    assert dbt_selections.stored(path.read_bytes(), stored) is not None
    select, exclude, selector = dbt_selections.SELECTIONS["irr_dbt_period_models"]
    ids = asset_utils.select_unique_ids(select, exclude, selector, None, manifest)
    assert "model.irr.information_requests" in ids and asked == []
    # another manifest (an equal copy), another selection: dagster-dbt's own function answers
    assert asset_utils.select_unique_ids(select, exclude, selector, None, dict(manifest)) == {"asked dagster-dbt"}
    assert asset_utils.select_unique_ids("tag:other", "", "", None, manifest) == {"asked dagster-dbt"}
    assert asked == [(select, exclude), ("tag:other", "")]


def test_irr_keeps_dbt_core_out_of_its_process():
    """`irr` (cli.entry) loads the definitions and its jobs without importing dbt-core."""
    script = (
        "import sys\n"
        "from dagster_project import cli\n"
        "def main():\n"
        "    from dagster_project.definitions import defs\n"
        "    for job in ('irr_load', 'irr_periods', 'irr_report'):\n"
        "        defs.resolve_job_def(job)\n"
        "    loaded = [m for m in sys.modules if m.split('.')[0] == 'dbt' and sys.modules[m] is not None]\n"
        "    print('dbt modules:', loaded, flush=True)\n"
        "    return 0\n"
        "cli.main = main\n"
        "cli.entry()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "DO_NOT_TRACK": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "dbt modules: []" in out.stdout


def test_the_manifest_is_parsed_without_a_runs_variables(monkeypatch):
    from dagster_project.dbt_project import parse_environment

    # left set by an earlier run in this process (more than one group slice) or by the shell
    monkeypatch.setenv("IRR_GROUP_SLICES", "3")
    monkeypatch.setenv("IRR_PERIOD_FROM", "2023-H1")
    env = parse_environment()
    assert "IRR_GROUP_SLICES" not in env and "IRR_PERIOD_FROM" not in env
    assert env["DO_NOT_TRACK"] == "1" and env["PATH"] == os.environ["PATH"]
