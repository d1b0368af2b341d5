"""Small-count protection of the public outputs (CONTRACT 3.2, IRR_PUBLIC_MIN_COUNT), and the
bundled sample it runs on.

The end-to-end tests read the published files as a reader would and solve, with their own
linear algebra (numpy, not the pipeline's elimination), for every withheld cell from the
published ones: none may be determined.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dagster_project.disclosure import (COMPLEMENT, SMALL, build_system, derivations, determined, known_exactly, min_count,
                                        pinned, suppress)
from dagster_project.resources import SAMPLE_RAW_DIR
from drops import run_in_process

N = 10
PERIODS = ("2023-H1", "2023-H2", "2024-H1", "2024-H2")
TYPES = ("legal", "emergency", "preservation")
# CONTRACT 3.2's per-country metrics, by what they count
COUNTS = {"Total requests": "total", "Legal requests": "legal", "Emergency requests": "emergency",
          "Preservation requests": "preservation", "Legal request accounts specified": "legal accounts",
          "Emergency request accounts specified": "emergency accounts",
          "Preservation request accounts specified": "preservation accounts"}
RATES = {"Percentage of legal requests where some data was disclosed": "legal",
         "Percentage of emergency requests where some data was disclosed": "emergency"}
GLOBALS = {"Total legal requests": "legal", "Total emergency requests": "emergency",
           "Total preservation requests": "preservation"}


# --- the setting -------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("0", None), ("00", None), ("3", 3), ("010", 10), ("10", 10), (" 5 ", 5)])
def test_min_count_setting(raw, expected):
    assert min_count({} if raw is None else {"IRR_PUBLIC_MIN_COUNT": raw}) == expected


@pytest.mark.parametrize("raw", ["ten", "2.5", "-3", "1", "2", "1_0", "\uff11\uff10"])
def test_min_count_setting_refuses_what_is_not_a_count(raw):
    with pytest.raises(ValueError, match="IRR_PUBLIC_MIN_COUNT"):
        min_count({"IRR_PUBLIC_MIN_COUNT": raw})


# --- the algebra ---------------------------------------------------------------------------------

def _null_space_pins(matrix: np.ndarray) -> np.ndarray:
    """For each column (unknown) of A x = b: True when every solution has the same value there."""
    if matrix.size == 0:
        return np.zeros(matrix.shape[1], dtype=bool)
    _, sing, vh = np.linalg.svd(matrix, full_matrices=True)
    rank = int((sing > 1e-9 * max(1.0, sing.max(initial=0))).sum())
    null = vh[rank:]
    return np.abs(null).max(axis=0, initial=0) < 1e-9 if len(null) else np.ones(matrix.shape[1], dtype=bool)


def _pinned(unknown: list, sums: list[dict]) -> set:
    index = {k: i for i, k in enumerate(unknown)}
    rows = [[0.0] * len(unknown) for _ in sums]
    for r, terms in enumerate(sums):
        for key, coef in terms.items():
            if key in index:
                rows[r][index[key]] += coef
    matrix = np.array([r for r in rows if any(r)], dtype=float).reshape(-1, len(unknown))
    return {unknown[i] for i, pinned in enumerate(_null_space_pins(matrix)) if pinned}


@pytest.mark.parametrize(("sums", "unknown", "expected"), [
    ([{"a": 1, "b": 1, "t": -1}], {"a", "b"}, set()),                       # a + b = t: neither
    ([{"a": 1, "t": -1}], {"a"}, {"a"}),                                   # a = t
    ([{"a": 1, "b": 1}, {"b": 1, "c": 1}, {"a": 1, "c": 1}], {"a", "b", "c"}, {"a", "b", "c"}),  # a triangle
    ([{"a": 1, "b": 1, "t": -1}, {"a": 1, "b": 1, "u": -1}], {"a", "b"}, set()),  # the same pair twice
    ([{"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 1}], {"a", "b", "c"}, {"c"}),  # c = difference of two sums
])
def test_determined_cells(sums, unknown, expected):
    assert determined(unknown, sums) == expected
    assert _pinned(sorted(unknown), sums) == expected  # the test's own solver agrees


def test_derivations_name_the_published_cells_a_reader_adds_up():
    # a + b = t and b = u: b is u, and a is t - u
    sums = [{"a": 1, "b": 1, "t": -1}, {"b": 1, "u": -1}]
    assert derivations({"a", "b"}, sums) == {"a": {"t", "u"}, "b": {"u"}}
    assert derivations({"a", "b", "u"}, sums) == {}


def _table_system(rng: random.Random, rows: int, cols: int, layers: int):
    """A random three-way table with every margin (layer, row, column sums and the totals)."""
    values, sums = {}, []
    for l in range(layers):
        for r in range(rows):
            for c in range(cols):
                values[("cell", l, r, c)] = rng.choice([0, 0, 1, 2, 3, 5, 8, 12, 20, 40, 90])
    for l in range(layers):
        for r in range(rows):
            values[("row", l, r)] = sum(values[("cell", l, r, c)] for c in range(cols))
            sums.append({("row", l, r): 1, **{("cell", l, r, c): -1 for c in range(cols)}})
        for c in range(cols):
            values[("col", l, c)] = sum(values[("cell", l, r, c)] for r in range(rows))
            sums.append({("col", l, c): 1, **{("cell", l, r, c): -1 for r in range(rows)}})
        values[("layer", l)] = sum(values[("row", l, r)] for r in range(rows))
        sums.append({("layer", l): 1, **{("row", l, r): -1 for r in range(rows)}})
        sums.append({("layer", l): 1, **{("col", l, c): -1 for c in range(cols)}})
    for r in range(rows):
        values[("allrow", r)] = sum(values[("row", l, r)] for l in range(layers))
        sums.append({("allrow", r): 1, **{("row", l, r): -1 for l in range(layers)}})
    values[("all",)] = sum(values[("layer", l)] for l in range(layers))
    sums.append({("all",): 1, **{("layer", l): -1 for l in range(layers)}})
    return values, sums


@pytest.mark.parametrize("seed", range(12))
def test_suppression_leaves_no_small_count_determined(seed):
    rng = random.Random(seed)  # fixed seeds: the same tables every run
    values, sums = _table_system(rng, rng.randint(2, 6), rng.randint(2, 5), rng.randint(1, 3))
    for terms in sums:
        assert sum(c * values[k] for k, c in terms.items()) == 0
    n = rng.choice([3, 5, 10])
    withheld = suppress(values, sums, n)
    assert {k for k, v in values.items() if 1 <= v < n} == {k for k, why in withheld.items() if why == SMALL}
    assert _pinned(sorted(withheld), sums) == set()


# --- what the labels give away: `<N` is 1 to N-1, `x` is 0 or N and more ----------------------

def _parts(total: int, parts: list[int]) -> tuple[dict, list]:
    values = {("total",): total, **{("part", i): v for i, v in enumerate(parts)}}
    return values, [{("total",): 1, **{("part", i): -1 for i in range(len(parts))}}]


def test_a_small_total_of_as_many_small_parts_as_it_can_hold_is_pinned():
    # 9 = nine parts, each `<10` so at least 1, the total `<10` so at most 9: every one is 1
    values, sums = _parts(9, [1] * 9)
    everything = {k: SMALL for k in values}
    assert pinned(values, everything, 10, sums) == set(values)
    # with eight parts a part may be 2 (and the total 9): nothing is pinned
    values, sums = _parts(8, [1] * 8)
    assert pinned(values, {k: SMALL for k in values}, 10, sums) == set()


def test_a_withheld_cell_beside_a_small_one_is_at_least_n():
    # published 11 = x + `<10`: x cannot be 0 (the small part is at most 9), so x >= 10 and the
    # small part is 1
    values, sums = _parts(11, [10, 1])
    withheld = {("part", 0): COMPLEMENT, ("part", 1): SMALL}
    assert pinned(values, withheld, 10, sums) == {("part", 1)}
    # 25 = x + `<10`: x from 16 to 24
    values, sums = _parts(25, [20, 5])
    assert pinned(values, withheld, 10, sums) == set()


def test_suppression_withholds_more_when_the_labels_pin_a_small_count():
    values, sums = _parts(11, [10, 1])
    exposed: set = set()
    withheld = suppress(values, sums, 10, floors={}, orders=[], exposed=exposed)
    # the complement 10 alone leaves the small part pinned (above): the total goes too
    assert withheld == {("part", 1): SMALL, ("part", 0): COMPLEMENT, ("total",): COMPLEMENT}
    assert pinned(values, withheld, 10, sums) == set() and exposed == set()


def test_a_withheld_zero_under_a_small_total_is_known_to_be_zero():
    # P = a + z, P and a are `<10`, z is `x` (0, or 10 and more): z can only be 0; a and P move
    values = {("P",): 4, ("a",): 4, ("z",): 0}
    withheld = {("P",): SMALL, ("a",): SMALL, ("z",): COMPLEMENT}
    sums = [{("P",): 1, ("a",): -1, ("z",): -1}]
    assert known_exactly(values, withheld, 10, sums, {}, [], set(withheld)) == {("z",)}


def test_a_small_count_that_nothing_can_protect_is_said():
    values, sums = _parts(9, [1] * 9)
    exposed: set = set()
    suppress(values, sums, 10, floors={}, orders=[], exposed=exposed)
    assert exposed == set(values)


# --- the published files of the bundled sample ------------------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The sample run without protection, then one period again with IRR_PUBLIC_MIN_COUNT=10:
    turning the protection on rewrites every published period, not only the run's."""
    root = tmp_path_factory.mktemp("disclosure")
    run_in_process(SAMPLE_RAW_DIR, root)
    before = (root / "exports" / "2023-H1" / "information_requests.csv").read_text()
    os.environ["IRR_PUBLIC_MIN_COUNT"] = str(N)
    try:
        run_in_process(SAMPLE_RAW_DIR, root, period="2024-H1")
    finally:
        os.environ.pop("IRR_PUBLIC_MIN_COUNT")
    return root, before


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _value(cell: str):
    """A published cell: a number, or None when withheld (`<N` or `x`)."""
    if cell == f"<{N}" or cell == "x":
        return None
    return float(cell)


class Reader:
    """What a reader can set up from one period's three CSVs: cells (known or withheld) and the
    equations that tie them, written here from the contract and the tables' descriptions."""

    def __init__(self, folder: Path, reveal: dict | None = None):
        self.known: dict[tuple, float] = {}
        self.unknown: set[tuple] = set()
        self.sums: list[dict[tuple, float]] = []
        reveal = reveal or {}

        self.shown: dict[tuple, str] = {}

        def cell(key: tuple, text: str) -> tuple:
            self.shown[key] = text
            value = _value(text) if key not in reveal else reveal[key]
            if value is None:
                self.unknown.add(key)
            else:
                self.known[key] = value
            return key

        rates = {}
        for row in _read(folder / "information_requests.csv"):
            place, metric = row["location_value"], row["metric_name"]
            if metric in COUNTS:
                cell(("c", place, COUNTS[metric]), row["result"])
            elif metric in GLOBALS:
                cell(("g", GLOBALS[metric]), row["result"])
            elif metric in RATES:
                rates[(place, RATES[metric])] = _value(row["result"])
        self.countries = sorted({k[1] for k in self.known | dict.fromkeys(self.unknown) if k[0] == "c"})
        outcomes: dict[tuple, list[str]] = {}
        for row in _read(folder / "information_requests_by_outcome.csv"):
            place, t, o = row["country_name"], row["request_type"], row["outcome"]
            outcomes.setdefault((place, t), []).append(o)
            cell(("o", place, t, o, "requests"), row["requests"])
            cell(("o", place, t, o, "accounts"), row["accounts_specified"])
            share = _value(row["share_of_requests"])
            if share is not None:  # requests = share x the type's requests
                self.sums.append({("o", place, t, o, "requests"): 1, ("c", place, t): -share})
            final = _value(row["share_of_final_requests"]) if row["share_of_final_requests"] else None
            if final is not None and o != "pending":  # requests = share x (the type's requests - pending)
                self.sums.append({("o", place, t, o, "requests"): 1, ("c", place, t): -final,
                                  ("o", place, t, "pending", "requests"): final})
        agencies: dict[tuple, list[str]] = {}
        totals = set()
        for row in _read(folder / "information_requests_by_agency.csv"):
            place, a, t = row["country_name"], row["agency"], row["request_type"]
            agencies.setdefault((place, t), []).append(a)
            cell(("a", place, a, t, "requests"), row["requests"])
            cell(("a", place, a, t, "disclosed"), row["requests_disclosed"])
            if (place, a) not in totals:
                totals.add((place, a))
                cell(("at", place, a), row["agency_requests"])
        for place in self.countries:
            self._sum(("c", place, "total"), [("c", place, t) for t in TYPES])
            for t in TYPES:
                found = outcomes.get((place, t), [])
                if found:
                    self._sum(("c", place, t), [("o", place, t, o, "requests") for o in found])
                    self._sum(("c", place, f"{t} accounts"), [("o", place, t, o, "accounts") for o in found])
                if agencies.get((place, t)):
                    self._sum(("c", place, t), [("a", place, a, t, "requests") for a in agencies[(place, t)]])
                    if found:
                        self._sum(("o", place, t, "disclosed", "requests"),
                                  [("a", place, a, t, "disclosed") for a in agencies[(place, t)]])
                rate = rates.get((place, t))
                if rate is not None and found:  # disclosed = rate x the type's requests
                    self.sums.append({("o", place, t, "disclosed", "requests"): 1, ("c", place, t): -rate})
        for place, a in totals:
            self._sum(("at", place, a), [("a", place, a, t, "requests") for t in TYPES
                                         if ("a", place, a, t, "requests") in self.known or ("a", place, a, t, "requests") in self.unknown])
        for t in TYPES:
            self._sum(("g", t), [("c", place, t) for place in self.countries])

    def _sum(self, total: tuple, parts: list[tuple]) -> None:
        terms = {total: 1.0}
        for part in parts:
            terms[part] = terms.get(part, 0.0) - 1.0
        self.sums.append(terms)

    def determined(self) -> set:
        return _pinned(sorted(self.unknown), self.sums)

    def pinned_by_labels(self, n: int) -> set:
        """The withheld cells this reader works out exactly with the labels' ranges too: `<n` is 1 to
        n-1; `x` is 0, or n and more; an agency row counts at least 1 request, a named agency
        (the others are pooled) n and more; an agency discloses at most what it was asked.
        An integer program (scipy's milp) per group of linked withheld cells: solutions that move
        the cells show most free; each one left gets its least and greatest value."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        labels = {k: "x" for k in self.unknown}
        small = {k for k in self.unknown if self.shown[k] == f"<{n}"}
        floors = {k: (n if k[0] == "at" and not k[2].startswith("Other agencies") else 1)
                  for k in self.unknown if k[0] == "at" or (k[0] == "a" and k[4] == "requests")}
        rows = [(terms, 0.0, 0.0) for terms in self.sums if all(float(c).is_integer() for c in terms.values())]
        rows += [({("a", *k[1:4], "requests"): 1, k: -1}, 0.0, np.inf) for k in self.unknown
                  if k[0] == "a" and k[4] == "disclosed"]
        top = 2 * max(self.known.values(), default=n)
        groups: dict[tuple, set] = {k: {k} for k in labels}
        for terms, _, _ in rows:
            linked = [k for k in terms if k in labels]
            for other in linked[1:]:
                if groups[other] is not groups[linked[0]]:
                    merged = groups[linked[0]] | groups[other]
                    for k in merged:
                        groups[k] = merged
        found = set()
        for group in {id(g): g for g in groups.values()}.values():
            cells = sorted(group)
            targets = cells
            index = {k: i for i, k in enumerate(cells)}
            switches = [k for k in cells if k not in small]
            width = len(cells) + len(switches)
            matrix, low, high = [], [], []
            for terms, lo, hi in rows:
                inside = {index[k]: c for k, c in terms.items() if k in index}
                if inside:
                    rest = sum(c * self.known[k] for k, c in terms.items() if k not in index)
                    line = np.zeros(width)
                    for i, c in inside.items():
                        line[i] += c
                    matrix.append(line); low.append(lo - rest); high.append(hi - rest)
            lower, upper = np.zeros(width), np.ones(width)
            for k, i in index.items():
                lower[i], upper[i] = (1, n - 1) if k in small else (floors.get(k, 0), top)
            for s, k in enumerate(switches, start=len(cells)):
                for coef, lo, hi in ((n, 0, np.inf), (top, -np.inf, 0)):  # on: n or more; off: 0
                    line = np.zeros(width)
                    line[index[k]], line[s] = 1, -coef
                    matrix.append(line); low.append(lo); high.append(hi)
                lower[s] = 1 if floors.get(k) else 0
            if not matrix:
                continue
            problem = dict(constraints=LinearConstraint(np.array(matrix), low, high), integrality=np.ones(width),
                           bounds=Bounds(lower, upper))
            seen: dict[tuple, set] = {k: set() for k in targets}

            def solve(objective: dict) -> None:
                c = np.zeros(width)
                for k, sign in objective.items():
                    c[index[k]] = sign
                result = milp(c, **problem)
                assert result.success, f"the reader's program has no solution: {result.message}"
                for k in targets:
                    seen[k].add(round(result.x[index[k]]))

            for sign in (1, -1):
                solve({k: sign for k in targets})
            for k in targets:
                for sign in (1, -1):
                    if len(seen[k]) < 2:
                        solve({k: sign})
            found.update(k for k in targets if len(seen[k]) < 2)
        return found

    def check_consistent(self) -> None:
        """Every equation the reader wrote holds on the published figures where all are known."""
        for terms in self.sums:
            if all(k in self.known for k in terms):
                assert abs(sum(c * self.known[k] for k, c in terms.items())) < 1e-6, terms


@pytest.mark.parametrize("period", PERIODS)
def test_no_withheld_cell_can_be_worked_out_from_the_published_files(published, period):
    root, _ = published
    reader = Reader(root / "exports" / period)
    reader.check_consistent()
    assert reader.unknown, "the sample has small counts: something must be withheld"
    assert reader.determined() == set()


@pytest.mark.parametrize("period", PERIODS)
def test_no_withheld_cell_can_be_worked_out_with_what_the_labels_say(published, period):
    """A reader who also uses the labels' ranges (an integer program) pins no withheld cell."""
    root, _ = published
    reader = Reader(root / "exports" / period)
    exact = _exact(root, period)
    assert all(exact[k] == v for k, v in reader.known.items() if k in exact)
    assert reader.pinned_by_labels(N) == set()


def _agency_reader(agencies: int) -> Reader:
    """A country whose legal requests (`<10`) came from `agencies` agencies, each `<10`."""
    reader = Reader.__new__(Reader)
    reader.known, reader.shown = {}, {}
    legal = ("c", "V", "legal")
    rows = [("a", "V", f"agency {i}", "legal", "requests") for i in range(agencies)]
    reader.unknown = {legal, *rows}
    reader.shown = {k: f"<{N}" for k in reader.unknown}
    reader.sums = [{legal: 1, **{k: -1 for k in rows}}]
    return reader


def test_the_labels_pin_a_small_total_of_as_many_agencies_as_it_can_hold():
    """The check above can fail: nine agencies of at least one request each, in a total of at most
    nine, are one request each."""
    assert len(_agency_reader(9).pinned_by_labels(N)) == 10
    assert _agency_reader(8).pinned_by_labels(N) == set()


def test_the_totals_readers_come_for_stay_published(published):
    """Complementary cells are taken from the breakdowns before the totals: every period keeps
    its global totals and the totals of the countries that sent most requests."""
    root, _ = published
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        largest = dict(con.execute("select period, arg_max(country_name, total_requests) "
                                   "from reporting.information_requests group by period").fetchall())
    for period in PERIODS:
        rows = _read(root / "exports" / period / "information_requests.csv")
        shown = {(r["location_value"], r["metric_name"]): r["result"] for r in rows}
        for metric in GLOBALS:
            assert _value(shown[("All", metric)]) is not None, (period, metric)
        assert _value(shown[(largest[period], "Total requests")]) is not None, period


def test_agency_ranks_are_withheld_where_an_agency_is(published):
    """A rank orders the country's named agencies: with one agency's requests withheld, the ranks
    around it would bound them, so a country's ranks are withheld together."""
    root, _ = published
    countries = 0
    for period in PERIODS:
        rows = [r for r in _read(root / "exports" / period / "information_requests_by_agency.csv")
                if not r["agency"].startswith("Other agencies")]
        hidden = {r["country_code"] for r in rows if r["agency_requests"] == "x"}
        countries += len(hidden)
        assert all(r["agency_rank"] == "x" for r in rows if r["country_code"] in hidden), period
        assert all(r["agency_rank"] != "x" for r in rows if r["country_code"] not in hidden), period
    assert countries, "the sample has a withheld named agency: the check must bite"


def test_a_rate_chart_with_its_figures_withheld_says_so():
    from dagster_project.disclosure import DERIVED, Withheld
    from dagster_project.html_report import MIN_REQUESTS_FOR_RATE, chart_rates

    withheld = [{"country_name": "A", "emergency_requests": Withheld("x", COMPLEMENT),
                 "emergency_disclosure_rate": Withheld("x", DERIVED)}]
    assert "withheld to protect small counts" in chart_rates(withheld, "emergency")
    few = [{"country_name": "A", "emergency_requests": MIN_REQUESTS_FOR_RATE - 1, "emergency_disclosure_rate": 0.5}]
    assert f"No country made {MIN_REQUESTS_FOR_RATE} or more emergency requests" in chart_rates(few, "emergency")


def test_a_small_count_nothing_can_protect_stops_the_output(monkeypatch):
    """Rather than publish a count a reader could work out, the export (and page) step fails, with
    a one-line reason; the last publication stays as it was."""
    from dagster_project import disclosure
    from dagster_project.cli import _step_line

    monkeypatch.setattr(disclosure, "protect", lambda con, period, n, cache=None: disclosure.Protection(
        n, {("country", "VN", "legal_requests"): SMALL}, {("country", "VN", "legal_requests")}))
    with pytest.raises(disclosure.ExposedCounts, match=r"1 small counts of 2024-H1 could still be worked out.*larger"):
        disclosure.Protector(None, N).period("2024-H1")
    monkeypatch.setattr(disclosure, "protect", lambda con, period, n, cache=None: disclosure.Protection(n, {}, set()))
    assert disclosure.Protector(None, N).period("2024-H1").exposed == set()
    meta = {"periods": "2024-H1", "small_count_protection": f"counts under {N} withheld"}
    assert _step_line("exports__information_requests_csv", [("export", meta)], (0, 0))[1].endswith(
        f"; counts under {N} withheld")


def _exact(root: Path, period: str) -> dict[tuple, float]:
    """The exact figures behind the published cells (from report.duckdb), keyed as the Reader's."""
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        exact = {}
        for row in con.execute("select * from reporting.information_requests where period = ?", [period]).fetchall():
            names = [d[0] for d in con.description]
            r = dict(zip(names, row))
            exact[("c", r["country_name"], "total")] = r["total_requests"]
            for t in TYPES:
                exact[("c", r["country_name"], t)] = r[f"{t}_requests"]
                exact[("c", r["country_name"], f"{t} accounts")] = r[f"{t}_accounts_specified"]
        for place, t, o, req, acc in con.execute(
                "select country_name, request_type, outcome, requests, accounts_specified "
                "from reporting.information_requests_by_outcome where period = ?", [period]).fetchall():
            exact[("o", place, t, o, "requests")], exact[("o", place, t, o, "accounts")] = req, acc
        for place, a, t, req, dis, total in con.execute(
                "select country_name, agency, request_type, requests, requests_disclosed, agency_requests "
                "from reporting.information_requests_by_agency where period = ?", [period]).fetchall():
            exact[("a", place, a, t, "requests")], exact[("a", place, a, t, "disclosed")] = req, dis
            exact[("at", place, a)] = total
    return exact


def test_the_reader_would_find_small_counts_without_the_complementary_cells(published):
    """The check above can fail: publish the complementary cells' exact values and small counts
    are worked out at once."""
    root, _ = published
    folder = root / "exports" / "2024-H1"
    exact = _exact(root, "2024-H1")
    complementary = set()
    for row in _read(folder / "information_requests.csv"):
        if row["suppressed"] == "complementary" and row["metric_name"] in COUNTS:
            complementary.add(("c", row["location_value"], COUNTS[row["metric_name"]]))
    for row in _read(folder / "information_requests_by_outcome.csv"):
        for column, name in (("requests", "requests"), ("accounts_specified", "accounts")):
            if row[column] == "x":
                complementary.add(("o", row["country_name"], row["request_type"], row["outcome"], name))
    assert complementary
    reader = Reader(folder, reveal={k: exact[k] for k in complementary})
    reader.check_consistent()
    assert reader.determined()


def test_small_counts_are_shown_below_the_threshold_and_rates_from_them_withheld(published):
    root, _ = published
    for period in PERIODS:
        folder = root / "exports" / period
        rows = _read(folder / "information_requests.csv")
        by_place: dict[str, dict[str, str]] = {}
        for row in rows:
            if row["metric_name"] in COUNTS:
                value = _value(row["result"])
                assert value is None or value == 0 or value >= N, row
                assert (row["result"] == f"<{N}") == (row["suppressed"] == "small count")
                assert (row["result"] == "x") == (row["suppressed"] == "complementary")
            by_place.setdefault(row["location_value"], {})[row["metric_name"]] = row["result"]
        for place, metrics in by_place.items():
            if place == "All":
                continue
            for rate, kind in RATES.items():
                if _value(metrics[f"{kind.title()} requests"]) is None:
                    assert metrics[rate] == "x", (period, place, rate)
        for row in _read(folder / "information_requests_by_agency.csv"):
            withheld = set(row["suppressed"].split(";")) - {""}
            for column in ("requests", "requests_disclosed", "agency_requests"):
                value = _value(row[column])
                assert value is None or value == 0 or value >= N, row
                assert (value is None) == (column in withheld)
            if row["agency"] == f"Other agencies (each fewer than {N} requests)":
                # the small agencies, together: no rank
                assert row["agency_rank"] == ""
                continue
            # an agency is named only with N requests or more
            assert row["agency_requests"] != f"<{N}", row
            # a withheld agency's rank would place its count between others
            if _value(row["agency_requests"]) is None:
                assert row["agency_rank"] == "x", row
        for row in _read(folder / "information_requests_by_outcome.csv"):
            if _value(row["requests"]) is None:
                assert row["share_of_requests"] == "x" and row["share_of_final_requests"] in ("x", "")


def test_turning_protection_on_rewrites_every_published_period(published):
    root, before = published
    exports = root / "exports"
    # 2023-H1 was not in the second run, yet its files and page are protected now
    assert before.splitlines()[0].endswith(",date")
    after = (exports / "2023-H1" / "information_requests.csv").read_text()
    assert after.splitlines()[0].endswith(",date,suppressed") and f"<{N}" in after
    for period in PERIODS:
        page = (exports / period / "report.html").read_text()
        assert f'<meta name="irr-public-min-count" content="{N}">' in page
    every = (exports / "information_requests.csv").read_text().splitlines()
    assert every[0].endswith(",suppressed") and sum(1 for line in every if line.startswith("replication_info")) == 1
    package = json.loads((exports / "datapackage.json").read_text())
    assert package["irr_public_min_count"] == N
    long_fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    assert long_fields["result"]["type"] == "string" and "suppressed" in long_fields


def test_each_period_is_protected_once_for_its_figures(published, tmp_path, monkeypatch):
    """The export and HTML steps (and later runs) share each period's protection, kept in the
    warehouse folder for the same figures, N and code; it is what computing it again gives."""
    from dagster_project import disclosure

    root, _ = published
    cache = root / "warehouse" / "protection"
    assert len(list(cache.glob("*.json"))) == len(PERIODS)
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        fresh = disclosure.protect(con, "2024-H1", N)
        monkeypatch.setattr(disclosure, "suppress", lambda *a, **k: pytest.fail("computed again"))
        kept = disclosure.protect(con, "2024-H1", N, cache)
        assert (kept.status, kept.exposed) == (fresh.status, fresh.exposed)
        with pytest.raises(pytest.fail.Exception):
            disclosure.protect(con, "2024-H1", N + 1, cache)  # another N: another protection


def test_report_duckdb_keeps_exact_figures(published):
    root, _ = published
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        small = con.execute("select count(*) from reporting.information_requests "
                            f"where legal_requests between 1 and {N - 1}").fetchone()[0]
        # what the protection takes a reader to know holds on the exact figures: every sum, every
        # part at most its whole (a false one would make cells look pinned, or the program infeasible)
        for period in PERIODS:
            system = build_system(con, period, N)
            assert system.broken_sums() == [] and system.broken_orders() == [], period
            assert system.orders
    assert small > 0


def _page_cells(page: str) -> dict[tuple[str, str], str]:
    """The country table of a page: (country, heading) -> the text shown."""
    table = page[page.index('<table id="countries"'):]
    table = table[:table.index("</table>")]
    heads = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    cells = {}
    for row in re.findall(r"<tr data-terms[^>]*>(.*?)</tr>", table):
        texts = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for head, text in zip(heads[1:], texts[1:]):
            cells[(texts[0], head)] = text.replace("&lt;", "<")
    return cells


def test_the_page_withholds_what_the_csv_withholds(published):
    root, _ = published
    headings = {"Total requests": "Total requests", "Legal requests": "Legal requests",
                "Emergency requests": "Emergency requests", "Preservation requests": "Preservation requests",
                "Legal request accounts specified": "Legal: accounts specified",
                "Percentage of legal requests where some data was disclosed": "Legal: some data disclosed"}
    for period in PERIODS:
        cells = _page_cells((root / "exports" / period / "report.html").read_text())
        assert cells
        for row in _read(root / "exports" / period / "information_requests.csv"):
            heading = headings.get(row["metric_name"])
            if heading and row["location"] != "all":
                shown = cells[(row["location_value"], heading)]
                if row["suppressed"]:
                    assert shown == row["result"], (period, row["location_value"], heading)
                else:
                    assert not shown.startswith("<") and shown != "x"
        # no count from 1 to N-1 anywhere in the page's tables
        page = (root / "exports" / period / "report.html").read_text()
        for table in re.findall(r"<table.*?</table>", page, re.S):
            for text in re.findall(r'<td class="num"[^>]*>([^<]*)</td>', table):
                if re.fullmatch(r"[0-9,]+", text):
                    assert int(text.replace(",", "")) == 0 or int(text.replace(",", "")) >= N, text


def test_bundled_sample_is_small_and_broad(published):
    """The sample `irr run` uses by default (its pipeline run is this module's)."""
    root, _ = published
    size = sum(p.stat().st_size for p in SAMPLE_RAW_DIR.rglob("*") if p.is_file())
    assert size <= 5 * 1024 * 1024
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        periods = con.execute("select count(distinct period) from reporting.information_requests").fetchone()[0]
        countries = con.execute("select count(distinct country_code) from reporting.information_requests").fetchone()[0]
        summary = {(s, i): v for s, i, v in con.execute("select * from dq.dq_run_summary").fetchall()}
    assert periods >= 2 and countries >= 20
    # every surface form of CONTRACT 1.2 occurs, and so do invalid identifiers and bad lines
    for form in ("email", "phone", "username", "profile_url", "video_url", "short_link", "user_id"):
        assert summary.get(("identifiers by form", form), 0) > 0, form
    assert summary[("lines", "quarantined")] > 0
    assert summary[("requests", "superseded events")] > 0
    assert sum(v for (s, _), v in summary.items() if s == "invalid identifiers") > 0
    assert summary.get(("unresolved identifiers", "username"), 0) > 0
