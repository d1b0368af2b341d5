"""Assets that leave the warehouse: the public CSV export, the analysts' report.duckdb, the HTML
pages, each written into the run's own publication folder, and the publication that makes them
public together (`publication.py`)."""

import os
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.assets.dbt import require_requests
from dagster_project.disclosure import Protector, min_count
from dagster_project.export import (
    TIDY_EXPORTS,
    write_datapackage,
    write_every_period,
    write_export,
    write_tidy,
    written_min_count,
)
from dagster_project.html_report import write_reports
from dagster_project.partitions import PERIOD_PATTERN, half_year_partitions, periods_of_window
from dagster_project.publication import REPORT_DB, Publisher
from dagster_project.publish import (
    DEFAULT_DRIFT_THRESHOLD,
    confirm_versions,
    drift,
    input_fingerprint,
    publish_report,
    run_versions,
)
from dagster_project.report_shape import reporting_models, schema_models
from dagster_project.resources import IrrPaths

# The dbt models of the `reporting` schema, as the Dagster assets the publication depends on.
REPORT_MODEL_KEYS = [AssetKey(["reporting", name]) for name in reporting_models()]
# The publication history, kept by dbt (dbt/models/history/).
HISTORY_KEYS = [AssetKey(["history", name]) for name in schema_models("history")]
# The export's rows, built by dbt (exports.information_requests_long).
LONG_EXPORT_KEY = AssetKey(["exports", "information_requests_long"])
PUBLISH_KEY = AssetKey(["reporting", "report_duckdb"])
EXPORT_KEY = AssetKey(["exports", "information_requests_csv"])
HTML_KEY = AssetKey(["exports", "report_html"])
PUBLICATION_KEY = AssetKey(["publication"])


def publisher(paths: IrrPaths) -> Publisher:
    return Publisher(paths.warehouse_path, paths.export_path)


def protection_cache(paths: IrrPaths) -> Path:
    """Where the small-count protection of each period's figures is kept between the export and
    HTML steps, and between runs (the warehouse's own folder: not published)."""
    return paths.warehouse_path / "protection"


def run_periods(context: AssetExecutionContext, con: duckdb.DuckDBPyConnection) -> list[str]:
    """The run's periods that hold requests; a one-period run of an empty period fails."""
    window = context.partition_time_window
    first, last = periods_of_window(window.start, window.end)
    periods = [r[0] for r in con.execute(
        "select distinct period from reporting.information_requests where period between ? and ? order by period",
        [first, last],
    ).fetchall()]
    if first == last and not periods:
        require_requests(con, first)
    return periods


def _drift_gate(con: duckdb.DuckDBPyConnection, periods: list[str]) -> None:
    """Stop before the first public write when the figures drift from the last published ones.

    IRR_DRIFT_THRESHOLD (default 0.3) is the relative move allowed; IRR_ACCEPT_DRIFT=1
    (`irr run --accept-drift`) publishes anyway, after a look at why.
    """
    threshold = float(os.environ.get("IRR_DRIFT_THRESHOLD") or DEFAULT_DRIFT_THRESHOLD)
    moved = drift(con, periods, threshold)
    if moved and os.environ.get("IRR_ACCEPT_DRIFT") != "1":
        raise Failure(
            f"drift gate: {'; '.join(moved)} since the last published version "
            f"(threshold {threshold:.0%}); nothing was published; if this is right, run again with --accept-drift"
        )


@asset(key=EXPORT_KEY, group_name="exports", deps=[*REPORT_MODEL_KEYS, LONG_EXPORT_KEY], kinds={"csv"},
       partitions_def=half_year_partitions, backfill_policy=BackfillPolicy.single_run())
def public_export(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """`exports/<period>/information_requests.csv` (the long format) and the tidy breakdowns
    (`information_requests_by_outcome.csv`) for each half-year of the run (staged)."""
    n = min_count()
    with paths.connect(read_only=True) as con:
        periods = run_periods(context, con)
        _drift_gate(con, periods)
        exports = publisher(paths).stage(context.run.run_id) / "exports"
        # a change of the small-count protection rewrites every published period, not only the run's
        # (or written before the data package said which: rewritten too)
        if written_min_count(exports) != n:
            built = {r[0] for r in con.execute("select distinct period from reporting.information_requests").fetchall()}
            periods = sorted({*periods, *(p.name for p in exports.iterdir()
                                          if p.is_dir() and PERIOD_PATTERN.match(p.name) and p.name in built)})
        protector = Protector(con, n, protection_cache(paths)) if n else None
        written = [write_export(con, exports, period, protector) for period in periods]
        written += [write_tidy(con, exports, period, table, protector) for period in periods for table in TIDY_EXPORTS]
        written.append(write_every_period(exports))
        written.append(write_datapackage(exports, n))
    return MaterializeResult(
        metadata={
            "periods": ", ".join(periods),
            "small_count_protection": f"counts under {n} withheld" if n else "off",
            "files": MetadataValue.md("\n".join(f"- `{p.relative_to(exports)}`" for p in written)),
        }
    )


@asset(key=PUBLISH_KEY, group_name="exports", deps=[*REPORT_MODEL_KEYS, *HISTORY_KEYS, EXPORT_KEY],
       kinds={"duckdb"}, partitions_def=half_year_partitions, backfill_policy=BackfillPolicy.single_run())
def published_report(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """Write `report.duckdb` (staged): the report tables and the publication history, with the
    versions this run's dbt build added for its half-years."""
    run_id = context.run.run_id
    staged = publisher(paths).stage(run_id)
    with paths.connect() as con:
        periods = run_periods(context, con)
        # the drop's fingerprint as this run's dbt build recorded it (hashed once per run);
        # a run that added no version has none recorded: hash the drop then
        recorded = con.execute("select any_value(input_fingerprint) from history.report_versions where run_id = ?",
                               [run_id]).fetchone()[0]
        fingerprint = recorded or input_fingerprint(paths.raw_path, con)
        publications = run_versions(con, periods, run_id)
        counts = publish_report(con, staged / REPORT_DB, run_id)
        restated = con.execute(
            "select period, version, country_code, metric, old_value, new_value "
            "from history.restatements where run_id = ? order by all limit 50",
            [run_id],
        ).fetchall()
    with paths.connect(staged / REPORT_DB, read_only=True) as con:
        totals = con.execute(
            "select period, total_requests, legal_requests, emergency_requests, preservation_requests "
            "from reporting.information_requests_global order by period"
        ).fetchall()
        top = con.execute(
            "select period, country_name, total_requests, legal_requests, emergency_requests, preservation_requests "
            "from reporting.information_requests where period in (select unnest(?::varchar[])) "
            "qualify row_number() over (partition by period order by total_requests desc, country_name) <= 10 "
            "order by period, total_requests desc, country_name",
            [[p.period for p in publications]],
        ).fetchall()
    versions = "\n".join(f"| {p.period} | {p.version} | {'new' if p.changed else 'unchanged'} | {p.restatements} |"
                         for p in publications)
    table = "\n".join(f"| {p} | {t} | {l} | {e} | {s} |" for p, t, l, e, s in totals)
    changes = "\n".join(f"| {p} | {v} | {c} | {m} | {o} | {n} |" for p, v, c, m, o, n in restated)
    restatement_count = sum(p.restatements for p in publications)
    return MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in counts.items()},
            "input_fingerprint": fingerprint,
            "restatements": restatement_count,
            "restated": restatement_count > 0,
            "versions": MetadataValue.md("| period | version | status | restatements |\n|---|---|---|---|\n" + versions),
            "versions_published": ", ".join(f"{p.period} v{p.version}" for p in publications if p.changed) or "none",
            "versions_unchanged": ", ".join(f"{p.period} v{p.version}" for p in publications if not p.changed) or "none",
            "restated_figures": MetadataValue.md(
                "| period | version | country | metric | old | new |\n|---|---|---|---|---|---|\n" + changes
                if changes else "No published figure changed."
            ),
            "top_countries": MetadataValue.md(
                "| period | country | total | legal | emergency | preservation |\n|---|---|---|---|---|---|\n"
                + "\n".join(f"| {p} | {c} | {t} | {l} | {e} | {s} |" for p, c, t, l, e, s in top)
            ),
            "totals": MetadataValue.md(
                "| period | total | legal | emergency | preservation |\n|---|---|---|---|---|\n" + table
            ),
        }
    )


@asset(key=HTML_KEY, group_name="exports", deps=[PUBLISH_KEY], kinds={"html"},
       partitions_def=half_year_partitions, backfill_policy=BackfillPolicy.single_run())
def html_report(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """`exports/<period>/report.html` (offline, charts inlined) for the run's half-years, and
    `exports/index.html`, from the staged `report.duckdb`; a page whose inputs did not change
    since it was made is carried over, not drawn again."""
    staged = publisher(paths).stage(context.run.run_id)
    with paths.connect(staged / REPORT_DB, read_only=True) as con:
        periods = run_periods(context, con)
        pages = write_reports(con, staged / "exports", periods, min_count(), protection_cache(paths))
    return MaterializeResult(
        metadata={
            "pages": MetadataValue.md("\n".join(
                f"- `{p.path.relative_to(staged / 'exports')}` ({p.path.stat().st_size:,} bytes)" for p in pages)
                or "No page changed."),
            # pages of the run's half-years whose figures, setting and code are those they were made from
            "pages_unchanged": len(set(periods) - {p.period for p in pages}),
        }
    )


@asset(key=PUBLICATION_KEY, group_name="exports", deps=[EXPORT_KEY, PUBLISH_KEY, HTML_KEY], kinds={"python"},
       partitions_def=half_year_partitions, backfill_policy=BackfillPolicy.single_run())
def publication(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """Make the run's complete publication current in one switch: `report.duckdb`, every CSV and
    HTML page change together, through `warehouse/current`."""
    run_id = context.run.run_id
    pub = publisher(paths)
    pub.switch(run_id)
    with paths.connect() as con:
        confirm_versions(con, run_id)
    removed = pub.prune()
    return MaterializeResult(
        metadata={
            "publication": run_id,
            "report": str(paths.report_db),
            "exports": str(paths.export_path),
            "index": str(paths.export_path / "index.html"),
            "folders_removed": len(removed),
        }
    )
