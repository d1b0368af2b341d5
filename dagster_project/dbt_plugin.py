"""dbt-duckdb plugin: registers the Python helpers as DuckDB functions on every dbt connection."""

from __future__ import annotations

import hashlib
import unicodedata
from functools import cache
from pathlib import Path

import phonenumbers
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from dagster_project import identifiers
from dagster_project.identifiers import is_ip_address, normalize_text, phone_e164


@cache
def functions_version() -> str:
    """What the functions registered here compute with: their module's code and this one's (which
    binds them), the Unicode tables of this Python and the phonenumbers release. A model that
    keeps rows made with them between runs (stg_requests__events) makes them again when this
    changes."""
    code = hashlib.sha256(Path(identifiers.__file__).read_bytes() + Path(__file__).read_bytes()).hexdigest()[:16]
    return f"{code}:unicode {unicodedata.unidata_version}:phonenumbers {phonenumbers.__version__}"


def register_functions(conn: DuckDBPyConnection) -> None:
    """Register `irr_normalize_text(text)`, `irr_is_ip_address(text)`, `irr_phone_e164(text, region)`
    and `irr_functions_version()`."""
    existing = {
        row[0]
        for row in conn.execute(
            "select function_name from duckdb_functions() where function_name like 'irr_%'"
        ).fetchall()
    }
    if "irr_normalize_text" not in existing:
        conn.create_function(
            "irr_normalize_text", normalize_text, ["VARCHAR"], "VARCHAR",
            null_handling="special", side_effects=False,
        )
    if "irr_is_ip_address" not in existing:
        conn.create_function(
            "irr_is_ip_address", is_ip_address, ["VARCHAR"], "BOOLEAN",
            null_handling="special", side_effects=False,
        )
    if "irr_phone_e164" not in existing:
        conn.create_function(
            "irr_phone_e164", phone_e164, ["VARCHAR", "VARCHAR"], "VARCHAR",
            null_handling="special", side_effects=False,
        )
    if "irr_functions_version" not in existing:
        conn.create_function("irr_functions_version", functions_version, [], "VARCHAR", side_effects=False)


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.execute("set TimeZone = 'UTC'")
        register_functions(conn)
