"""The public CSV export (CONTRACT 3.2): one long-format file per period, byte-stable."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb

from dagster_project.disclosure import PROTECTED_COLUMNS, SUPPRESSED_COLUMN, Protector, Withheld, agency_rows
from dagster_project.partitions import PERIOD_PATTERN, period_value
from dagster_project.publication import write_file
from dagster_project.resources import dict_rows

HEADER = (
    "replication_info", "entity", "aspect", "metric_name", "period", "period_value",
    "policy", "policy_value", "task", "task_value", "location", "location_value",
    "result", "base", "date",
)

RESULT = HEADER.index("result")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: str) -> str:
    """Neutralise a text cell a spreadsheet would run as a formula (leading =, +, -, @, tab, CR)."""
    if value and value[0] in "=+-@\t\r" and not _NUMBER.match(value):
        return "'" + value
    return value


def export_rows(con: duckdb.DuckDBPyConnection, period: str, protector: Protector | None = None) -> list[tuple[str, ...]]:
    """The export's rows for one period, in their published order: the dbt model
    `exports.information_requests_long`, written as it is (text cells neutralised once more).
    With small-count protection, a withheld figure is shown `<N` or `x` and the last column
    (`suppressed`) says why."""
    period_value(period)  # a malformed period is refused before the query
    rows = con.execute(
        f"select {', '.join(HEADER)}, country_code, measure from exports.information_requests_long "
        "where report_period = ? order by row_in_period",
        [period],
    ).fetchall()
    if not rows:
        raise ValueError(f"no requests in period {period}")
    out = []
    for *cells, code, measure in rows:
        cells = [safe_cell(cell) for cell in cells]
        if protector is not None:
            table, row = (("information_requests", {"period": period, "country_code": code}) if code
                          else ("information_requests_global", {"period": period}))
            why = protector.reason(table, row, measure)
            if why:
                cells[RESULT] = protector.period(period).shown(why)
            cells.append(why or "")
        out.append(tuple(cells))
    return out


def header(protector: Protector | None) -> tuple[str, ...]:
    """The long-format file's header: CONTRACT 3.2's, and `suppressed` when figures may be withheld."""
    return HEADER if protector is None else (*HEADER, SUPPRESSED_COLUMN)


def render_csv(rows, header: tuple[str, ...] = HEADER) -> bytes:
    """A CSV file's bytes: the header, then the rows; Unix line ends, minimal quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_export(con: duckdb.DuckDBPyConnection, export_dir: Path, period: str,
                 protector: Protector | None = None) -> Path:
    """Write `<export_dir>/<period>/information_requests.csv`; returns its path."""
    return write_file(export_dir / period / "information_requests.csv",
                      render_csv(export_rows(con, period, protector), header(protector)))


def write_every_period(export_dir: Path) -> Path:
    """Write `<export_dir>/information_requests.csv`: the files of every published period, one
    after the other under one header (made from the files themselves, so it says what they say;
    they were written with one setting of the small-count protection, so share their header)."""
    parts = sorted(p for p in export_dir.glob("*/information_requests.csv") if PERIOD_PATTERN.match(p.parent.name))
    heads, bodies = set(), []
    for part in parts:
        head, _, body = part.read_text(encoding="utf-8").partition("\n")
        heads.add(head)
        bodies.append(body)
    if len(heads) > 1:
        raise ValueError(f"the period files under {export_dir} have different headers: {sorted(heads)}")
    first = heads.pop() if heads else ",".join(HEADER)
    return write_file(export_dir / "information_requests.csv", "".join([first + "\n", *bodies]).encode("utf-8"))


# Breakdowns published as tidy CSVs beside the long-format file: one row per row of the table.
TIDY_EXPORTS = ("information_requests_by_outcome", "information_requests_by_agency")
LONG_MODEL = "information_requests_long"
# Frictionless table-schema types of the dbt data types
_PACKAGE_TYPES = {"varchar": "string", "bigint": "integer", "integer": "integer", "double": "number",
                  "date": "date", "boolean": "boolean"}


# The package's record of the small-count protection its files were written with.
PACKAGE_MIN_COUNT = "irr_public_min_count"
# What a withheld figure looks like, for the data package's descriptions.
WITHHELD_NOTE = ("With small-count protection on (IRR_PUBLIC_MIN_COUNT = N), a count from 1 to N-1 is "
                 "'<N' and a figure withheld so that no small count can be worked out, or computed from "
                 "a withheld count, is 'x'.")
SUPPRESSED_DESCRIPTION = ("Which figures of the row are withheld and why: 'small count' (shown <N), "
                          "'complementary' (shown x, withheld so that no small count can be worked out from "
                          "the published figures), 'computed from a withheld count' (a rate or share, shown x); "
                          "for the tidy files, the withheld columns, separated by ';'. Empty: nothing withheld.")


def write_datapackage(export_dir: Path, min_count: int | None = None) -> Path:
    """Write `<export_dir>/datapackage.json` (a Frictionless Data Package) describing every CSV
    of the folder: each field's type and description, from the dbt yml that declares the tables,
    and the small-count protection the files were written with."""
    import json

    from dagster_project.report_shape import column_meta, columns, descriptions

    def schema(model: str, names: tuple[str, ...]) -> dict:
        _, described = descriptions(model)
        fields = []
        for name in names:
            meta = column_meta(model, name)
            kind = meta.get("package_type") or _PACKAGE_TYPES.get(str(meta.get("data_type", "")).lower(), "string")
            description = described.get(name, "")
            if min_count and name in PROTECTED_COLUMNS.get(model, ()):
                kind, description = "string", f"{description} {WITHHELD_NOTE}".strip()
            fields.append({"name": name, "type": kind, "description": description})
        if min_count:
            fields.append({"name": SUPPRESSED_COLUMN, "type": "string", "description": SUPPRESSED_DESCRIPTION})
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
               PACKAGE_MIN_COUNT: min_count, "resources": resources}
    return write_file(export_dir / "datapackage.json", (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def written_min_count(export_dir: Path) -> int | None | str:
    """The small-count protection the folder's files were written with (None: off), or
    "unknown" when there is no data package to say so."""
    import json

    try:
        return json.loads((export_dir / "datapackage.json").read_text(encoding="utf-8")).get(PACKAGE_MIN_COUNT)
    except (FileNotFoundError, ValueError):
        return "unknown"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Withheld):
        return value.shown
    if isinstance(value, float):
        return repr(value)
    return safe_cell(str(value))


def write_tidy(con: duckdb.DuckDBPyConnection, export_dir: Path, period: str, table: str,
               protector: Protector | None = None) -> Path:
    """Write `<export_dir>/<period>/<table>.csv`: the reporting table's rows of the period, its
    declared columns as the header, in key order; byte-stable. With small-count protection,
    withheld figures are `<N` or `x` and the last column lists the withheld columns."""
    from dagster_project.report_shape import columns

    names = columns(table)
    if table == "information_requests_by_agency":  # with protection, the small agencies as one row
        rows = agency_rows(con, period, protector and protector.n)
    else:
        rows = dict_rows(con, f"select {', '.join(names)} from reporting.{table} where period = ? order by all", [period])
    if protector is None:
        lines = ([_cell(row[c]) for c in names] for row in rows)
        return write_file(export_dir / period / f"{table}.csv", render_csv(lines, names))
    lines = []
    for row in rows:
        shown = protector.mask(table, row)
        withheld = [c for c in names if isinstance(shown[c], Withheld)]
        lines.append([*(_cell(shown[c]) for c in names), ";".join(withheld)])
    return write_file(export_dir / period / f"{table}.csv", render_csv(lines, (*names, SUPPRESSED_COLUMN)))
