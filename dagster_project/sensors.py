"""Sensors: a new or changed raw drop is loaded, then the periods it touches are rebuilt and published.

Two steps, because only a load knows which half-years a file's requests fall in (the period
rule lives in dbt): `raw_drop_changed` requests a load when the drop's fingerprint moves, and
`periods_of_changed_drop` requests the touched periods when that load has succeeded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from dagster_project.jobs import irr_load_job, irr_periods_job
from dagster_project.partitions import period_range_tags
from dagster_project.resources import IrrPaths

CHANGED_TAG = "irr/changed_files"
# Past this many changed files the tag says "*" (every period is rebuilt).
MAX_LISTED = 50


def drop_state(raw_dir: Path) -> dict[str, str]:
    """Each file of the drop (relative path -> size and modification time), as cheap as a listing."""
    state = {}
    for folder in ("requests", "directory"):
        root = raw_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                state[path.relative_to(raw_dir).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return state


def fingerprint(state: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def changed_files(before: dict[str, str] | None, after: dict[str, str]) -> list[str]:
    """Files added, changed or removed; `["*"]` when the drop is new or too much changed."""
    if before is None:
        return ["*"]
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    return changed if len(changed) <= MAX_LISTED else ["*"]


@sensor(
    name="raw_drop_changed",
    job=irr_load_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Loads the raw drop (IRR_RAW_DIR) when a file in it is added, changed or removed.",
)
def raw_drop_changed(context: SensorEvaluationContext):
    state = drop_state(IrrPaths().raw_path)
    if not state:
        return SkipReason("the raw drop holds no file")
    cursor = json.loads(context.cursor) if context.cursor else None
    new_fingerprint = fingerprint(state)
    if cursor and cursor["fingerprint"] == new_fingerprint:
        return SkipReason(f"drop unchanged ({new_fingerprint})")
    changed = changed_files(cursor["files"] if cursor else None, state)
    context.update_cursor(json.dumps({"fingerprint": new_fingerprint, "files": state}))
    return RunRequest(run_key=new_fingerprint, tags={CHANGED_TAG: json.dumps(changed)})


def touched_periods(con: duckdb.DuckDBPyConnection, changed: list[str]) -> list[str]:
    """Half-years whose figures the changed files can move, from the loaded warehouse.

    A changed request file touches every period that any event of its requests falls in (a
    corrected `received_at` moves a request between periods); a directory change or a removed
    file touches every period present now or published before.
    """
    request_files = [name.removeprefix("requests/") for name in changed if name.startswith("requests/")]
    present = {r[0] for r in con.execute(
        "select distinct file_name from staging.stg_requests__events where file_name in (select unnest(?::varchar[]))",
        [request_files],
    ).fetchall()}
    if "*" in changed or len(request_files) < len(changed) or set(request_files) - present:
        # the directory changed or a request file is gone: every period present now or published before
        sources = ["select period from staging.stg_requests__current"]
        if con.execute("select count(*) from duckdb_tables() where schema_name = 'reporting' "
                       "and table_name = 'information_requests'").fetchone()[0]:
            sources.append("select period from reporting.information_requests")
        sql, params = " union ".join(sources), []
    else:
        sql = """
            select period from staging.stg_requests__events
            where is_accepted and request_id in (
                select request_id from staging.stg_requests__events where file_name in (select unnest(?::varchar[]))
            )
        """
        params = [request_files]
    return [r[0] for r in con.execute(f"select distinct period from ({sql}) where period is not null order by 1",
                                      params).fetchall()]


@run_status_sensor(
    name="periods_of_changed_drop",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[irr_load_job],
    request_job=irr_periods_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="After a load requested by raw_drop_changed, rebuilds and publishes the periods it touched.",
)
def periods_of_changed_drop(context: RunStatusSensorContext):
    run = context.dagster_run
    if CHANGED_TAG not in run.tags:
        return SkipReason("not a load requested by raw_drop_changed")
    changed = json.loads(run.tags[CHANGED_TAG])
    with IrrPaths().connect(read_only=True) as con:
        periods = touched_periods(con, changed)
    if not periods:
        return SkipReason("the changed files touch no period")
    return RunRequest(
        run_key=f"periods-{run.run_id}",
        tags={**period_range_tags(periods[0], periods[-1]), "irr/periods": ",".join(periods)},
    )
