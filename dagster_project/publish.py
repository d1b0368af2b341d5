"""The analysts' copy written, the drift gate, the versions a run publishes.

dbt keeps the publication history (`dbt/models/history/`: each period's versions, their
figures and restatements, in the warehouse's `history` schema); `report.duckdb` receives an
allow-listed copy of the reporting tables and that history, and becomes public with the rest of
its publication (`publication.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.raw_drop import file_sha256, recorded_hashes, stamp_of

# The drift gate: how far (relative) the share of identifiers that resolve, or the accounts
# specified per request, may move from the last published version before a run stops.
DEFAULT_DRIFT_THRESHOLD = 0.3


def published_tables() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The only tables and columns that leave the warehouse, as {name: (warehouse schema,
    columns)}: those the dbt yml declares for the `reporting` schema and the publication history
    (`history`), but for columns marked unpublished. An allow-list: no identifier can follow."""
    from dagster_project.report_shape import published_columns, schema_models

    return {name: (schema, published_columns(name)) for schema in ("reporting", "history")
            for name in schema_models(schema)}


def table_descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    from dagster_project.report_shape import descriptions

    return {name: descriptions(name) for name in published_tables()}


@dataclass(frozen=True)
class Publication:
    period: str
    version: int
    restatements: int
    # False when the figures equal the last published version's: no new version was added
    changed: bool = True


def input_fingerprint(raw_dir: Path, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """sha256 over the path and the sha256 of the bytes of every file of the drop, in the order of
    their paths (compared folder by folder, as pathlib sorts them); a file that cannot be read
    counts as the text "unreadable" in place of its digest. (Before 2026-11-27 the history
    recorded the sha256 over the paths and bytes themselves: the same drop has another value.)

    Through `con`, a warehouse's connection: a file whose stamp is still the one it had when a
    load hashed it (raw.drop_files) is not read again, its digest is the load's. A load of the
    whole drop hashes each request file it finds and each Parquet part of the directory.
    """
    recorded = recorded_hashes(con) if con is not None else {}
    digest = hashlib.sha256()
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file()):
        name = path.relative_to(raw_dir).as_posix()
        stamp, known = recorded.get(name, (None, None))
        if stamp is None or stamp != stamp_of(path):
            known = file_sha256(path) or "unreadable"
        digest.update(f"{name}\0{known}\0".encode("utf-8"))
    return digest.hexdigest()


def run_versions(con: duckdb.DuckDBPyConnection, periods: list[str], run_id: str) -> list[Publication]:
    """The version each period of the run publishes (dbt's history models added the new ones),
    with the figures it restates."""
    rows = con.execute(
        """
        with latest as (
            select period, version, run_id = $run_id as is_new
            from history.report_versions
            where period in (select unnest($periods::varchar[])) and (is_published or run_id = $run_id)
            qualify version = max(version) over (partition by period)
        )
        select latest.period, latest.version, latest.is_new, count(r.metric)
        from latest
        left join history.restatements as r
            on r.period = latest.period and r.version = latest.version and latest.is_new
        group by all
        order by latest.period
        """,
        {"periods": periods, "run_id": run_id},
    ).fetchall()
    return [Publication(period, version, restated, changed=is_new) for period, version, is_new, restated in rows]


HISTORY_TABLES = ("report_versions", "information_requests_versions", "restatements")


def confirm_versions(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """The versions `run_id` added are published: its publication was just made current. (A run
    that dies before this has them confirmed by the next build, macros/history.sql.)"""
    con.execute("begin")
    for table in HISTORY_TABLES:
        con.execute(f"update history.{table} set is_published = true where run_id = ? and not is_published", [run_id])
    con.execute("commit")


def drift(con: duckdb.DuckDBPyConnection, periods: list[str], threshold: float) -> list[str]:
    """Periods whose resolution share or accounts per request moved more than `threshold`
    (relative) from their last published version, each described in a few words."""
    rows = con.execute(
        """
        with last as (
            select * from history.report_versions
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


def publish_report(con: duckdb.DuckDBPyConnection, report_db: Path, run_id: str) -> dict[str, int]:
    """Copy the allow-listed reporting tables into a new, read-only file `report_db`.

    `con` is a connection to the warehouse; of the history, the published versions and those
    `run_id` added (pending until its publication is current).
    """
    report_db.parent.mkdir(parents=True, exist_ok=True)
    report_db.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con.execute("attach ? as report_tmp", [str(report_db)])
    try:
        con.execute("create schema report_tmp.reporting")
        for table, (schema, columns) in published_tables().items():
            where = " where is_published or run_id = $run_id" if schema == "history" else ""
            column_list = ", ".join(columns)
            con.execute(
                f"create table report_tmp.reporting.{table} as "
                f"select {column_list} from {schema}.{table}{where} order by all",
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
