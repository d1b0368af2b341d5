"""The `irr` command line: run the report job, generate a drop, prepare the dbt manifest."""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

PERIOD = re.compile(r"^\d{4}-H[12]$")


class RunFailed(Exception):
    """The run did not succeed; the message is the one-line reason."""


def prepare_manifest(force: bool = False) -> None:
    """(Re)build the dbt manifest that the Dagster definitions are made from, if it is stale.

    Processes that run at the same time take turns (a lock file), so none reads a manifest
    that another is writing; the definitions are loaded while the lock is held.
    """
    from dagster_project.dbt_project import DBT_PROJECT_DIR, SEEDS_DIR, dbt_project

    target = DBT_PROJECT_DIR / "target"
    target.mkdir(exist_ok=True)
    with open(target / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            manifest = dbt_project.manifest_path
            sources = [p for folder in (DBT_PROJECT_DIR, SEEDS_DIR) for p in folder.rglob("*")
                       if p.is_file() and target not in p.parents and "logs" not in p.parts]
            newest = max((p.stat().st_mtime for p in sources), default=0.0)
            if force or not manifest.exists() or manifest.stat().st_mtime <= newest:
                dbt_project.preparer.prepare(dbt_project)
            import dagster_project.definitions  # noqa: F401  (reads the manifest)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _absolute_env() -> None:
    """Make the IRR_* folders absolute, so that the dbt subprocess reads the same paths."""
    for name in ("IRR_RAW_DIR", "IRR_WAREHOUSE_DIR", "IRR_EXPORT_DIR"):
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())


def _failure_reason(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            return f"{event.step_key}: {_one_line(error)}"
    return "the run failed"


def _one_line(error) -> str:
    """The most telling line of a (possibly wrapped) step error: a dbt failure or the root cause."""
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    for err in chain:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", err.message)  # dbt colours its output
        lines = [line.strip() for line in plain.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if line.startswith(("Failure in ", "Runtime Error in ", "Compilation Error in ")):
                detail = lines[i + 1] if i + 1 < len(lines) else ""
                return f"dbt: {line} {detail}".strip()
    # the first error that is not Dagster's own wrapper says what went wrong in our words
    told = [err for err in chain if not err.message.startswith("dagster._core.errors.")
            and "Error occurred while executing" not in err.message.splitlines()[0]]
    root = (told[0] if told else chain[-1]).message.strip() if chain else ""
    first = root.splitlines()[0] if root else "unknown error"
    return re.sub(r"^[\w.]+(Error|Exception|Failure): ", "", first)


@contextmanager
def warehouse_lock(warehouse_dir: Path):
    """Hold an exclusive lock on the warehouse for the whole run, or fail at once."""
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    path = warehouse_dir / ".irr-run.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunFailed(
                f"warehouse {warehouse_dir} is locked by another irr run (pid {holder}); "
                "try again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _execute(job, instance, **kwargs):
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        **kwargs,
    )
    if not result.success:
        raise RunFailed(_failure_reason(result))
    return result


def _materialization_metadata(results) -> dict[str, dict]:
    """Asset key -> metadata of every materialisation of the given results, as text."""
    out: dict[str, dict] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            out[mat.asset_key.to_user_string()] = {k: str(v.value) for k, v in mat.metadata.items()}
    return out


def run(period: str | None) -> dict:
    """Load the drop, then build, export and publish one period or every period in it.

    Raises RunFailed with a one-line reason.
    """
    if period is not None and not PERIOD.match(period):
        raise RunFailed(f"--period must look like 2023-H2, not {period!r}")
    _absolute_env()
    from dagster_project.resources import IrrPaths

    paths = IrrPaths()
    if not (paths.raw_path / "requests").is_dir():
        raise RunFailed(f"no raw drop at {paths.raw_path} (expected a requests/ folder; set IRR_RAW_DIR)")
    with warehouse_lock(paths.warehouse_path):
        prepare_manifest()
        import duckdb
        from dagster import DagsterInstance

        from dagster_project.definitions import defs
        from dagster_project.partitions import (
            half_year_partitions,
            partition_key_to_period,
            period_to_partition_key,
        )

        keys = half_year_partitions.get_partition_keys()
        first, last = partition_key_to_period(keys[0]), partition_key_to_period(keys[-1])
        with DagsterInstance.ephemeral() as instance:
            loaded = _execute(defs.resolve_job_def("irr_load"), instance)
            with duckdb.connect(str(paths.warehouse_db), read_only=True) as con:
                found = [r[0] for r in con.execute(
                    "select distinct period from staging.stg_requests__current order by period"
                ).fetchall()]
            wanted = [period] if period else found
            if not wanted:
                raise RunFailed("the drop holds no accepted request (see dq.dq_quarantined_lines)")
            outside = [p for p in wanted if not first <= p <= last]
            if outside:
                raise RunFailed(
                    f"period(s) {', '.join(outside)} outside the half-years this pipeline reports "
                    f"({first} to {last})"
                )
            job = defs.resolve_job_def("irr_periods")
            if len(wanted) == 1:
                result = _execute(job, instance, partition_key=period_to_partition_key(wanted[0]))
            else:
                result = _execute(job, instance, tags={
                    "dagster/asset_partition_range_start": period_to_partition_key(wanted[0]),
                    "dagster/asset_partition_range_end": period_to_partition_key(wanted[-1]),
                })
    return {"paths": paths, "run_id": result.run_id, "periods": wanted,
            "metadata": _materialization_metadata([loaded, result])}


def _print_summary(paths) -> None:
    import duckdb

    with duckdb.connect(str(paths.report_db), read_only=True) as con:
        rows = con.execute(
            "select period, countries, total_requests, legal_requests, emergency_requests, "
            "preservation_requests from reporting.information_requests_global order by period"
        ).fetchall()
    print("period    countries  total  legal  emergency  preservation")
    for p, c, t, l, e, s in rows:
        print(f"{p:<9} {c:>9} {t:>6} {l:>6} {e:>10} {s:>13}")
    print(f"report:  {paths.report_db}")
    print(f"exports: {paths.export_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="irr", description="Information Requests Report pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="materialise the report for every period in the drop, or one")
    run_p.add_argument("--period", help="one half-year, e.g. 2023-H2")
    gen_p = sub.add_parser("generate", help="write a deterministic synthetic raw drop")
    gen_p.add_argument("out", type=Path)
    gen_p.add_argument("--requests", type=int, default=1000)
    gen_p.add_argument("--seed", type=int, default=1)
    gen_p.add_argument("--start", default="2023-01-01", help="first day covered (a 1 Jan or 1 Jul)")
    gen_p.add_argument("--halves", type=int, default=4, help="number of half-years covered")
    sub.add_parser("prepare", help="build the dbt manifest the Dagster definitions load")
    args = parser.parse_args(argv)

    try:
        if args.command == "run":
            outcome = run(args.period)
            _print_summary(outcome["paths"])
        elif args.command == "generate":
            from dagster_project.generate import write_drop

            counts = write_drop(args.out, args.requests, args.seed, args.start, args.halves)
            print(", ".join(f"{k}: {v}" for k, v in counts.items()))
        elif args.command == "prepare":
            prepare_manifest(force=True)
    except RunFailed as exc:
        print(f"irr: run failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI promises a one-line reason
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"irr: {args.command} failed: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
