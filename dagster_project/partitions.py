"""The period rule, on the Python side, and the half-year partitions it makes.

A period is a half-year named like 2023-H2 (H1 = January to June), of received_at in UTC; the
first is the one of dbt's var `first_reported_day` (dbt/dbt_project.yml, read here); names sort
in time order as text. Each period is one partition, keyed by its first day. The SQL side of the
same rule is dbt/macros/periods.sql.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import yaml
from dagster import TimeWindowPartitionsDefinition

from dagster_project.dbt_project import DBT_PROJECT_DIR

PERIOD_PATTERN = re.compile(r"^(\d{4})-H([12])$")
FIRST_DAY = date.fromisoformat(
    str(yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["first_reported_day"]))
if (FIRST_DAY.month, FIRST_DAY.day) not in ((1, 1), (7, 1)):
    raise ValueError(f"dbt_project.yml: first_reported_day {FIRST_DAY} is not the first day of a half-year")

# Partition keys are the periods' first days (2023-07-01 is 2023-H2); end_offset=1 adds
# the half-year in progress, so data that arrives early still has a partition.
half_year_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,7 *",
    start=FIRST_DAY.isoformat(),
    fmt="%Y-%m-%d",
    timezone="UTC",
    end_offset=1,
)


def period_value(period: str) -> str:
    """'2023-H2' -> 'Jul-Dec 2023' (as the export and the pages name it)."""
    match = PERIOD_PATTERN.match(period)
    if not match:
        raise ValueError(f"not a period: {period!r} (expected YYYY-H1 or YYYY-H2)")
    return ("Jan-Jun " if match.group(2) == "1" else "Jul-Dec ") + match.group(1)


def period_to_partition_key(period: str) -> str:
    """'2023-H2' -> '2023-07-01'."""
    match = PERIOD_PATTERN.match(period)
    if not match:
        raise ValueError(f"not a period: {period!r} (expected YYYY-H1 or YYYY-H2)")
    return f"{match.group(1)}-{'01' if match.group(2) == '1' else '07'}-01"


def partition_key_to_period(key: str) -> str:
    """'2023-07-01' -> '2023-H2'."""
    day = date.fromisoformat(key)
    if day.day != 1 or day.month not in (1, 7):
        raise ValueError(f"not a half-year partition key: {key!r}")
    return f"{day.year}-H{1 if day.month == 1 else 2}"


def period_of(moment: date | datetime) -> str:
    """The half-year a date, or a moment (read in UTC), falls in."""
    if isinstance(moment, datetime) and moment.tzinfo:
        moment = moment.astimezone(timezone.utc)
    return f"{moment.year}-H{1 if moment.month <= 6 else 2}"


FIRST_PERIOD = period_of(FIRST_DAY)


def previous_period(period: str) -> str:
    """'2023-H1' -> '2022-H2'."""
    year, half = int(period[:4]), int(period[-1])
    return f"{year - 1}-H2" if half == 1 else f"{year}-H1"


def periods_of_window(start: datetime, end: datetime) -> tuple[str, str]:
    """First and last period of a partition time window [start, end)."""
    return period_of(start), period_of(end - timedelta(seconds=1))


def last_period() -> str:
    """The last half-year with a partition: the one in progress."""
    return partition_key_to_period(half_year_partitions.get_last_partition_key())


def period_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that select the partitions of the periods `first` to `last` (one run, a range)."""
    if first == last:
        return {"dagster/partition": period_to_partition_key(first)}
    return {
        "dagster/asset_partition_range_start": period_to_partition_key(first),
        "dagster/asset_partition_range_end": period_to_partition_key(last),
    }


def periods_of_run_tags(tags: dict[str, str]) -> tuple[str, str] | None:
    """First and last period of the partitions a run's tags select (one, or a range); None for a
    run of no partition (`irr_load`, the drop sensors): every period."""
    if "dagster/partition" in tags:
        period = partition_key_to_period(tags["dagster/partition"])
        return period, period
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        return partition_key_to_period(start), partition_key_to_period(end)
    return None
