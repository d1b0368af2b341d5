"""dbt-duckdb plugin: registers the Python helpers as DuckDB functions on every dbt connection."""

from __future__ import annotations

import json

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from dagster_project.identifiers import is_ip_address, normalize_text, phone_e164


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def is_strict_json(text: str | None) -> bool | None:
    """Whether the text is JSON as RFC 8259 has it. DuckDB's reader also takes NaN, Infinity (in
    any case, signed) and trailing commas, and Python's takes NaN and Infinity unless told not to.
    A document nested too deep for Python's reader counts as not JSON."""
    if text is None:
        return None
    try:
        json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return False
    return True


def register_functions(conn: DuckDBPyConnection) -> None:
    """Register `irr_normalize_text(text)`, `irr_is_ip_address(text)`, `irr_phone_e164(text, region)`
    and `irr_is_strict_json(text)`."""
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
    if "irr_is_strict_json" not in existing:
        conn.create_function(
            "irr_is_strict_json", is_strict_json, ["VARCHAR"], "BOOLEAN",
            null_handling="special", side_effects=False,
        )
    if "irr_phone_e164" not in existing:
        conn.create_function(
            "irr_phone_e164", phone_e164, ["VARCHAR", "VARCHAR"], "VARCHAR",
            null_handling="special", side_effects=False,
        )


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.execute("set TimeZone = 'UTC'")
        register_functions(conn)
