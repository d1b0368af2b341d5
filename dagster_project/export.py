"""The public CSV export (CONTRACT 3.2): one long-format file per period, byte-stable."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from dagster_project.publication import write_file
from dagster_project.report_shape import export_metrics

HEADER = (
    "replication_info", "entity", "aspect", "metric_name", "period", "period_value",
    "policy", "policy_value", "task", "task_value", "location", "location_value",
    "result", "base", "date",
)
ENTITY = "LIGR"
ASPECT = "LRFUI"

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def period_value(period: str) -> str:
    """'2023-H2' -> 'Jul-Dec 2023'."""
    match = re.fullmatch(r"(\d{4})-H([12])", period)
    if not match:
        raise ValueError(f"not a period: {period!r} (expected YYYY-H1 or YYYY-H2)")
    return ("Jan-Jun " if match.group(2) == "1" else "Jul-Dec ") + match.group(1)


def safe_cell(value: str) -> str:
    """Neutralise a text cell a spreadsheet would run as a formula (leading =, +, -, @, tab, CR)."""
    if value and value[0] in "=+-@\t\r" and not _NUMBER.match(value):
        return "'" + value
    return value


def format_result(value: float | int | None) -> str:
    """Counts as '322.0'; rates as a fraction, 0.0 when there were no requests of the type."""
    if value is None:
        return "0.0"
    return repr(float(value))


def export_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[tuple[str, ...]]:
    """The export's rows for one period, in their published order (countries by name); the
    metrics and their order are declared with the measures in dbt (report_shape)."""
    country_metrics, global_metrics = export_metrics()
    columns = sorted({c for _, c in country_metrics})
    countries = con.execute(
        f"select country_name, {', '.join(columns)} from reporting.information_requests "
        "where period = ? order by country_name, country_code",
        [period],
    ).fetchall()
    global_row = con.execute(
        f"select {', '.join(c for _, c in global_metrics)} from reporting.information_requests_global "
        "where period = ?",
        [period],
    ).fetchone()
    if not countries or global_row is None:
        raise ValueError(f"no requests in period {period}")
    pv = period_value(period)
    rows: list[tuple[str, ...]] = []
    for record in countries:
        values = dict(zip(["country_name", *columns], record))
        for metric, column in country_metrics:
            rows.append(
                ("", ENTITY, ASPECT, metric, "half-year", pv, "all", "all", "all", "all",
                 "country_name", values["country_name"], format_result(values[column]), "", "")
            )
    for (metric, column), value in zip(global_metrics, global_row):
        rows.append(
            ("", ENTITY, ASPECT, metric, "half-year", pv, "all", "all", "all", "all",
             "all", "All", format_result(value), "", "")
        )
    return [tuple(safe_cell(cell) for cell in row) for row in rows]


def render_csv(rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_export(con: duckdb.DuckDBPyConnection, export_dir: Path, period: str) -> Path:
    """Write `<export_dir>/<period>/information_requests.csv`; returns its path."""
    return write_file(export_dir / period / "information_requests.csv", render_csv(export_rows(con, period)))
