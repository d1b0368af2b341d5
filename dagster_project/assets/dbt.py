"""Every dbt seed, model and test as Dagster assets and asset checks.

Two groups of models: those rebuilt whole on every run (seeds, staging, intermediate,
data quality) and the per-period marts (tag `per_period`), partitioned by half-year and
rebuilt for the run's periods only.
"""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from dagster_dbt.compat import DBT_PYTHON_VERSION

from dagster_project.dbt_project import RUN_VARIABLES, dbt_project, ensure_manifest
from dagster_project.dbt_selections import SELECTIONS, STORED_NAME, use_stored_selections
from dagster_project.partitions import half_year_partitions, periods_of_run_tags, periods_of_window
from dagster_project.publication import Publisher
from dagster_project.publish import input_fingerprint
from dagster_project.raw_drop import directory_changed
from dagster_project.resources import IrrPaths

# The definitions are made from the manifest: build it here if it is missing or stale, so the
# code location loads on a fresh clone (webserver, daemon, `dagster definitions validate`).
MANIFEST = ensure_manifest()
if DBT_PYTHON_VERSION is None:  # `irr run`'s own process keeps dbt-core out (dbt_selections.py)
    MANIFEST = use_stored_selections(MANIFEST, MANIFEST.with_name(STORED_NAME))


class IrrDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the raw loading assets; models are keyed by schema and name."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> "str | None":
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        return dbt_resource_props["schema"]


TRANSLATOR = IrrDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


# A run with this tag rebuilds the incremental report marts from nothing (`irr run --full-refresh`):
# a schema change. It must cover every period, or the others would be lost: the CLI makes sure.
FULL_REFRESH_TAG = "irr/full_refresh"


def _build(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths, **env: str) -> Iterator[Any]:
    """`dbt build` of the context's selection against this run's warehouse.

    dbt runs as a subprocess that inherits this environment, in the warehouse's folder
    (`irr-dbt` moves there): its profile reads the database's name, the same for every
    warehouse, so the partial-parse state built once serves them all; the per-period macros
    read the period range. Its artifacts, logs and partial-parse state
    live with the warehouse, in one folder reused run after run, so dbt parses the project
    again only when the project changed.
    """
    # a run's variables are those given here, never one an earlier build of this process left
    # (a value the manifest's parse did not see makes dbt parse the model reading it again)
    for name in RUN_VARIABLES:
        os.environ.pop(name, None)
    # dbt's unit tests check the models' logic on fixed rows: run by the test suite
    # (tests/test_end_to_end.py), not by every production build
    os.environ.update({"IRR_WAREHOUSE_DB": paths.warehouse_db.name, "IRR_DBT_CWD": str(paths.warehouse_db.parent),
                       "DBT_USE_COLORS": "false", "DO_NOT_TRACK": "1",
                       "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
                       # irr-dbt checks that this process is still its parent (dbt_child.py)
                       "IRR_DBT_PARENT": str(os.getpid()), **env})
    args = ["build", *(["--full-refresh"] if context.run.tags.get(FULL_REFRESH_TAG) == "true" else [])]
    yield from dbt.cli(args, context=context, target_path=paths.dbt_target_path).stream()


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    select=SELECTIONS["irr_dbt_models"][0],
    exclude=SELECTIONS["irr_dbt_models"][1],
    dagster_dbt_translator=TRANSLATOR,
    name="irr_dbt_models",
)
def irr_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths) -> Iterator[Any]:
    """Build (run and test) the seeds, staging, intermediate and data-quality models: every
    request is loaded and read, but from its identifiers on only the requests of the run's
    half-years (its partitions, when it has some) are worked on (int_run_scope)."""
    first, last = periods_of_run_tags(context.run.tags) or ("", "")
    # One slice leaves the variable unset, as it was when the manifest was parsed: a value the
    # parse did not see makes dbt parse the model that reads it again (0.6 s of a sample run in
    # a new warehouse, whose partial-parse state is the manifest's).
    slices = group_slices(paths)
    yield from _build(context, dbt, paths, IRR_PERIOD_FROM=first, IRR_PERIOD_TO=last,
                      **({"IRR_GROUP_SLICES": str(slices)} if slices > 1 else {}))
    # the models read a Parquet directory where it lies, after the load checked it: if a part
    # changed meanwhile, they may hold rows no check saw. The build is then forgotten as a failed
    # one is (int_run_scope emptied), so that the report marts refuse it, even run alone.
    with paths.connect() as con:
        changed = directory_changed(con)
        if changed:
            try:
                con.execute("delete from intermediate.int_run_scope")
            except duckdb.CatalogException:  # a subset that never built it: nothing to forget
                pass
    if changed:
        raise Failure(f"{changed[0]} changed after the load checked it: the models may hold rows no check saw, "
                      "and nothing was published; load the drop again (irr run)")


# Request lines per slice of the account groups (int_request_account_groups): their recursive
# CTE holds its state in memory, about 1.5 KB a line; a slice of a million lines stays well
# within the default 4GB memory limit.
LINES_PER_GROUP_SLICE = 1_000_000


def group_slices(paths: IrrPaths) -> int:
    """In how many slices the account groups are built: one per million request lines."""
    with paths.connect(read_only=True) as con:
        lines = con.execute("select count(*) from raw.request_lines").fetchone()[0]
    return max(1, -(-lines // LINES_PER_GROUP_SLICE))


def periods_found(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The half-years of the loaded drop's current requests, in order."""
    return [r[0] for r in con.execute(
        "select distinct period from staging.stg_requests__current order by period"
    ).fetchall()]


def require_requests(con: duckdb.DuckDBPyConnection, period: str) -> None:
    """A run of one period fails, with the periods found, when the drop holds no request in it."""
    found = periods_found(con)
    if period not in found:
        raise Failure(f"period {period} has no requests in the drop (periods found: {', '.join(found) or 'none'})")


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    select=SELECTIONS["irr_dbt_period_models"][0],
    exclude=SELECTIONS["irr_dbt_period_models"][1],
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=half_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    name="irr_dbt_period_models",
)
def irr_dbt_period_models(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths) -> Iterator[Any]:
    """Build the report marts for the run's half-years only (delete, then insert those periods),
    and add the versions whose figures changed to the publication history (pending until the
    run's publication is current)."""
    window = context.partition_time_window
    first, last = periods_of_window(window.start, window.end)
    with paths.connect(read_only=True) as con:
        if first == last:  # before dbt deletes the period's rows to build them again
            require_requests(con, first)
        # from the digests the load recorded, for files unchanged since (the drop is not read again)
        fingerprint = input_fingerprint(paths.raw_path, con)
    current = Publisher(paths.warehouse_path, paths.export_path).current_id()
    yield from _build(context, dbt, paths, IRR_PERIOD_FROM=first, IRR_PERIOD_TO=last,
                      IRR_RUN_ID=context.run.run_id, IRR_CURRENT_PUBLICATION=current or "",
                      IRR_INPUT_FINGERPRINT=fingerprint)
