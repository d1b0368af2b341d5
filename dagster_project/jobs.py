"""The report's jobs: the whole report for a range of half-years, and its two halves."""

from dagster import AssetSelection, define_asset_job

from dagster_project.assets.dbt import irr_dbt_models, irr_dbt_period_models
from dagster_project.assets.quality import data_quality_account
from dagster_project.assets.raw import raw_drop
from dagster_project.assets.report import html_report, public_export, publication, published_report

LOAD_ASSETS = [raw_drop, irr_dbt_models, data_quality_account]
PERIOD_ASSETS = [irr_dbt_period_models, public_export, published_report, html_report, publication]

# Everything for one half-year (or a range of them): what the schedule runs.
irr_report_job = define_asset_job(
    "irr_report", selection=AssetSelection.assets(*LOAD_ASSETS, *PERIOD_ASSETS),
    description="Load the drop, build every model, export and publish the run's half-years.",
)
# The two halves `irr run` and the drop sensors use: load and build once, then the periods.
irr_load_job = define_asset_job(
    "irr_load", selection=AssetSelection.assets(*LOAD_ASSETS),
    description="Load the drop and build the staging, intermediate and data-quality models.",
)
irr_periods_job = define_asset_job(
    "irr_periods", selection=AssetSelection.assets(*PERIOD_ASSETS),
    description="Build, export and publish the run's half-years from the loaded drop.",
)
