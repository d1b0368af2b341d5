"""The one Definitions object of irr: raw drop -> dbt models -> export and report.duckdb."""

from dagster import Definitions, in_process_executor

from dagster_project.dbt_project import IrrDbtCliResource, dbt_launcher, dbt_project
from dagster_project.jobs import LOAD_ASSETS, PERIOD_ASSETS, irr_load_job, irr_periods_job, irr_report_job
from dagster_project.resources import IrrPaths
from dagster_project.schedules import half_yearly_report
from dagster_project.sensors import periods_of_changed_drop, raw_drop_changed

defs = Definitions(
    assets=[*LOAD_ASSETS, *PERIOD_ASSETS],
    jobs=[irr_report_job, irr_load_job, irr_periods_job],
    schedules=[half_yearly_report],
    sensors=[raw_drop_changed, periods_of_changed_drop],
    resources={
        "paths": IrrPaths(),
        "dbt": IrrDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_launcher()),
    },
    # Steps of a run execute one after the other in the run's process: DuckDB allows one writer.
    executor=in_process_executor,
)
