"""The asset step that loads the raw drop into the warehouse's `raw` schema (the dbt sources)."""

import threading
from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from dagster_project.assets.dbt import FULL_REFRESH_TAG
from dagster_project.raw_drop import Hashed, load_directory_table, load_request_lines, record_hashed
from dagster_project.resources import IrrPaths, vacuum_if_due

REQUEST_KEYS = (AssetKey(["raw", "request_lines"]), AssetKey(["raw", "request_files"]))
# the directory's tables, in the order they are loaded and reported
DIRECTORY = {
    "account_identifiers": "Identity directory: canonical emails, phones and usernames per account, with validity.",
    "short_links": "Identity directory: what each short-link code points to.",
    "videos": "Identity directory: the owner of each video.",
}


@multi_asset(
    name="raw__drop",
    specs=[
        AssetSpec(REQUEST_KEYS[0], group_name="raw", kinds={"duckdb"},
                  description="Every line of `requests/*.jsonl[.gz]`, with file name and line number, as text."),
        AssetSpec(REQUEST_KEYS[1], group_name="raw", kinds={"duckdb"},
                  description="Each entry of `requests/` whose lines are loaded: its place in the name "
                              "order and the sha256 of its bytes."),
        *(AssetSpec(["raw", table], group_name="raw", kinds={"duckdb"}, description=description)
          for table, description in DIRECTORY.items()),
    ],
    can_subset=True,
)
def raw_drop(context: AssetExecutionContext, paths: IrrPaths) -> Iterator[MaterializeResult]:
    """The drop's request lines and directory tables, loaded side by side: the directory's checks
    (DuckDB, on both cores at 10^7 rows and more) run on a second thread while this one reads the
    request files (Python, one core), each on its own connection and in its own transactions.

    A request file loaded before with the same bytes is not read again, nor are Parquet parts
    whose ids passed the check before (`--full-refresh` reads everything). When one side fails,
    the other is stopped if it is still running (a load of request files rolls back; a directory
    scan is interrupted), and the directory's error is the one reported when it came first, as
    when the directory was loaded first.
    """
    full = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    selected = context.selected_asset_keys
    tables = [table for table in DIRECTORY if AssetKey(["raw", table]) in selected]
    with paths.connect() as con, paths.connect() as directory_con:
        # both sides create tables in it: made first, or their transactions would both create it
        con.execute("create schema if not exists raw")
        vacuum_if_due(con)
        loaded: dict[str, tuple[int, bool]] = {}
        failed: list[BaseException] = []
        # `finished`, not the thread's own state: a Thread.join() that a signal interrupts can
        # leave is_alive() false while the thread still runs (CPython 3.11)
        stop, finished = threading.Event(), threading.Event()
        # the files each side hashed, kept for the drop's fingerprint (publish.input_fingerprint)
        hashed_requests: Hashed = {}
        hashed_directory: Hashed = {}

        def load_directory() -> None:
            try:
                for table in tables:
                    if stop.is_set():
                        return
                    checked: list[str] = []
                    rows = load_directory_table(directory_con, paths.raw_path, table, full=full, checked=checked,
                                                hashed=hashed_directory)
                    loaded[table] = (rows, bool(checked))
            except BaseException as exc:  # noqa: BLE001 - handed to the step's thread, which raises it
                failed.append(exc)
                stop.set()
            finally:
                finished.set()

        threading.Thread(target=load_directory, name="irr-directory", daemon=True).start()
        try:
            per_file = (load_request_lines(con, paths.raw_path, full=full, stop=stop.is_set, hashed=hashed_requests)
                        if any(key in selected for key in REQUEST_KEYS) else None)
            finished.wait()
        except BaseException:  # the request files failed, or the run was interrupted
            first = failed[:1]  # the directory failed first: its error, not the stop it caused
            stop.set()
            # its connection is not closed under it: interrupted (a scan between two queries at
            # the next) until the thread has ended, whatever interrupt comes meanwhile (the CLI
            # repeats SIGINT until the run ends; Dagster raises it as its own BaseException)
            while not finished.is_set():
                try:
                    directory_con.interrupt()
                    finished.wait(0.05)
                except BaseException:  # noqa: BLE001 - the first error is raised below
                    continue
            if first:
                raise first[0] from None
            raise
        if failed:
            raise failed[0]
        record_hashed(con, paths.raw_path, {**hashed_requests, **hashed_directory})
    for table in tables:
        rows, checked_before = loaded[table]
        yield MaterializeResult(asset_key=["raw", table], metadata={"rows": rows, "ids_checked_before": checked_before})
    if per_file is None:
        return
    listing = "\n".join(f"| {name} | {lines} | {'read' if read else 'unchanged'} |"
                        for name, (lines, read) in per_file.items())
    metadata = {
        "files": len(per_file),
        "files_unchanged": sum(not read for _, read in per_file.values()),
        "lines": sum(lines for lines, _ in per_file.values()),
        "lines_per_file": MetadataValue.md("| file | lines | this run |\n|---|---|---|\n" + listing),
    }
    for key, meta in zip(REQUEST_KEYS, (metadata, {"files": len(per_file)})):
        if key in selected:
            yield MaterializeResult(asset_key=key, metadata=meta)
