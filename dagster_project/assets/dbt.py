"""Every dbt seed, model and test as Dagster assets and asset checks.

Two groups of models: those rebuilt whole on every run (seeds, staging, intermediate,
data quality) and the per-period marts (tag `per_period`), partitioned by half-year and
rebuilt for the run's periods only.
"""

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.dbt_project import dbt_project
from dagster_project.partitions import half_year_partitions, periods_of_window
from dagster_project.resources import WAREHOUSE_POOL, IrrPaths

PER_PERIOD = "tag:per_period"


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


def _point_dbt_at(paths: IrrPaths) -> None:
    # dbt runs as a subprocess that inherits this environment; its profile reads the path.
    os.environ["IRR_WAREHOUSE_DB"] = str(paths.warehouse_db)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=PER_PERIOD,
    dagster_dbt_translator=TRANSLATOR,
    name="irr_dbt_models",
    pool=WAREHOUSE_POOL,
)
def irr_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths) -> Iterator[Any]:
    """Build (run and test) the seeds, staging, intermediate and data-quality models."""
    _point_dbt_at(paths)
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=PER_PERIOD,
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=half_year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    name="irr_dbt_period_models",
    pool=WAREHOUSE_POOL,
)
def irr_dbt_period_models(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths) -> Iterator[Any]:
    """Build the report marts for the run's half-years only (delete, then insert those periods)."""
    _point_dbt_at(paths)
    window = context.partition_time_window
    first, last = periods_of_window(window.start, window.end)
    dbt_vars = json.dumps({"period_from": first, "period_to": last})
    yield from dbt.cli(["build", "--vars", dbt_vars], context=context).stream()
