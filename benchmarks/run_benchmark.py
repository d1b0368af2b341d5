"""Benchmark: generate a drop of N requests and time a whole `irr run` process (wall time, peak RSS).

    python benchmarks/run_benchmark.py --requests 100000 --seed 1
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--halves", type=int, default=4, help="half-years the generated drop covers")
    parser.add_argument("--raw", type=Path, help="use this drop instead of generating one")
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
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "run"], env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(result.stdout)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            sys.exit(result.returncode)
        print(f"drop: {size / 1e6:.1f} MB on disk")
        print(f"irr run (every period): {wall:.1f} s wall, peak RSS of the largest child process {peak_mb:.0f} MB")
        for period in args.period:
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "dagster_project.cli", "run", "--period", period],
                                    env=env, capture_output=True, text=True)
            if result.returncode != 0:
                print(result.stderr[-3000:], file=sys.stderr)
                sys.exit(result.returncode)
            print(f"irr run --period {period}: {time.perf_counter() - started:.1f} s wall")


if __name__ == "__main__":
    main()
