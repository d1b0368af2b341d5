"""The public CSV export (CONTRACT 3.2): one long-format file per period, byte-stable."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from dagster_project.partitions import period_value
from dagster_project.publication import write_file

HEADER = (
    "replication_info", "entity", "aspect", "metric_name", "period", "period_value",
    "policy", "policy_value", "task", "task_value", "location", "location_value",
    "result", "base", "date",
)

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: str) -> str:
    """Neutralise a text cell a spreadsheet would run as a formula (leading =, +, -, @, tab, CR)."""
    if value and value[0] in "=+-@\t\r" and not _NUMBER.match(value):
        return "'" + value
    return value


def export_rows(con: duckdb.DuckDBPyConnection, period: str) -> list[tuple[str, ...]]:
    """The export's rows for one period, in their published order: the dbt model
    `exports.information_requests_long`, written as it is (text cells neutralised once more)."""
    period_value(period)  # a malformed period is refused before the query
    rows = con.execute(
        f"select {', '.join(HEADER)} from exports.information_requests_long "
        "where report_period = ? order by row_in_period",
        [period],
    ).fetchall()
    if not rows:
        raise ValueError(f"no requests in period {period}")
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
