"""Assets that leave the warehouse: the public CSV export and the analysts' report.duckdb."""


import duckdb
from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, asset

from dagster_project.export import write_export
from dagster_project.publish import publish_report
from dagster_project.resources import IrrPaths

PERIOD_TAG = "irr/period"
REPORT_TABLES = [
    AssetKey(["reporting", "information_requests"]),
    AssetKey(["reporting", "information_requests_global"]),
]


@asset(key=AssetKey(["exports", "information_requests_csv"]), group_name="exports", deps=REPORT_TABLES,
       compute_kind="csv")
def public_export(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """`exports/<period>/information_requests.csv` for every period (or the run's `irr/period`)."""
    requested = context.run.tags.get(PERIOD_TAG)
    with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
        periods = [r[0] for r in con.execute(
            "select distinct period from reporting.information_requests order by period"
        ).fetchall()]
        if requested:
            if requested not in periods:
                found = ", ".join(periods) or "none"
                raise Failure(f"period {requested} has no requests in the drop (periods found: {found})")
            periods = [requested]
        written = [write_export(con, paths.export_path, period) for period in periods]
    return MaterializeResult(
        metadata={
            "periods": ", ".join(periods),
            "files": MetadataValue.md("\n".join(f"- `{p.relative_to(paths.export_path)}`" for p in written)),
        }
    )


@asset(key=AssetKey(["reporting", "report_duckdb"]), group_name="exports",
       deps=[*REPORT_TABLES, AssetKey(["exports", "information_requests_csv"])], compute_kind="duckdb")
def published_report(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """`report.duckdb` for analysts: schema `reporting` only, replaced atomically."""
    counts = publish_report(paths.warehouse_db, paths.report_db)
    with duckdb.connect(str(paths.report_db), read_only=True) as con:
        totals = con.execute(
            "select period, total_requests, legal_requests, emergency_requests, preservation_requests "
            "from reporting.information_requests_global order by period"
        ).fetchall()
    table = "\n".join(f"| {p} | {t} | {l} | {e} | {s} |" for p, t, l, e, s in totals)
    return MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in counts.items()},
            "totals": MetadataValue.md(
                "| period | total | legal | emergency | preservation |\n|---|---|---|---|---|\n" + table
            ),
        }
    )
