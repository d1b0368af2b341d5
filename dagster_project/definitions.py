"""The one Definitions object of irr: raw drop -> dbt models -> export and report.duckdb."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor
from dagster_dbt import DbtCliResource

from dagster_project.assets.dbt import irr_dbt_models, irr_dbt_period_models
from dagster_project.assets.quality import data_quality_account
from dagster_project.assets.raw import raw_account_identifiers, raw_request_lines, raw_short_links, raw_videos
from dagster_project.assets.report import html_report, public_export, published_report
from dagster_project.dbt_project import dbt_project
from dagster_project.resources import IrrPaths
from dagster_project.schedules import half_yearly_report

dbt_project.prepare_if_dev()

RAW_ASSETS = [raw_request_lines, raw_account_identifiers, raw_videos, raw_short_links]
PERIOD_ASSETS = [irr_dbt_period_models, public_export, published_report, html_report]

# Everything for one half-year (or a range of them): what the schedule runs.
irr_report_job = define_asset_job(
    "irr_report", selection=AssetSelection.all(),
    description="Load the drop, build every model, export and publish the run's half-years.",
)
# The two halves `irr run` uses: load and build once, then the periods found in the drop.
irr_load_job = define_asset_job(
    "irr_load", selection=AssetSelection.assets(*RAW_ASSETS, irr_dbt_models, data_quality_account),
    description="Load the drop and build the staging, intermediate and data-quality models.",
)
irr_periods_job = define_asset_job(
    "irr_periods", selection=AssetSelection.assets(*PERIOD_ASSETS),
    description="Build, export and publish the run's half-years from the loaded drop.",
)

defs = Definitions(
    assets=[*RAW_ASSETS, irr_dbt_models, data_quality_account, *PERIOD_ASSETS],
    jobs=[irr_report_job, irr_load_job, irr_periods_job],
    schedules=[half_yearly_report],
    resources={
        "paths": IrrPaths(),
        "dbt": DbtCliResource(project_dir=dbt_project),
    },
    # One process writes the warehouse at a time: DuckDB allows a single writer.
    executor=in_process_executor,
)
