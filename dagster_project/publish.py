"""Publication: version each period's figures, record restatements, and swap in `report.duckdb`.

The version log, the figures of every version and the restatements live in the warehouse's
`reporting` schema; `report.duckdb` receives an allow-listed copy of the reporting tables.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

MEASURES = (
    "legal_requests", "emergency_requests", "preservation_requests", "total_requests",
    "legal_requests_disclosed", "emergency_requests_disclosed",
    "legal_disclosure_rate", "emergency_disclosure_rate",
    "legal_accounts_specified", "emergency_accounts_specified", "preservation_accounts_specified",
)
COUNTRY_COLUMNS = ("period", "period_start", "period_end", "country_code", "country_name", *MEASURES)
GLOBAL_COLUMNS = ("period", "period_start", "period_end", "countries", *MEASURES)
VERSION_COLUMNS = (
    "period", "version", "run_id", "published_at", "input_fingerprint",
    "total_requests", "legal_requests", "emergency_requests", "preservation_requests",
)
RESTATEMENT_COLUMNS = ("period", "version", "country_code", "metric", "old_value", "new_value")

# The only columns that leave the warehouse: an allow-list, so no identifier can follow.
REPORT_TABLES: dict[str, tuple[str, ...]] = {
    "information_requests": COUNTRY_COLUMNS,
    "information_requests_global": GLOBAL_COLUMNS,
    "report_versions": VERSION_COLUMNS,
    "information_requests_versions": ("version", *COUNTRY_COLUMNS),
    "restatements": RESTATEMENT_COLUMNS,
}

_DDL = f"""
create schema if not exists reporting;
create table if not exists reporting.report_versions (
    period varchar, version integer, run_id varchar, published_at timestamp with time zone,
    input_fingerprint varchar, total_requests bigint, legal_requests bigint,
    emergency_requests bigint, preservation_requests bigint
);
create table if not exists reporting.information_requests_versions as
    select 0::integer as version, * from reporting.information_requests limit 0;
create table if not exists reporting.restatements (
    period varchar, version integer, country_code varchar, metric varchar,
    old_value double, new_value double
);
"""


@dataclass(frozen=True)
class Publication:
    period: str
    version: int
    restatements: int


def input_fingerprint(raw_dir: Path) -> str:
    """sha256 over the names and bytes of every file of the drop, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(raw_dir)).encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def record_publication(
    con: duckdb.DuckDBPyConnection, periods: list[str], run_id: str, fingerprint: str
) -> list[Publication]:
    """Give each period with figures a new version; record what changed since the previous one."""
    con.execute(_DDL)
    published_at = datetime.now(timezone.utc)
    unpivot = " union all ".join(
        f"select period, country_code, '{m}' as metric, {m}::double as value from {{src}}" for m in MEASURES
    )
    out: list[Publication] = []
    for period in periods:
        has_rows = con.execute(
            "select count(*) from reporting.information_requests where period = ?", [period]
        ).fetchone()[0]
        if not has_rows:
            continue
        previous = con.execute(
            "select coalesce(max(version), 0) from reporting.report_versions where period = ?", [period]
        ).fetchone()[0]
        version = previous + 1
        con.execute(
            "insert into reporting.information_requests_versions "
            "select ?, * from reporting.information_requests where period = ?",
            [version, period],
        )
        old = unpivot.format(src=f"(select * from reporting.information_requests_versions "
                                 f"where period = $period and version = $previous)")
        new = unpivot.format(src="(select * from reporting.information_requests where period = $period)")
        restated = 0
        if previous:
            con.execute(
                f"""
                insert into reporting.restatements
                select $period, $version, coalesce(o.country_code, n.country_code),
                       coalesce(o.metric, n.metric), o.value, n.value
                from ({old}) as o
                full outer join ({new}) as n
                    on o.country_code = n.country_code and o.metric = n.metric
                where o.value is distinct from n.value
                """,
                {"period": period, "version": version, "previous": previous},
            )
            restated = con.execute(
                "select count(*) from reporting.restatements where period = ? and version = ?", [period, version]
            ).fetchone()[0]
        con.execute(
            """
            insert into reporting.report_versions
            select ?, ?, ?, ?, ?, total_requests, legal_requests, emergency_requests, preservation_requests
            from reporting.information_requests_global where period = ?
            """,
            [period, version, run_id, published_at, fingerprint, period],
        )
        out.append(Publication(period, version, restated))
    return out


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
            exists = con.execute(
                "select count(*) from duckdb_tables() where database_name = 'wh' "
                "and schema_name = 'reporting' and table_name = ?", [table]
            ).fetchone()[0]
            if not exists:
                continue
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
