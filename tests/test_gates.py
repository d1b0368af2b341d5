"""Quality gates: the checks that guard the figures exist, and a failing one blocks publication."""

from __future__ import annotations

import hashlib
import json
import subprocess

from dagster_project.dbt_project import dbt_project
from drops import installed, irr_process_env, run_in_process
from test_end_to_end import e2e_drop

# (model the test is attached to, fragment of the test's name) for every gate of the issue
GATES = [
    ("stg_requests__current", "unique_stg_requests__current_request_id"),
    ("stg_requests__events", "accepted_values_stg_requests__events_request_type"),
    ("stg_requests__events", "accepted_values_stg_requests__events_outcome"),
    ("stg_requests__events", "relationships_stg_requests__events_country_code"),
    ("information_requests_global", "global_equals_sum_of_countries"),
    ("information_requests", "every_request_in_one_period_and_country"),
    ("dq_quarantined_lines", "lines_read_equal_accepted_plus_quarantined"),
]
# the gates that are rules of a model's row_rules test: (model, test, rule, the rule's SQL)
RULE_GATES = [
    ("information_requests", "information_requests_figures_hold", "total_is_the_sum_of_the_types",
     "total_requests = legal_requests + emergency_requests + preservation_requests"),
    ("information_requests", "information_requests_figures_hold", "disclosed_are_among_the_requests",
     "legal_requests_disclosed <= legal_requests and emergency_requests_disclosed <= emergency_requests"),
    ("information_requests", "information_requests_figures_hold", "legal_disclosure_rate_is_a_fraction",
     "legal_disclosure_rate is null or (legal_disclosure_rate >= 0 and legal_disclosure_rate <= 1)"),
    ("information_requests", "information_requests_figures_hold", "emergency_disclosure_rate_is_a_fraction",
     "emergency_disclosure_rate is null or (emergency_disclosure_rate >= 0 and emergency_disclosure_rate <= 1)"),
    ("information_requests", "information_requests_figures_hold", "legal_accounts_specified_is_a_count",
     "legal_accounts_specified >= 0"),
    ("information_requests_global", "information_requests_global_figures_hold", "total_is_the_sum_of_the_types",
     "total_requests = legal_requests + emergency_requests + preservation_requests"),
]


def test_every_gate_is_an_error_severity_dbt_test():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    for model, fragment in GATES:
        matching = [t for t in tests if fragment in t["name"] and any(model in d for d in t["depends_on"]["nodes"])]
        assert matching, (model, fragment)
        assert all(t["config"]["severity"].lower() == "error" for t in matching), fragment
    for model, name, rule, expression in RULE_GATES:
        (test,) = [t for t in tests if t["name"] == name]
        assert test["depends_on"]["nodes"] == [f"model.irr.{model}"] and test["config"]["severity"].lower() == "error"
        assert test["test_metadata"]["name"] == "row_rules"
        assert test["test_metadata"]["kwargs"]["rules"][rule] == expression, (name, rule)


def _digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_failing_check_or_drift_keeps_last_report_and_export_and_says_why(tmp_path):
    raw = e2e_drop(tmp_path / "raw")
    run_in_process(raw, tmp_path)
    outputs = [tmp_path / "warehouse" / "report.duckdb", *sorted((tmp_path / "exports").rglob("*.csv"))]
    before = _digest(outputs)

    # a directory timestamp that is not a timestamp: the staging check fails
    with (raw / "directory" / "account_identifiers.csv").open("a") as handle:
        handle.write("6800000000000000077,username,someone,last tuesday,\n")
    (raw / "requests" / "2023.jsonl").write_text(
        (raw / "requests" / "2023.jsonl").read_text().replace('"rejected"', '"disclosed"'))
    env = irr_process_env(raw, tmp_path / "warehouse", tmp_path / "exports")
    result = subprocess.run([installed("irr"), "run"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("irr: run failed: irr_dbt_models: dbt: Failure in test directory_validity_times_are_timestamps")
    assert _digest(outputs) == before
    # nothing is resolved from a directory that failed its checks
    log = max((tmp_path / "warehouse" / "logs").glob("irr-run-*.log")).read_text()
    assert "SKIP relation intermediate.int_directory_named" in log
    assert "SKIP relation intermediate.int_identifiers_resolved" in log

    # the drift gate (same warehouse, to share the baseline run): a directory cut short but
    # well-formed, only one account left, so most identifiers stop resolving
    path = raw / "directory" / "account_identifiers.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [l for l in lines[1:] if "old.name" in l]) + "\n")
    result = subprocess.run([installed("irr"), "run"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("irr: run failed: exports__information_requests_csv: drift gate: 2023-H2: resolved share ")
    assert "nothing was published" in line and "--accept-drift" in line
    assert _digest(outputs) == before

    accepted = subprocess.run([installed("irr"), "run", "--accept-drift"], env=env, capture_output=True, text=True,
                              timeout=600)
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    assert _digest(outputs) != before
