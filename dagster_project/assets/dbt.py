"""Every dbt seed, model and test as Dagster assets and asset checks."""


import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.dbt_project import dbt_project
from dagster_project.resources import IrrPaths


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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=IrrDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def irr_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, paths: IrrPaths) -> Iterator[Any]:
    """Build (run and test) the dbt project against the warehouse."""
    # dbt runs as a subprocess that inherits this environment; its profile reads the path.
    os.environ["IRR_WAREHOUSE_DB"] = str(paths.warehouse_db)
    yield from dbt.cli(["build"], context=context).stream()
