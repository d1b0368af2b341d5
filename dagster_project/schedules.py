"""The half-yearly schedule: run the half-year that has just closed, a configurable lag after it closed."""

from __future__ import annotations

import os
from datetime import date, timedelta

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from dagster_project.partitions import period_of, period_to_partition_key, previous_period

DEFAULT_LAG_DAYS = 14


def schedule_lag_days() -> int:
    """IRR_SCHEDULE_LAG_DAYS: days after 1 January / 1 July to wait for late requests (0-150)."""
    value = int(os.environ.get("IRR_SCHEDULE_LAG_DAYS", DEFAULT_LAG_DAYS))
    if not 0 <= value <= 150:
        raise ValueError(f"IRR_SCHEDULE_LAG_DAYS must be 0 to 150, not {value}")
    return value


def cron_for_lag(lag_days: int) -> list[str]:
    """Cron strings firing at 00:00 UTC on 1 January + lag and 1 July + lag (a non-leap year's days)."""
    crons = []
    for month in (1, 7):
        day = date(2023, month, 1) + timedelta(days=lag_days)
        crons.append(f"0 0 {day.day} {day.month} *")
    return crons


def closed_period(scheduled: date, lag_days: int) -> str:
    """The half-year that closed `lag_days` before `scheduled`."""
    return previous_period(period_of(scheduled - timedelta(days=lag_days)))


LAG_DAYS = schedule_lag_days()


@schedule(
    name="half_yearly_report",
    job_name="irr_report",
    cron_schedule=cron_for_lag(LAG_DAYS),
    execution_timezone="UTC",
    # runs whenever the daemon runs; stop it in the UI (Automation) to pause publication
    default_status=DefaultScheduleStatus.RUNNING,
    description="Runs the half-year that has just closed, IRR_SCHEDULE_LAG_DAYS after 1 January and 1 July.",
)
def half_yearly_report(context: ScheduleEvaluationContext) -> RunRequest:
    period = closed_period(context.scheduled_execution_time.date(), LAG_DAYS)
    return RunRequest(
        run_key=f"scheduled-{period}",
        partition_key=period_to_partition_key(period),
        tags={"irr/period": period},
    )
