"""Shared fixtures: the dbt manifest and a pipeline run over the contract-cases drop."""

from __future__ import annotations

import os

import duckdb
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run unless asked otherwise
# (IRR_HYPOTHESIS=random): a green CI must not depend on the draw.
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("random")
settings.load_profile(os.environ.get("IRR_HYPOTHESIS", "fixed"))

# Every test's run records into its own warehouse's Dagster instance, never a shared one.
os.environ.pop("DAGSTER_HOME", None)

from contract_cases import build_contract_drop
from drops import run_in_process


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """The Dagster definitions load the dbt manifest: build it once (xdist workers take turns)."""
    from dagster_project.cli import prepare_manifest

    prepare_manifest()


@pytest.fixture(scope="session")
def contract_run(tmp_path_factory):
    """One pipeline run over a drop that holds a request for every contract case."""
    root = tmp_path_factory.mktemp("contract")
    raw = build_contract_drop(root / "raw")
    run_in_process(raw, root)
    return root


@pytest.fixture(scope="session")
def warehouse(contract_run):
    con = duckdb.connect(str(contract_run / "warehouse" / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()
