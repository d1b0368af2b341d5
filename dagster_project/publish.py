"""Versions: each period's figures versioned, restatements recorded, the analysts' copy written.

The version log, the figures of every version and the restatements live in the warehouse's
`reporting` schema; `report.duckdb` receives an allow-listed copy of the reporting tables and
becomes public with the rest of its publication (`publication.py`).
"""

from __future__ import annotations

import hashlib
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
    "resolved_share", "accounts_per_request",
)
# The drift gate: how far (relative) the share of identifiers that resolve, or the accounts
# specified per request, may move from the last published version before a run stops.
DEFAULT_DRIFT_THRESHOLD = 0.3
VERSIONED = ("report_versions", "information_requests_versions", "restatements")
RESTATEMENT_COLUMNS = ("period", "version", "country_code", "metric", "old_value", "new_value")

# The only columns that leave the warehouse: an allow-list, so no identifier can follow.
REPORT_TABLES: dict[str, tuple[str, ...]] = {
    "information_requests": COUNTRY_COLUMNS,
    "information_requests_global": GLOBAL_COLUMNS,
    "report_versions": VERSION_COLUMNS,
    "information_requests_versions": ("version", *COUNTRY_COLUMNS),
    "restatements": RESTATEMENT_COLUMNS,
    "information_requests_by_legal_process": (
        "period", "country_code", "country_name", "legal_process", "requests", "requests_disclosed",
        "accounts_specified",
    ),
    "information_requests_accounts": (
        "period", "country_code", "country_name", "accounts_specified", "distinct_accounts",
        "distinct_unresolved_identifiers",
    ),
    "information_requests_timing": (
        "period", "request_type", "requests_with_final_outcome", "median_days_to_outcome",
    ),
}

_DDL = """
create schema if not exists reporting;
create table if not exists reporting.report_versions (
    period varchar, version integer, run_id varchar, published_at timestamp with time zone,
    input_fingerprint varchar, total_requests bigint, legal_requests bigint,
    emergency_requests bigint, preservation_requests bigint,
    -- false until report.duckdb holding this version has replaced the previous one
    is_published boolean,
    -- what the drift gate compares (dq.dq_period_quality at publication)
    resolved_share double, accounts_per_request double
);
alter table reporting.report_versions add column if not exists resolved_share double;
alter table reporting.report_versions add column if not exists accounts_per_request double;
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
    # False when the figures equal the last published version's: no new version is recorded
    changed: bool = True


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
    con: duckdb.DuckDBPyConnection, periods: list[str], run_id: str, fingerprint: str,
    current_run_id: str | None = None,
) -> list[Publication]:
    """Give each period whose figures changed a new (pending) version; record what changed.

    A period whose figures equal its last published version keeps that version (unchanged).

    The pending versions of the run whose publication is current (`current_run_id`: it died
    after the switch, before `mark_published`) are published; those of any other run that died
    are removed, so numbers stay consecutive and a version exists only if it was published.
    """
    con.execute(_DDL)
    con.execute("begin")
    if current_run_id is not None:
        mark_published(con, current_run_id)
    for table in ("information_requests_versions", "restatements"):
        con.execute(
            f"delete from reporting.{table} where (period, version) in "
            "(select period, version from reporting.report_versions where not is_published)"
        )
    con.execute("delete from reporting.report_versions where not is_published")
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
        old = unpivot.format(src="(select * from reporting.information_requests_versions "
                                 "where period = $period and version = $previous)")
        new = unpivot.format(src="(select * from reporting.information_requests where period = $period)")
        changes = f"""
            select $period as period, $version as version, coalesce(o.country_code, n.country_code),
                   coalesce(o.metric, n.metric), o.value, n.value
            from ({old}) as o
            full outer join ({new}) as n
                on o.country_code = n.country_code and o.metric = n.metric
            where o.value is distinct from n.value
        """
        params = {"period": period, "version": version, "previous": previous}
        restated = 0
        if previous:
            restated = con.execute(f"select count(*) from ({changes})", params).fetchone()[0]
            if not restated:
                out.append(Publication(period, previous, 0, changed=False))
                continue
            con.execute(f"insert into reporting.restatements {changes}", params)
        con.execute(
            "insert into reporting.information_requests_versions "
            "select ?, * from reporting.information_requests where period = ?",
            [version, period],
        )
        con.execute(
            """
            insert into reporting.report_versions by name
            select ? as period, ? as version, ? as run_id, ? as published_at, ? as input_fingerprint,
                g.total_requests, g.legal_requests, g.emergency_requests, g.preservation_requests,
                false as is_published, q.resolved_share, q.accounts_per_request
            from reporting.information_requests_global as g
            left join dq.dq_period_quality as q using (period)
            where g.period = ?
            """,
            [period, version, run_id, published_at, fingerprint, period],
        )
        out.append(Publication(period, version, restated))
    con.execute("commit")
    return out


def drift(con: duckdb.DuckDBPyConnection, periods: list[str], threshold: float) -> list[str]:
    """Periods whose resolution share or accounts per request moved more than `threshold`
    (relative) from their last published version, each described in a few words."""
    exists = con.execute(
        "select count(*) from duckdb_columns() where schema_name = 'reporting' "
        "and table_name = 'report_versions' and column_name = 'resolved_share'"
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(
        """
        with last as (
            select * from reporting.report_versions
            where is_published and period in (select unnest($periods::varchar[]))
            qualify version = max(version) over (partition by period)
        )
        select q.period, l.resolved_share, q.resolved_share, l.accounts_per_request, q.accounts_per_request
        from dq.dq_period_quality as q
        inner join last as l using (period)
        order by q.period
        """,
        {"periods": periods},
    ).fetchall()
    out = []
    for period, old_share, new_share, old_accounts, new_accounts in rows:
        moved = [
            f"{label} {old:.3f} -> {new:.3f} ({(new - old) / old:+.0%})"
            for label, old, new in (("resolved share", old_share, new_share),
                                    ("accounts per request", old_accounts, new_accounts))
            if old and new is not None and abs(new - old) / old > threshold
        ]
        if moved:
            out.append(f"{period}: {', '.join(moved)}")
    return out


def mark_published(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    con.execute("update reporting.report_versions set is_published = true where run_id = ?", [run_id])


def publish_report(con: duckdb.DuckDBPyConnection, report_db: Path, run_id: str) -> dict[str, int]:
    """Copy the allow-listed reporting tables into a new, read-only file `report_db`.

    `con` is a connection to the warehouse; versions still pending are included only for `run_id`.
    """
    report_db.parent.mkdir(parents=True, exist_ok=True)
    report_db.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con.execute("attach ? as report_tmp", [str(report_db)])
    try:
        con.execute("create schema report_tmp.reporting")
        for table, columns in REPORT_TABLES.items():
            exists = con.execute(
                "select count(*) from duckdb_tables() where database_name = current_database() "
                "and schema_name = 'reporting' and table_name = ?", [table]
            ).fetchone()[0]
            if not exists:
                continue
            where = ""
            if table in VERSIONED:
                where = (" where (period, version) in (select period, version from reporting.report_versions "
                         "where is_published or run_id = $run_id)")
            column_list = ", ".join(columns)
            con.execute(
                f"create table report_tmp.reporting.{table} as "
                f"select {column_list} from reporting.{table}{where} order by all",
                {"run_id": run_id} if where else {},
            )
            counts[table] = con.execute(f"select count(*) from report_tmp.reporting.{table}").fetchone()[0]
    finally:
        con.execute("detach report_tmp")
    # The analysts' copy is read-only on disk: an analyst's read-write open fails instead of
    # writing into the published file.
    report_db.chmod(0o444)
    return counts
