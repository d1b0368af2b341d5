"""Draw the scaling curve of `benchmarks/results.csv` (the README's chart).

    python benchmarks/plot_results.py [--results benchmarks/results.csv] [--out docs/benchmark.svg]

Two panels against the drop's size (requests; each point of the last series is labelled with
its directory rows): wall time of a whole `irr run`, and its peak memory. One line per `series`
(run_benchmark.py --series), the last one in the file drawn in colour.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        # whole runs only: a run of one period after them (label "..., then --period P") is in the
        # file and the README's table, not on the curve
        return [row for row in csv.DictReader(handle)
                if row.get("requests", "").isdigit() and "then --period" not in row.get("label", "")]


def _short(n: int) -> str:
    for size, unit in ((10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:g}{unit}"
    return str(n)


def plot(rows: list[dict], out: Path) -> None:
    series = list(dict.fromkeys(r["series"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4 + 0.18 * len(series)))
    for axis, column, title in ((left, "wall_s", "irr run, wall time (s)"),
                                (right, "peak_rss_mb", "irr run, peak memory (MB)")):
        for n, name in enumerate(series):
            # a drop measured more than once in a series: the mean of its runs
            runs: dict[int, list[dict]] = {}
            for r in rows:
                if r["series"] == name:
                    runs.setdefault(int(r["requests"]), []).append(r)
            xs = sorted(runs)
            points = [runs[x][0] for x in xs]
            ys = [sum(float(r[column]) for r in runs[x]) / len(runs[x]) for x in xs]
            current = n == len(series) - 1
            axis.plot(xs, ys, marker="o", color="#1f4e79" if current else "#aaaaaa", label=name, zorder=3 - n)
            if current:
                for x, y, r in zip(xs, ys, points):
                    axis.annotate(f"{_short(int(r['directory_rows']))} dir. rows", (x, y),
                                  textcoords="offset points", xytext=(4, 6), fontsize=8)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("requests in the drop (log)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
    # the series' names under both charts, where they hide no point
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=1, frameon=False)
    fig.tight_layout(rect=(0, 0.3, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Date": None})
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results.csv")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmark.svg")
    args = parser.parse_args()
    plot(_rows(args.results), args.out)


if __name__ == "__main__":
    main()
