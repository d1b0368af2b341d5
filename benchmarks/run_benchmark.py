"""Benchmark: generate a drop of N requests and time a whole `irr run` process (wall time, peak
RSS), with the time of each step as `irr run` reports it (load, dbt models, report marts, export,
versions, html, publication).

    python benchmarks/run_benchmark.py --requests 100000 --seed 1 [--results benchmarks/results.csv]

`--results` appends one row per run to a CSV (the figures the README quotes come from there).
Large drops (millions of requests, a padded directory) come from `benchmarks/tile_drop.py`;
time them with `--raw`.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# `irr run`'s step lines: two spaces, the label (14 wide), the detail, the seconds
STEP = re.compile(r"^  (\S.{0,13}?)\s{2,}.*?\s(\d+\.\d) s$")


def steps(stdout: str) -> dict[str, float]:
    """Seconds per step of an `irr run`, summed over lines with the same label."""
    found: dict[str, float] = {}
    for line in stdout.splitlines():
        match = STEP.match(line)
        if match:
            label = match.group(1).strip()
            found[label] = found.get(label, 0.0) + float(match.group(2))
    return found


RESULT_COLUMNS = ["series", "label", "requests", "directory_rows", "drop_mb", "wall_s", "peak_rss_mb", "commit",
                  "steps"]
# what `irr run` says it read: "... 5,988 requests" (data quality), "account identifiers: 9,449 rows"
REQUESTS = re.compile(r"^  data quality .*?([\d,]+) requests", re.M)
DIRECTORY_ROWS = re.compile(r"^  directory +account identifiers: ([\d,]+) rows", re.M)


def sizes(stdout: str) -> tuple[int, int]:
    """The requests counted and the account_identifiers rows read, as `irr run` printed them."""
    found = [pattern.search(stdout) for pattern in (REQUESTS, DIRECTORY_ROWS)]
    return tuple(int(m.group(1).replace(",", "")) if m else 0 for m in found)


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent)
    return result.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--halves", type=int, default=4, help="half-years the generated drop covers")
    parser.add_argument("--raw", type=Path, help="use this drop instead of generating one")
    parser.add_argument("--results", type=Path, help="append the figures to this CSV")
    parser.add_argument("--label", help="the drop's name in the results (default: its request count or path)")
    parser.add_argument("--series", default="current", help="the results' line in the chart (plot_results.py)")
    parser.add_argument("--period", action="append", default=[],
                        help="after the full run, also time `irr run --period P` (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raw = args.raw
        if raw is None:
            raw = root / "raw"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dagster_project.cli", "generate", str(raw),
                            "--requests", str(args.requests), "--seed", str(args.seed),
                            "--halves", str(args.halves)], check=True)
            print(f"generate: {time.perf_counter() - started:.1f} s")
        size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
        env = {**os.environ, "IRR_RAW_DIR": str(raw), "IRR_WAREHOUSE_DIR": str(root / "wh"),
               "IRR_EXPORT_DIR": str(root / "ex")}
        label = args.label or (args.requests if args.raw is None else str(args.raw))
        print(f"drop: {size / 1e6:.1f} MB on disk")
        _timed_run([], "irr run (every period)", env, args, label, size)
        for period in args.period:
            _timed_run(["--period", period], f"irr run --period {period}", env, args, f"{label}, then --period {period}",
                       size)


def _timed_run(extra: list[str], title: str, env: dict[str, str], args, label: str, size: int) -> None:
    """Run `irr run` with `extra`, print its output and its steps, and append them to the results."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "run", *extra], env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    # the largest child so far: a later run's own peak only if it is the larger
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(result.stdout)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        sys.exit(result.returncode)
    print(f"{title}: {wall:.1f} s wall, peak RSS of the largest child process so far {peak_mb:.0f} MB")
    timed = steps(result.stdout)
    print("| step | seconds |\n|---|---:|")
    for step, seconds in timed.items():
        print(f"| {step} | {seconds:.1f} |")
    print(f"| not in a step (start, imports, Dagster) | {wall - sum(timed.values()):.1f} |")
    if args.results:
        new = not args.results.exists()
        with args.results.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(RESULT_COLUMNS)
            writer.writerow([args.series, label, *sizes(result.stdout), f"{size / 1e6:.1f}", f"{wall:.1f}",
                             f"{peak_mb:.0f}", _commit(), "; ".join(f"{step} {seconds:.1f}" for step, seconds in timed.items())])

if __name__ == "__main__":
    main()
