"""The public CSV export (CONTRACT 3.2): one long-format file per period, byte-stable."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from dagster_project.partitions import PERIOD_PATTERN, period_value
from dagster_project.publication import write_file

HEADER = (
    "replication_info", "entity", "aspect", "metric_name", "period", "period_value",
    "policy", "policy_value", "task", "task_value", "location", "location_value",
    "result", "base", "date",
)

HEADER_LINE = ",".join(HEADER) + "\n"
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


def render_csv(rows, header: tuple[str, ...] = HEADER) -> bytes:
    """A CSV file's bytes: the header, then the rows; Unix line ends, minimal quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_export(con: duckdb.DuckDBPyConnection, export_dir: Path, period: str) -> Path:
    """Write `<export_dir>/<period>/information_requests.csv`; returns its path."""
    return write_file(export_dir / period / "information_requests.csv", render_csv(export_rows(con, period)))


def write_every_period(export_dir: Path) -> Path:
    """Write `<export_dir>/information_requests.csv`: the files of every published period, one
    after the other under one header (made from the files themselves, so it says what they say)."""
    parts = sorted(p for p in export_dir.glob("*/information_requests.csv") if PERIOD_PATTERN.match(p.parent.name))
    lines = [HEADER_LINE]
    for part in parts:
        text = part.read_text(encoding="utf-8")
        lines.append(text.split("\n", 1)[1])
    return write_file(export_dir / "information_requests.csv", "".join(lines).encode("utf-8"))


# Breakdowns published as tidy CSVs beside the long-format file: one row per row of the table.
TIDY_EXPORTS = ("information_requests_by_outcome", "information_requests_by_agency")
LONG_MODEL = "information_requests_long"
# Frictionless table-schema types of the dbt data types
_PACKAGE_TYPES = {"varchar": "string", "bigint": "integer", "integer": "integer", "double": "number",
                  "date": "date", "boolean": "boolean"}


def write_datapackage(export_dir: Path) -> Path:
    """Write `<export_dir>/datapackage.json` (a Frictionless Data Package) describing every CSV
    of the folder: each field's type and description, from the dbt yml that declares the tables."""
    import json

    from dagster_project.report_shape import column_meta, columns, descriptions

    def schema(model: str, names: tuple[str, ...]) -> dict:
        _, described = descriptions(model)
        fields = []
        for name in names:
            meta = column_meta(model, name)
            kind = meta.get("package_type") or _PACKAGE_TYPES.get(str(meta.get("data_type", "")).lower(), "string")
            fields.append({"name": name, "type": kind, "description": described.get(name, "")})
        return {"fields": fields}

    long_schema = schema(LONG_MODEL, HEADER)
    resources = [{"name": "information-requests-every-period", "path": "information_requests.csv",
                  "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                  "description": descriptions(LONG_MODEL)[0], "schema": long_schema}]
    for folder in sorted(p for p in export_dir.iterdir() if p.is_dir() and PERIOD_PATTERN.match(p.name)):
        for model in ("information_requests", *TIDY_EXPORTS):
            path = folder / f"{model}.csv"
            if not path.exists():
                continue
            resources.append({
                "name": f"{model.replace('_', '-')}-{folder.name.lower()}",
                "path": f"{folder.name}/{model}.csv", "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                "description": descriptions(LONG_MODEL if model == "information_requests" else model)[0],
                "schema": long_schema if model == "information_requests" else schema(model, columns(model)),
            })
    package = {"name": "information-requests-report", "title": "Information Requests Report",
               "description": "Requests for user data from law enforcement, by half-year, country and type.",
               "resources": resources}
    return write_file(export_dir / "datapackage.json", (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return safe_cell(str(value))


def write_tidy(con: duckdb.DuckDBPyConnection, export_dir: Path, period: str, table: str) -> Path:
    """Write `<export_dir>/<period>/<table>.csv`: the reporting table's rows of the period, its
    declared columns as the header, in key order; byte-stable."""
    from dagster_project.report_shape import columns

    header = columns(table)
    rows = con.execute(
        f"select {', '.join(header)} from reporting.{table} where period = ? order by all", [period]
    ).fetchall()
    return write_file(export_dir / period / f"{table}.csv",
                      render_csv(([_cell(v) for v in row] for row in rows), header))
