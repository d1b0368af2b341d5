"""The Dagster definitions: asset graph from raw files through every dbt model to report and export."""

from __future__ import annotations

import json

from dagster import AssetKey

from dagster_project.dbt_project import dbt_project

RAW = [AssetKey(["raw", t]) for t in ("request_lines", "account_identifiers", "videos", "short_links")]
REPORT = AssetKey(["reporting", "information_requests"])
EXPORT = AssetKey(["exports", "information_requests_csv"])
PUBLISH = AssetKey(["reporting", "report_duckdb"])


def _graph():
    from dagster_project.definitions import defs

    return defs.resolve_asset_graph()


def _downstream(graph, start: AssetKey) -> set[AssetKey]:
    seen, todo = set(), [start]
    while todo:
        key = todo.pop()
        for child in graph.get(key).child_keys:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_every_dbt_model_and_seed_is_an_asset():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    expected = {
        AssetKey([node["schema"], node["name"]])
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed")
    }
    assert len(expected) >= 20
    assert expected <= set(_graph().get_all_asset_keys())


def test_path_from_each_raw_asset_to_the_report_export_and_publication():
    graph = _graph()
    for raw in RAW:
        assert graph.get(raw).is_materializable, raw
        reachable = _downstream(graph, raw)
        assert {REPORT, EXPORT, PUBLISH} <= reachable, raw


def test_dbt_tests_are_asset_checks():
    graph = _graph()
    check_names = {key.name for key in graph.asset_check_keys}
    assert any(name.startswith("unique_stg_requests__current_request_id") for name in check_names)
    assert any(name == "information_requests_figures_hold" for name in check_names)


def test_every_model_seed_and_source_is_described_and_reporting_columns_typed():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    nodes += list(manifest["sources"].values())
    for node in nodes:
        assert node["description"].strip(), node["unique_id"]
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["schema"] == "reporting":
            assert node["columns"], node["name"]
            for column in node["columns"].values():
                assert column["description"].strip() and column.get("data_type"), (node["name"], column["name"])


def test_descriptions_and_column_schemas_reach_dagster():
    from dagster import TableSchema

    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(REPORT)
    assert "one row per period and requesting country" in (node.description or "")
    schema = node.metadata.get("dagster/column_schema")
    assert isinstance(schema, TableSchema)
    assert {c.name: c.type for c in schema.columns}["legal_disclosure_rate"] == "double"
