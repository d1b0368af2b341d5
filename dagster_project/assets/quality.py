"""The run's data-quality account as asset metadata in the Dagster UI (counts only, no identifiers)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.resources import IrrPaths


@asset(key=AssetKey(["dq", "data_quality_account"]), group_name="dq", deps=[AssetKey(["dq", "dq_run_summary"])],
       kinds={"duckdb"})
def data_quality_account(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
    """Lines read, accepted and quarantined (the whole drop), requests by state, identifiers by kind
    and why invalid (the run's half-years: every one but in a run of one period or a range)."""
    with paths.connect(read_only=True) as con:
        rows = con.execute("select section, item, value from dq.dq_run_summary order by section, item").fetchall()
        first, last = con.execute("select period_from, period_to from intermediate.int_run_scope").fetchone()
    sections: dict[str, list[tuple[str, int]]] = {}
    for section, item, value in rows:
        sections.setdefault(section, []).append((item, value))
    lines = dict(sections.get("lines", []))
    requests = dict(sections.get("requests", []))
    markdown = "\n\n".join(
        f"**{section}**\n\n| item | count |\n|---|---|\n" + "\n".join(f"| {item} | {value} |" for item, value in items)
        for section, items in sections.items()
    )
    return MaterializeResult(
        metadata={
            "lines_read": lines.get("read", 0),
            "lines_accepted": lines.get("accepted", 0),
            "lines_quarantined": lines.get("quarantined", 0),
            "lines_balance": lines.get("read", 0) == lines.get("accepted", 0) + lines.get("quarantined", 0),
            "requests": requests.get("current", 0),
            # lines are those of the whole drop; requests and identifiers those of these half-years
            "periods": "every period" if (first, last) == ("0000-H1", "9999-H2")
            else first if first == last else f"{first} to {last}",
            "requests_without_valid_identifier": requests.get("with no valid identifier", 0),
            "account": MetadataValue.md(markdown),
        }
    )
