"""Publish the analysts' `report.duckdb`: the reporting tables only, swapped in atomically."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

MEASURES = (
    "legal_requests", "emergency_requests", "preservation_requests", "total_requests",
    "legal_requests_disclosed", "emergency_requests_disclosed",
    "legal_disclosure_rate", "emergency_disclosure_rate",
    "legal_accounts_specified", "emergency_accounts_specified", "preservation_accounts_specified",
)
# The only columns that leave the warehouse: an allow-list, so no identifier can follow.
REPORT_TABLES: dict[str, tuple[str, ...]] = {
    "information_requests": (
        "period", "period_start", "period_end", "country_code", "country_name", *MEASURES,
    ),
    "information_requests_global": ("period", "period_start", "period_end", "countries", *MEASURES),
}


def publish_report(warehouse_db: Path, report_db: Path) -> dict[str, int]:
    """Copy the allow-listed reporting tables into a new file and rename it over `report_db`."""
    report_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = report_db.with_name(f".{report_db.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(tmp))
    try:
        con.execute("attach ? as wh (read_only)", [str(warehouse_db)])
        con.execute("create schema reporting")
        for table, columns in REPORT_TABLES.items():
            column_list = ", ".join(columns)
            con.execute(
                f"create table reporting.{table} as "
                f"select {column_list} from wh.reporting.{table} order by all"
            )
            counts[table] = con.execute(f"select count(*) from reporting.{table}").fetchone()[0]
        con.execute("detach wh")
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(tmp, report_db)
    return counts
