"""Assets that load the raw drop into the warehouse's `raw` schema (the dbt sources)."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from dagster_project.assets.dbt import FULL_REFRESH_TAG
from dagster_project.raw_drop import load_directory_table, load_request_lines
from dagster_project.resources import IrrPaths


@multi_asset(
    name="raw__request_lines",
    specs=[
        AssetSpec(["raw", "request_lines"], group_name="raw", kinds={"duckdb"},
                  description="Every line of `requests/*.jsonl[.gz]`, with file name and line number, as text."),
        AssetSpec(["raw", "request_files"], group_name="raw", kinds={"duckdb"},
                  description="Each entry of `requests/` whose lines are loaded: its place in the name "
                              "order and the sha256 of its bytes."),
    ],
)
def raw_request_lines(context: AssetExecutionContext, paths: IrrPaths) -> Iterator[MaterializeResult]:
    """Every line of `requests/*.jsonl[.gz]`, and which files they came from. A file loaded
    before with the same bytes is not read again (`--full-refresh` reads every file)."""
    full = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    with paths.connect() as con:
        per_file = load_request_lines(con, paths.raw_path, full=full)
    table = "\n".join(f"| {name} | {lines} | {'read' if read else 'unchanged'} |"
                      for name, (lines, read) in per_file.items())
    yield MaterializeResult(
        asset_key=["raw", "request_lines"],
        metadata={
            "files": len(per_file),
            "files_unchanged": sum(not read for _, read in per_file.values()),
            "lines": sum(lines for lines, _ in per_file.values()),
            "lines_per_file": MetadataValue.md("| file | lines | this run |\n|---|---|---|\n" + table),
        }
    )
    yield MaterializeResult(asset_key=["raw", "request_files"], metadata={"files": len(per_file)})


def _directory_asset(table: str, description: str):
    @asset(
        key_prefix="raw", name=table, group_name="raw", kinds={"duckdb"},
        description=description,
    )
    def _load(context: AssetExecutionContext, paths: IrrPaths) -> MaterializeResult:
        checked: list[str] = []
        with paths.connect() as con:
            rows = load_directory_table(con, paths.raw_path, table,
                                        full=context.run.tags.get(FULL_REFRESH_TAG) == "true", checked=checked)
        return MaterializeResult(metadata={"rows": rows, "ids_checked_before": bool(checked)})

    return _load


raw_account_identifiers = _directory_asset(
    "account_identifiers", "Identity directory: canonical emails, phones and usernames per account, with validity."
)
raw_videos = _directory_asset("videos", "Identity directory: the owner of each video.")
raw_short_links = _directory_asset("short_links", "Identity directory: what each short-link code points to.")
