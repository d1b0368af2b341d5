"""No identifier leaves the pipeline: report.duckdb, the export, the run's logs and asset metadata."""

from __future__ import annotations

import csv
import json
import subprocess

import duckdb
import pytest

from irr_dev.generate import write_drop
from drops import irr_env, installed, irr_process_env

MIN_LENGTH = 5  # shorter strings (e.g. "li") occur in ordinary words; every identifier here is longer


def _strings(item) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict) and isinstance(item.get("value"), str):
        return [item["value"]]
    return []


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    raw = root / "raw"
    write_drop(raw, requests=400, seed=5)
    env = irr_process_env(raw, root / "wh", root / "ex")
    result = subprocess.run([installed("irr"), "run"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    # the same run in-process, for the asset metadata the Dagster UI would show
    from dagster_project.cli import run

    with irr_env(raw, root / "wh2", root / "ex2"):
        metadata = run(None)["metadata"]

    identifiers: set[str] = set()
    import gzip

    for path in sorted((raw / "requests").iterdir()):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        for line in data.decode("utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            items = event.get("identifiers") if isinstance(event, dict) else None
            for item in items if isinstance(items, list) else []:
                identifiers.update(s.strip() for s in _strings(item))
    with duckdb.connect(str(root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        identifiers.update(r[0] for r in con.execute(
            "select canonical_value from intermediate.int_identifiers_links_followed where canonical_value is not null "
            "union select identifier_value from staging.stg_directory__account_identifiers "
            "union select account_id from staging.stg_directory__account_identifiers "
            "union select video_id from staging.stg_directory__videos "
            "union select code from staging.stg_directory__short_links "
            "union select target_url from staging.stg_directory__short_links"
        ).fetchall())
        invalid = {r[0] for r in con.execute(
            "select raw_value from intermediate.int_identifiers_classified where kind = 'invalid'"
        ).fetchall()}
    # invalid texts such as "N/A" or "unknown" are not identifiers of anyone
    identifiers = {i for i in identifiers - invalid if len(i) >= MIN_LENGTH}
    lowered = {i.lower() for i in identifiers}
    # what the operator saw, the run's log file (dbt's and Dagster's output) and the Dagster
    # instance's event log (what the UI shows of the run)
    logs = result.stdout + result.stderr
    logs += "".join(p.read_text(errors="replace") for p in sorted((root / "wh" / "logs").glob("*.log")))
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(root / "wh" / "dagster_home")) as instance:
        for record in instance.get_run_records():
            logs += "".join(str(entry) for entry in instance.all_logs(record.dagster_run.run_id))
    return {"root": root, "identifiers": identifiers, "lowered": lowered, "logs": logs, "metadata": metadata}


def test_the_scan_has_identifiers_to_look_for(scanned):
    kinds = scanned["identifiers"]
    assert len(kinds) > 1000
    assert any("@" in i for i in kinds) and any(i.startswith("+") for i in kinds)


def test_no_identifier_in_report_database(scanned):
    cells = 0
    with duckdb.connect(str(scanned["root"] / "wh" / "report.duckdb"), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
        ).fetchall()
        assert columns
        for schema, table, column in columns:
            for (value,) in con.execute(f'select "{column}" from {schema}.{table}').fetchall():
                cells += 1
                text = str(value).lower()
                assert text not in scanned["lowered"], (table, column)
                assert not any(i in text for i in scanned["lowered"] if len(i) >= 8), (table, column)
    assert cells > 100


def test_no_identifier_in_export(scanned):
    files = sorted((scanned["root"] / "ex").rglob("*.csv"))
    assert files
    for path in files:
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert cell.lower() not in scanned["lowered"], (path, cell)


def test_no_identifier_in_logs(scanned):
    logs = scanned["logs"].lower()
    assert len(logs) > 1000
    hits = sorted(i for i in scanned["lowered"] if i in logs)
    assert hits == []


def test_no_identifier_in_asset_metadata(scanned):
    text = json.dumps(scanned["metadata"]).lower()
    assert "dq/data_quality_account" in text and "reporting/report_duckdb" in text
    hits = sorted(i for i in scanned["lowered"] if i in text)
    assert hits == []
