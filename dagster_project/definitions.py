"""The one Definitions object of irr: raw drop -> dbt models -> export and report.duckdb."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job
from dagster_dbt import DbtCliResource

from dagster_project.assets.dbt import irr_dbt_models
from dagster_project.assets.raw import raw_account_identifiers, raw_request_lines, raw_short_links, raw_videos
from dagster_project.assets.report import public_export, published_report
from dagster_project.dbt_project import dbt_project
from dagster_project.resources import IrrPaths

dbt_project.prepare_if_dev()

irr_report_job = define_asset_job("irr_report", selection=AssetSelection.all(), description="Build the report from the raw drop.")

defs = Definitions(
    assets=[
        raw_request_lines, raw_account_identifiers, raw_videos, raw_short_links,
        irr_dbt_models, public_export, published_report,
    ],
    jobs=[irr_report_job],
    resources={
        "paths": IrrPaths(),
        "dbt": DbtCliResource(project_dir=dbt_project),
    },
)
