"""The public CSV export (CONTRACT 3.2): one long-format file per period, byte-stable."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from dagster_project.publication import write_file

HEADER = (
    "replication_info", "entity", "aspect", "metric_name", "period", "period_value",
    "policy", "policy_value", "task", "task_value", "location", "location_value",
    "result", "base", "date",
)
ENTITY = "LIGR"
ASPECT = "LRFUI"

# (metric name, column of reporting.information_requests), in the order of the public reports
COUNTRY_METRICS = (
    ("Total requests", "total_requests"),
    ("Legal requests", "legal_requests"),
    ("Legal request accounts specified", "legal_accounts_specified"),
    ("Percentage of legal requests where some data was disclosed", "legal_disclosure_rate"),
    ("Preservation requests", "preservation_requests"),
    ("Preservation request accounts specified", "preservation_accounts_specified"),
    ("Emergency requests", "emergency_requests"),
    ("Emergency request accounts specified", "emergency_accounts_specified"),
    ("Percentage of emergency requests where some data was disclosed", "emergency_disclosure_rate"),
)
GLOBAL_METRICS = (
    ("Total legal requests", "legal_requests"),
    ("Total emergency requests", "emergency_requests"),
    ("Total preservation requests", "preservation_requests"),
)
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
    """The export's rows for one period, in their published order (countries by name)."""
    columns = sorted({c for _, c in COUNTRY_METRICS})
    countries = con.execute(
        f"select country_name, {', '.join(columns)} from reporting.information_requests "
        "where period = ? order by country_name, country_code",
        [period],
    ).fetchall()
    global_row = con.execute(
        f"select {', '.join(c for _, c in GLOBAL_METRICS)} from reporting.information_requests_global "
        "where period = ?",
        [period],
    ).fetchone()
    if not countries or global_row is None:
        raise ValueError(f"no requests in period {period}")
    pv = period_value(period)
    rows: list[tuple[str, ...]] = []
    for record in countries:
        values = dict(zip(["country_name", *columns], record))
        for metric, column in COUNTRY_METRICS:
            rows.append(
                ("", ENTITY, ASPECT, metric, "half-year", pv, "all", "all", "all", "all",
                 "country_name", values["country_name"], format_result(values[column]), "", "")
            )
    for (metric, column), value in zip(GLOBAL_METRICS, global_row):
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
