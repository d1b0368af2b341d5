"""The lineage as the Dagster UI shows it: the webserver's GraphQL API lists every asset and check
with its upstream edges."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from dagster_project.dbt_project import dbt_project
from drops import BARE_PATH, installed

QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, query: str) -> dict:
    request = urllib.request.Request(url, data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    port = _free_port()
    server = subprocess.Popen(
        [installed("dagster-webserver"), "-m", "dagster_project.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "PATH": BARE_PATH, "DAGSTER_HOME": str(home)}, cwd=home,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 120
        nodes = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                data = _post(url, QUERY)
                nodes = data.get("data", {}).get("assetNodes")
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert nodes, "the webserver did not answer"
        yield {tuple(n["assetKey"]["path"]): n for n in nodes}, port
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_every_asset_is_in_the_ui(graph):
    nodes, _ = graph
    manifest = json.loads(dbt_project.manifest_path.read_text())
    dbt_keys = {(n["schema"], n["name"]) for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}
    raw = {("raw", t) for t in ("request_lines", "account_identifiers", "videos", "short_links")}
    python = {("exports", "information_requests_csv"), ("reporting", "report_duckdb"), ("exports", "report_html"),
              ("dq", "data_quality_account")}
    assert dbt_keys | raw | python <= set(nodes)


@pytest.mark.parametrize(
    ("asset", "upstream"),
    [
        (("staging", "stg_requests__lines_parsed"), ("raw", "request_lines")),
        (("staging", "stg_requests__lines_parsed"), ("raw", "request_files")),
        (("staging", "stg_requests__events"), ("staging", "stg_requests__lines_parsed")),
        (("intermediate", "int_directory_named"), ("staging", "stg_directory__account_identifiers")),
        (("intermediate", "int_directory_named"), ("intermediate", "int_directory_profile")),
        (("staging", "stg_directory__account_identifiers"), ("raw", "account_identifiers")),
        (("intermediate", "int_directory_profile"), ("raw", "account_identifiers")),
        (("staging", "stg_directory__videos"), ("raw", "videos")),
        (("staging", "stg_directory__short_links"), ("raw", "short_links")),
        (("reporting", "information_requests"), ("intermediate", "int_requests_counted")),
        (("exports", "information_requests_csv"), ("reporting", "information_requests")),
        (("reporting", "report_duckdb"), ("exports", "information_requests_csv")),
        (("exports", "report_html"), ("reporting", "report_duckdb")),
    ],
)
def test_upstream_edges(graph, asset, upstream):
    nodes, _ = graph
    assert list(upstream) in [d["path"] for d in nodes[asset]["dependencyKeys"]]


def test_dbt_tests_are_checks_in_the_ui(graph):
    nodes, _ = graph
    checks = {c["name"] for n in nodes.values() for c in (n["assetChecksOrError"] or {}).get("checks", [])}
    assert "unique_stg_requests__current_request_id" in checks
    assert "global_equals_sum_of_countries" in checks
    assert "information_requests_figures_hold" in checks
    assert len(checks) >= 75  # 80 dbt tests: a model's row rules are one (row_rules)
