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

# The publication history, kept by this module (not dbt models): described here for report.duckdb.
HISTORY_DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "report_versions": ("One row per published version of a period's figures.", {
        "period": "Half-year, e.g. 2023-H2.",
        "version": "1 for the first publication of the period, then one more each time its figures changed.",
        "run_id": "The Dagster run that published the version.",
        "published_at": "When the version was published (UTC).",
        "input_fingerprint": "sha256 over the names and bytes of every file of the drop it was computed from.",
        "total_requests": "Total requests in the period, in this version.",
        "legal_requests": "Legal requests in the period, in this version.",
        "emergency_requests": "Emergency requests in the period, in this version.",
        "preservation_requests": "Preservation requests in the period, in this version.",
        "resolved_share": "Share of the valid identifiers that resolved to an account (what the drift gate compares).",
        "accounts_per_request": "Accounts specified per request (what the drift gate compares).",
    }),
    "information_requests_versions": (
        "reporting.information_requests as published in each version (a measure added after a version is NULL in it).",
        {"version": "The version of the period these figures were published in."}),
    "restatements": ("Each published figure that a later version changed: old and new value.", {
        "period": "Half-year of the figure.",
        "version": "The version that changed it.",
        "country_code": "Country of the figure.",
        "metric": "The column of reporting.information_requests.",
        "old_value": "The figure in the previous version.",
        "new_value": "The figure in this version.",
    }),
}


def measure_names() -> list[str]:
    from dagster_project.report_shape import measures

    return [m.name for m in measures()]


def report_tables() -> dict[str, tuple[str, ...]]:
    """The only tables and columns that leave the warehouse: those the dbt yml declares for the
    `reporting` schema (an allow-list, so no identifier can follow), and the history tables."""
    from dagster_project.report_shape import REPORT_MODEL, columns, reporting_models

    tables = {name: columns(name) for name in reporting_models()}
    tables["report_versions"] = VERSION_COLUMNS
    tables["information_requests_versions"] = ("version", *columns(REPORT_MODEL))
    tables["restatements"] = RESTATEMENT_COLUMNS
    return tables


def table_descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    from dagster_project.report_shape import REPORT_MODEL, descriptions, reporting_models

    out = {name: descriptions(name) for name in reporting_models()}
    out.update(HISTORY_DESCRIPTIONS)
    table, cols = out["information_requests_versions"]
    out["information_requests_versions"] = (table, {**descriptions(REPORT_MODEL)[1], **cols})
    return out


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
-- a measure added to the report since: NULL in the versions before it
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
    for column, data_type in con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'reporting' and table_name = 'information_requests' and column_name not in "
        "(select column_name from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'reporting' and table_name = 'information_requests_versions')"
    ).fetchall():
        con.execute(f'alter table reporting.information_requests_versions add column "{column}" {data_type}')
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
        f"select period, country_code, '{m}' as metric, {m}::double as value from {{src}}" for m in measure_names()
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
        # a measure every row of the previous version lacks did not exist then: not a restatement
        changes = f"""
            with o as ({old}), n as ({new}),
            existed as (select metric from o group by metric having count(value) > 0)
            select $period as period, $version as version, coalesce(o.country_code, n.country_code),
                   coalesce(o.metric, n.metric), o.value, n.value
            from o
            full outer join n on o.country_code = n.country_code and o.metric = n.metric
            where o.value is distinct from n.value
              and coalesce(o.metric, n.metric) in (select metric from existed)
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
            "insert into reporting.information_requests_versions by name "
            "select ? as version, * from reporting.information_requests where period = ?",
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
        for table, columns in report_tables().items():
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
        _comment(con, "report_tmp", {t: d for t, d in table_descriptions().items() if t in counts})
    finally:
        con.execute("detach report_tmp")
    # The analysts' copy is read-only on disk: an analyst's read-write open fails instead of
    # writing into the published file.
    report_db.chmod(0o444)
    return counts


def _comment(con: duckdb.DuckDBPyConnection, database: str, described: dict[str, tuple[str, dict[str, str]]]) -> None:
    """The dbt descriptions as DuckDB comments, so that analysts see them (duckdb_tables(), duckdb_columns())."""
    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    for table, (description, columns) in described.items():
        con.execute(f"comment on table {database}.reporting.{table} is {literal(description)}")
        present = {r[0] for r in con.execute(
            "select column_name from duckdb_columns() where database_name = ? and schema_name = 'reporting' "
            "and table_name = ?", [database, table]).fetchall()}
        for column, text in columns.items():
            if column in present:
                con.execute(f'comment on column {database}.reporting.{table}."{column}" is {literal(text)}')
