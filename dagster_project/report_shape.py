"""The report's shape, declared once in dbt and read here.

Every report table and column is declared in the dbt yml (`dbt/models/marts/reporting/`), with
its description; each measure of `information_requests` carries `config.meta.report`:

    format: count | rate
    of: [numerator, denominator]          a rate's counts (withheld with them, IRR_PUBLIC_MIN_COUNT)
    html: {label, position}               a column of the HTML country table
    export: {metric, position}            a per-country metric of the CSV export
    export_global: {metric, position}     a global metric of the CSV export

The published tables and their columns, the HTML's columns and the comments in
`report.duckdb` derive from it here; the export's metrics in dbt (macro `report_metrics`, model
`exports.information_requests_long`). Adding a measure is its SQL, its yml entry and its test.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from dagster_project.dbt_project import MANIFEST_TARGET, ensure_manifest

REPORT_MODEL = "information_requests"
GLOBAL_MODEL = "information_requests_global"
# The history of the report's figures: each version of information_requests (dbt/models/history/)
VERSIONS_MODEL = "information_requests_versions"


@dataclass(frozen=True)
class Measure:
    name: str
    format: str  # count or rate
    description: str
    html_label: str | None = None
    html_position: float | None = None
    export_metric: str | None = None
    export_position: float | None = None
    global_metric: str | None = None
    global_position: float | None = None
    of: tuple[str, ...] = ()  # a rate's numerator and denominator


@functools.cache
def _models() -> dict[str, dict[str, Any]]:
    path = MANIFEST_TARGET / "manifest.json"
    if not path.exists():
        path = ensure_manifest()
    nodes = json.loads(path.read_text())["nodes"].values()
    return {n["name"]: n for n in nodes if n["resource_type"] == "model"}


def model(name: str) -> dict[str, Any]:
    return _models()[name]


def reporting_models() -> list[str]:
    """The dbt models of the `reporting` schema, in name order."""
    return schema_models("reporting")


def schema_models(schema: str) -> list[str]:
    """The dbt models of a schema (`reporting`, `history`), in name order."""
    return sorted(n for n, m in _models().items() if m["config"].get("schema") == schema)


def _meta(props: dict[str, Any]) -> dict[str, Any]:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def published_columns(name: str) -> tuple[str, ...]:
    """The columns of a model that reach report.duckdb: those declared, but for any whose meta
    says `published: false`; a history table of the report's figures (the yml declares its own
    columns only) has the report's columns too."""
    own = tuple(c for c, props in model(name)["columns"].items() if _meta(props).get("published", True))
    if name == VERSIONS_MODEL:
        return (*own, *columns(REPORT_MODEL))
    return own


def columns(name: str) -> tuple[str, ...]:
    """The columns a model declares, in order (the enforced contract: exactly its columns)."""
    return tuple(model(name)["columns"])


def column_meta(name: str, column: str) -> dict[str, Any]:
    """A column's declared data type and meta: {"data_type": ..., **meta}."""
    props = model(name)["columns"][column]
    return {"data_type": props.get("data_type"), **_meta(props)}


def descriptions(name: str) -> tuple[str, dict[str, str]]:
    """A model's description and its columns' descriptions."""
    node = model(name)
    described = {c: v["description"].strip() for c, v in node["columns"].items()}
    if name == VERSIONS_MODEL:
        described = {**descriptions(REPORT_MODEL)[1], **described}
    return node["description"].strip(), described


def measures(name: str = REPORT_MODEL) -> list[Measure]:
    """The model's columns that carry `meta.report`, in declaration order."""
    out = []
    for column, props in model(name)["columns"].items():
        meta = _meta(props).get("report")
        if not meta:
            continue
        html, export, glob = meta.get("html") or {}, meta.get("export") or {}, meta.get("export_global") or {}
        out.append(Measure(
            name=column, format=meta["format"], description=props["description"].strip(),
            html_label=html.get("label"), html_position=html.get("position"),
            export_metric=export.get("metric"), export_position=export.get("position"),
            global_metric=glob.get("metric"), global_position=glob.get("position"),
            of=tuple(meta.get("of") or ()),
        ))
    return out


def html_columns() -> list[tuple[str, str, str]]:
    """(column, heading, format) of the HTML country table's measures, in order."""
    shown = sorted((m for m in measures() if m.html_label), key=lambda m: m.html_position)
    return [(m.name, m.html_label, m.format) for m in shown]
