"""Small-count protection of the public outputs (CONTRACT 3.2): `IRR_PUBLIC_MIN_COUNT`.

With the setting at N, the CSVs, the HTML pages and the data package show each count from 1 to
N-1 as `<N` (a *small count*) and withhold further cells, shown `x`, so that no small count can
be worked out from what is published (*complementary* suppression). Rates and changes computed
from a withheld count are withheld (`x`) too. `report.duckdb` keeps the exact figures.

Why further cells: the report's counts are tied by sums. Per country, the total is legal +
emergency + preservation; a type's requests (and accounts) are the sum of its six outcomes and
of its agencies; the disclosed requests are an outcome, and the sum of the agencies' disclosed;
an agency's requests are the sum of its types; every global figure is the sum over countries;
the legal processes add up to the global totals. A small count that is the only withheld cell of a sum is
given away by the others, and so can be one that a combination of sums pins down.

So the figures of one period are a linear system whose unknowns are the withheld cells. A cell
is determined when the published cells fix its value: when its unit vector lies in the row space
of the unknowns' coefficients, i.e. the system's reduced row echelon form has a row that holds
that one cell; that row is a combination of sums, and its published cells are what a reader adds
up (`derivations`). Suppression starts from the small counts and, while a withheld cell is
determined, withholds the cheapest of those published cells, then looks again. Cheapest: a
non-zero cell before a zero, a breakdown's cell before a country's total before a global figure
(`_level`: the totals readers come for stay published), then the smallest.

The labels say more than the sums: `<N` is 1 to N-1, `x` is 0 or N and more, an agency row counts
at least 1, a part is at most its whole. With those, the reader's problem is an integer program,
and `pinned` solves it for the small counts; a pinned one gets a published cell beside it withheld
(`freeing`), and the loop goes on. A small count that nothing can free is `exposed`, and stops the
output step (`Protector.period`): it is never published. A complementary cell the reader's program
pins anyway is published after all (`known_exactly`). With protection on, the agencies with
fewer than N requests are published together (`agency_rows`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import duckdb

from dagster_project.partitions import previous_period
from dagster_project.resources import dict_rows

SMALL = "small count"
COMPLEMENT = "complementary"  # withheld so that a small count cannot be worked out
DERIVED = "computed from a withheld count"
HIDDEN = "x"
# The setting, and the column of the CSVs that says which cells are withheld.
SETTING = "IRR_PUBLIC_MIN_COUNT"
SUPPRESSED_COLUMN = "suppressed"
# The columns of the published breakdowns that may be withheld (the tidy CSVs).
PROTECTED_COLUMNS = {
    "information_requests_long": ("result",),
    "information_requests_by_outcome": ("requests", "accounts_specified", "share_of_requests", "share_of_final_requests"),
    "information_requests_by_agency": ("requests", "requests_disclosed", "agency_requests", "agency_rank"),
}

Key = tuple[str, ...]


def min_count(environ=os.environ) -> int | None:
    """N of `IRR_PUBLIC_MIN_COUNT`, or None when protection is off (unset, empty or 0).

    N = 1 or 2 is refused: with zeros shown, `<2` could only mean 1."""
    raw = (environ.get(SETTING) or "").strip()
    if raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{SETTING} must be a whole number (counts below it are withheld), not {raw!r}")
    n = int(raw)
    if n == 0:
        return None
    if n < 3:
        raise ValueError(f"{SETTING} must be 3 or more (or 0: off), not {n}: `<{n}` would say the count")
    return n


@dataclass(frozen=True)
class Withheld:
    """A published cell that is withheld: what the reader sees (`<N` or `x`) and why."""

    shown: str
    reason: str

    def __str__(self) -> str:
        return self.shown


@dataclass
class System:
    """The counts of one period and the sums that tie them; `derived` are the rates and shares
    published beside them, with the counts each is computed from."""

    values: dict[Key, int] = field(default_factory=dict)
    sums: list[dict[Key, int]] = field(default_factory=list)
    derived: dict[Key, tuple[Key, ...]] = field(default_factory=dict)
    # cells a reader knows without their figure: a sum of rows that are not there is zero
    known: set[Key] = field(default_factory=set)
    # what else a reader knows of the counts: a row that is there counts at least one (`floors`),
    # and a part is at most its whole (`orders`: sum of coefficient x cell >= 0)
    floors: dict[Key, int] = field(default_factory=dict)
    orders: list[dict[Key, int]] = field(default_factory=list)

    def add_order(self, larger: Key, smaller: Key) -> None:
        if larger in self.values and smaller in self.values:
            self.orders.append({larger: 1, smaller: -1})

    def add_sum(self, total: Key, parts: list[Key], more: tuple[Key, ...] = ()) -> None:
        """total + more = sum of parts (cells not in the system are zero, and left out)."""
        terms: dict[Key, int] = {}
        for key, coef in [(total, 1), *((m, 1) for m in more), *((p, -1) for p in parts)]:
            if key in self.values:
                terms[key] = terms.get(key, 0) + coef
        terms = {k: c for k, c in terms.items() if c}
        if len(terms) >= 2:
            self.sums.append(terms)
        elif len(terms) == 1:
            self.known.update(terms)

    def broken_sums(self) -> list[dict[Key, int]]:
        """The sums the figures do not satisfy (none, unless a model changed what it counts)."""
        return [s for s in self.sums if sum(c * self.values[k] for k, c in s.items()) != 0]

    def broken_orders(self) -> list[dict[Key, int]]:
        """The orders the figures do not satisfy: none may be, or the reader's program is wrong."""
        return [s for s in self.orders if sum(c * self.values[k] for k, c in s.items()) < 0]


def other_agencies(n: int) -> str:
    """The name under which the agencies with fewer than n requests are published together."""
    return f"Other agencies (each fewer than {n} requests)"


def agency_rows(con: duckdb.DuckDBPyConnection, period: str, n: int | None = None) -> list[dict]:
    """The rows of `reporting.information_requests_by_agency` of one period as published, in key
    order. With protection at n, the agencies that sent fewer than n requests in the period are
    one row per country and type, `other_agencies(n)`, after the named ones, without a rank: a
    list of small agencies would show each one's count as at least 1, which with the country's
    total can give them away."""
    from dagster_project.report_shape import columns

    if n is None:
        return dict_rows(con, f"select {', '.join(columns('information_requests_by_agency'))} "
                              "from reporting.information_requests_by_agency where period = ? order by all", [period])
    return dict_rows(con, """
        with rows as (
            select * replace (if(agency_requests < ?, ?, agency) as agency), agency_requests < ? as small
            from reporting.information_requests_by_agency where period = ?
        )
        select period, country_code, country_name, agency, request_type,
               sum(requests) as requests, sum(requests_disclosed) as requests_disclosed,
               if(small, sum(sum(requests)) over (partition by country_code, small),
                  any_value(agency_requests)) as agency_requests,
               if(small, null, any_value(agency_rank)) as agency_rank
        from rows
        group by period, country_code, country_name, small, agency, request_type
        order by country_code, small, agency, request_type""", [n, other_agencies(n), n, period])


def build_system(con: duckdb.DuckDBPyConnection, period: str, n: int | None = None) -> System:
    """The published counts of one period, from the reporting tables, their sums, and what a
    reader knows besides (with protection at n, the agencies are those `agency_rows` publishes).
    Every table is read in key order: the same figures give the same system, and so the same
    cells withheld, from the warehouse (the CSVs) and from report.duckdb (the pages)."""
    from dagster_project.report_shape import GLOBAL_MODEL, REPORT_MODEL, measures

    system = System()
    values = system.values
    counts = [m.name for m in measures(REPORT_MODEL) if m.format == "count"]
    rates = [m for m in measures(REPORT_MODEL) if m.format == "rate" and m.of]
    types = [c.removesuffix("_requests") for c in counts
             if c.endswith("_requests") and c != "total_requests"]

    countries = dict_rows(con, """
        select r.*, a.distinct_accounts from reporting.information_requests as r
        left join reporting.information_requests_accounts as a using (period, country_code)
        where r.period = ? order by r.country_code""", [period])
    codes = [r["country_code"] for r in countries]
    for row in countries:
        for column in [*counts, "distinct_accounts"]:
            values[("country", row["country_code"], column)] = int(row[column] or 0)
    world = dict_rows(con, f"select * from reporting.{GLOBAL_MODEL} where period = ?", [period])
    global_counts = [*(m.name for m in measures(GLOBAL_MODEL) if m.format == "count"),
                     "accounts_specified", "distinct_accounts"]
    for row in world:
        for column in global_counts:
            values[("global", column)] = int(row[column] or 0)
    outcomes = dict_rows(con, "select * from reporting.information_requests_by_outcome "
                              "where period = ? order by country_code, request_type, outcome", [period])
    for row in outcomes:
        for column in ("requests", "accounts_specified"):
            values[("outcome", row["country_code"], row["request_type"], row["outcome"], column)] = int(row[column])
    outcome_names = sorted({r["outcome"] for r in outcomes})
    world_outcomes = dict_rows(con, "select * from reporting.information_requests_by_outcome_global "
                                    "where period = ? order by request_type, outcome", [period])
    for row in world_outcomes:
        for column in ("requests", "accounts_specified"):
            values[("outcome_global", row["request_type"], row["outcome"], column)] = int(row[column])
    agencies = agency_rows(con, period, n)
    for row in agencies:
        code, agency = row["country_code"], row["agency"]
        for column in ("requests", "requests_disclosed"):
            values[("agency", code, agency, row["request_type"], column)] = int(row[column])
        values[("agency_total", code, agency)] = int(row["agency_requests"])
    processes = dict_rows(con, "select * from reporting.information_requests_by_legal_process_global "
                               "where period = ? order by legal_process", [period])
    process_columns = ("requests", "requests_disclosed", "requests_disclosable", "accounts_specified")
    for row in processes:
        for column in process_columns:
            values[("process", row["legal_process"], column)] = int(row[column])
    timing = dict_rows(con, "select * from reporting.information_requests_timing "
                            "where period = ? order by request_type", [period])
    for row in timing:
        values[("timing", row["request_type"], "requests_with_final_outcome")] = int(row["requests_with_final_outcome"])

    agencies_of: dict[str, dict[str, None]] = {}  # each country's agencies, in order, once
    for row in agencies:
        agencies_of.setdefault(row["country_code"], {})[row["agency"]] = None

    add = system.add_sum
    for code in codes:
        c = ("country", code)
        add((*c, "total_requests"), [(*c, f"{t}_requests") for t in types])
        for t in types:
            add((*c, f"{t}_requests"), [("outcome", code, t, o, "requests") for o in outcome_names])
            add((*c, f"{t}_accounts_specified"), [("outcome", code, t, o, "accounts_specified") for o in outcome_names])
            if t != "preservation":  # the report has no disclosed preservation requests (its outcome may)
                add((*c, f"{t}_requests_disclosed"), [("outcome", code, t, "disclosed", "requests")])
            add((*c, f"{t}_requests"), [("agency", code, a, t, "requests") for a in agencies_of.get(code, [])])
            add(("outcome", code, t, "disclosed", "requests"),
                [("agency", code, a, t, "requests_disclosed") for a in agencies_of.get(code, [])])
        for a in agencies_of.get(code, []):
            add(("agency_total", code, a), [("agency", code, a, t, "requests") for t in types])
    for column in global_counts:
        if column != "accounts_specified":
            add(("global", column), [("country", code, column) for code in codes])
    add(("global", "accounts_specified"), [("global", f"{t}_accounts_specified") for t in types])
    for t in types:
        for o in outcome_names:
            for column in ("requests", "accounts_specified"):
                add(("outcome_global", t, o, column), [("outcome", code, t, o, column) for code in codes])
        add(("global", f"{t}_requests"), [("outcome_global", t, o, "requests") for o in outcome_names])
        add(("global", f"{t}_accounts_specified"), [("outcome_global", t, o, "accounts_specified") for o in outcome_names])
    names = [r["legal_process"] for r in processes]
    add(("global", "total_requests"), [("process", p, "requests") for p in names])
    add(("global", "accounts_specified"), [("process", p, "accounts_specified") for p in names])
    # the disclosed requests of the types that can disclose, and those requests (not preservation)
    disclosed = [("outcome_global", t, "disclosed", "requests") for t in types if t != "preservation"]
    if disclosed:
        add(disclosed[0], [("process", p, "requests_disclosed") for p in names], more=tuple(disclosed[1:]))
    disclosable = [("global", f"{t}_requests") for t in types if t != "preservation"]
    if disclosable:
        add(disclosable[0], [("process", p, "requests_disclosable") for p in names], more=tuple(disclosable[1:]))

    # a row of the agency table is there because the agency sent a request of that type; a part
    # is at most its whole
    for row in agencies:
        code, agency, t = row["country_code"], row["agency"], row["request_type"]
        system.floors[("agency", code, agency, t, "requests")] = 1
        system.floors[("agency_total", code, agency)] = 1
        system.add_order(("agency", code, agency, t, "requests"), ("agency", code, agency, t, "requests_disclosed"))
    order = system.add_order
    for code in codes:
        c = ("country", code)
        if (*c, "legal_requests_nondisclosure_order") in values:
            order((*c, "legal_requests"), (*c, "legal_requests_nondisclosure_order"))
    for p in names:
        order(("process", p, "requests"), ("process", p, "requests_disclosable"))
        order(("process", p, "requests_disclosable"), ("process", p, "requests_disclosed"))
    for row in timing:
        t = row["request_type"]
        order(("global", f"{t}_requests"), ("timing", t, "requests_with_final_outcome"))
    # no requests, no accounts specified: accounts <= (the largest count) x requests
    most = max(values.values(), default=0)
    for row in outcomes:
        key = ("outcome", row["country_code"], row["request_type"], row["outcome"])
        system.orders.append({(*key, "requests"): most, (*key, "accounts_specified"): -1})
    for row in world_outcomes:
        key = ("outcome_global", row["request_type"], row["outcome"])
        system.orders.append({(*key, "requests"): most, (*key, "accounts_specified"): -1})
    for code in codes:
        for t in types:
            system.orders.append({("country", code, f"{t}_requests"): most,
                                  ("country", code, f"{t}_accounts_specified"): -1})

    # what is computed from the counts: withheld with any of them
    derived = system.derived
    for code in codes:
        for rate in rates:
            derived[("country", code, rate.name)] = tuple(("country", code, c) for c in rate.of)
    for rate in rates:
        derived[("global", rate.name)] = tuple(("global", c) for c in rate.of)
    for row in outcomes:
        code, t, o = row["country_code"], row["request_type"], row["outcome"]
        base = ("outcome", code, t, o, "requests")
        derived[("outcome", code, t, o, "share_of_requests")] = (base, ("country", code, f"{t}_requests"))
        derived[("outcome", code, t, o, "share_of_final_requests")] = (
            base, ("country", code, f"{t}_requests"), ("outcome", code, t, "pending", "requests"))
    for row in world_outcomes:
        t, o = row["request_type"], row["outcome"]
        base = ("outcome_global", t, o, "requests")
        derived[("outcome_global", t, o, "share_of_requests")] = (base, ("global", f"{t}_requests"))
        derived[("outcome_global", t, o, "share_of_final_requests")] = (
            base, ("global", f"{t}_requests"), ("outcome_global", t, "pending", "requests"))
    for p in names:
        derived[("process", p, "disclosure_rate")] = (("process", p, "requests_disclosed"),
                                                      ("process", p, "requests_disclosable"))
    for row in timing:
        t = row["request_type"]
        derived[("timing", t, "median_days_to_outcome")] = (("timing", t, "requests_with_final_outcome"),)
    return system


def determined(unknown: set[Key], sums: list[dict[Key, int]]) -> set[Key]:
    """The unknown cells whose value the sums fix, given every other cell."""
    return set(derivations(unknown, sums))


def derivations(unknown: set[Key], sums: list[dict[Key, int]]) -> dict[Key, set[Key]]:
    """Each unknown cell whose value the sums fix, given every other cell, with the published
    cells a reader adds up to get it (one combination of sums that does).

    Gaussian elimination over the rationals, pivoting on the unknown cells only and keeping the
    basis fully reduced: each basis row has its pivot and no other pivot column. A cell is fixed
    exactly when a row of the reduced form holds that one unknown cell; that row is a combination
    of sums, and its other cells are published."""
    order = sorted(unknown)
    index = {key: i for i, key in enumerate(order)}
    basis: dict[int, dict] = {}  # pivot -> row: unknown cells by their index, published by key
    for terms in sums:
        row = {index.get(k, k): Fraction(c) for k, c in terms.items()}
        for pivot in [p for p in row if isinstance(p, int) and p in basis]:
            factor = row.get(pivot)
            if factor:
                _subtract(row, factor, basis[pivot])
        pivots = [col for col in row if isinstance(col, int)]
        if not pivots:
            continue
        pivot = min(pivots)
        scale = row[pivot]
        row = {col: coef / scale for col, coef in row.items()}
        for other in basis.values():
            factor = other.get(pivot)
            if factor:
                _subtract(other, factor, row)
        basis[pivot] = row
    return {order[p]: {col for col in row if not isinstance(col, int)}
            for p, row in basis.items() if sum(isinstance(col, int) for col in row) == 1}


def _subtract(row: dict, factor: Fraction, other: dict) -> None:
    """row -= factor x other, dropping the terms that become zero."""
    for col, coef in other.items():
        value = row.get(col, 0) - factor * coef
        if value:
            row[col] = value
        else:
            row.pop(col, None)


def _level(key: Key) -> int:
    """How much of the report a cell is: 3 for the global figures, 2 for a country's total, 1 for
    the rest of the table by country (its requests, accounts and disclosed per type), 0 for the
    breakdowns (outcomes, agencies). Complementary cells are taken from the lowest level first,
    so the figures readers come for stay published."""
    if key[0] in ("global", "outcome_global", "process", "timing"):
        return 3
    if key[0] == "country":
        return 2 if key[2] == "total_requests" else 1
    return 0


def _block(key: Key) -> str:
    """The country a cell belongs to, or "" for the global figures."""
    return key[1] if key[0] in ("country", "outcome", "agency", "agency_total") else ""


def blocks_of(withheld: dict[Key, str]) -> dict[str, list[Key]]:
    """The withheld cells by country (`_block`), each list in key order."""
    blocks: dict[str, list[Key]] = {}
    for key in sorted(withheld):
        blocks.setdefault(_block(key), []).append(key)
    return blocks


def _rows(sums: list[dict[Key, int]], orders, withheld) -> list[tuple[dict[Key, int], float, float]]:
    """The reader's constraints that hold a withheld cell: (terms, lower, upper); sums are
    equalities, orders at least 0."""
    return [(terms, 0, 0 if equal else float("inf"))
            for terms, equal in [*((t, True) for t in sums), *((t, False) for t in orders)]
            if any(k in withheld for k in terms)]


def _ceiling(values: dict[Key, int], withheld: dict[Key, str], n: int) -> int:
    """What a reader takes as the most any count can be: the largest count, when it is published
    (a global total); otherwise more than any count is."""
    largest = max(values, key=values.get, default=None)
    if largest is None:
        return n
    top = values[largest]
    return max(top if largest not in withheld else 2 * top + n, n)


# How many published cells beside a cell the labels give away are tried, withheld in turn.
FREEING_TRIES = 4
# How many times a small count pinned against the labels gets a cell withheld beside it before it
# is given up on (exposed): each time, the whole period may pin it in a way a local solve missed.
PROTECTIONS_AGAINST_LABELS = 3
# Each solve of the reader's program stops after this many branch-and-bound nodes (a count, so the
# result does not depend on the machine; 60 s guards against a hang): any solution it found still
# shows a cell free, and one it did not find leaves the cell pinned (safe).
NODE_LIMIT = 200
# After this many rounds of withholding against the labels, the small counts still pinned are
# exposed rather than tried again: the run's time stays bounded at any N.
BOUNDS_ROUNDS = 8
# Past this many cells that no solution moved, they are all taken as pinned rather than tried
# one by one (two solves each): withholding more is safe, and then cheaper.
ONE_BY_ONE = 0
# How many computed protections the cache keeps (a few periods' worth of runs and settings).
CACHE_FILES = 64


def pinned(values: dict[Key, int], withheld: dict[Key, str], n: int, sums: list[dict[Key, int]],
           floors: dict[Key, int] | None = None, orders: list[dict[Key, int]] = (),
           shown_free: set[Key] | None = None) -> set[Key]:
    """The withheld cells whose value a reader can work out from everything published: the
    published cells, the sums, the labels (`<n` is 1 to n-1; `x` is 0, or n and more, since a
    small count would show `<n`), the rows that are there (`floors`) and the parts that are at most
    their whole (`orders`). The reader's problem is an integer program; a cell is pinned when its
    least and greatest possible values are its value.

    A cell is shown not pinned by one solution of the reader's program in which it has another
    value, so most cells need no pair of solves. Each country's cells are tried first with every
    other cell at its value (a solution of that smaller program is one of the whole), moving as
    many cells as possible (the sum of the unsure ones up, then down); the cells no such solution
    moved are tried in the whole program, the same way, then one by one (`ONE_BY_ONE` at most).
    A solve that does not finish shows nothing: its cells count as pinned."""
    floors = floors or {}
    rows = _rows(sums, orders, withheld)
    top = _ceiling(values, withheld, n)
    shown_free = set() if shown_free is None else shown_free
    unsure = {k for k, why in withheld.items() if why == SMALL} - shown_free
    for cells in blocks_of(withheld).values():
        _move(cells, rows, values, withheld, n, top, floors, unsure, one_by_one=False)
    if unsure:
        _move(sorted(withheld), rows, values, withheld, n, top, floors, unsure, one_by_one=len(unsure) <= ONE_BY_ONE)
    shown_free.update(k for k, why in withheld.items() if why == SMALL and k not in unsure)
    return unsure


def _program(cells: list[Key], rows: list, values: dict[Key, int], withheld: dict[Key, str], n: int, top: int,
             floors: dict[Key, int]) -> dict | None:
    """The reader's integer program over `cells`, every other cell at its value: scipy milp's
    arguments but the objective, or None when no constraint holds a cell (each then has its
    label's whole range)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.sparse import coo_array

    index = {k: i for i, k in enumerate(cells)}
    switches = [k for k in cells if withheld[k] != SMALL]  # `x`: 0, or n and more
    width = len(cells) + len(switches)
    i_, j_, v_, lo, hi = [], [], [], [], []

    def constraint(terms: dict[int, float], low: float, high: float) -> None:
        for j, c in terms.items():
            i_.append(len(lo)); j_.append(j); v_.append(c)
        lo.append(low); hi.append(high)

    for terms, low, high in rows:
        inside = {index[k]: c for k, c in terms.items() if k in index}
        if inside:
            rest = sum(c * values[k] for k, c in terms.items() if k not in index)
            constraint(inside, low - rest, high - rest)
    lower, upper = np.zeros(width), np.ones(width)
    for k, i in index.items():
        small = withheld[k] == SMALL
        lower[i] = max(1 if small else 0, floors.get(k, 0))
        upper[i] = n - 1 if small else top
    for s, k in enumerate(switches, start=len(cells)):
        constraint({index[k]: 1, s: -n}, 0, np.inf)  # on: n or more
        constraint({index[k]: 1, s: -top}, -np.inf, 0)  # off: 0
        lower[s] = 1 if floors.get(k, 0) else 0
    if not lo:
        return None
    return dict(constraints=LinearConstraint(coo_array((v_, (i_, j_)), shape=(len(lo), width)).tocsr(), lo, hi),
                integrality=np.ones(width), bounds=Bounds(lower, upper))


def _move(cells: list[Key], rows: list, values: dict[Key, int], withheld: dict[Key, str], n: int, top: int,
          floors: dict[Key, int], unsure: set[Key], one_by_one: bool) -> None:
    """Remove from `unsure` the cells of `cells` that a solution of the reader's program, with
    every other cell at its value, gives another value."""
    import numpy as np
    from scipy.optimize import milp

    if not unsure.intersection(cells):
        return
    problem = _program(cells, rows, values, withheld, n, top, floors)
    if problem is None:
        unsure.difference_update(cells)
        return
    problem["options"] = {"node_limit": NODE_LIMIT, "time_limit": 60}
    index = {k: i for i, k in enumerate(cells)}
    width = problem["integrality"].size
    truth = np.array([values[k] for k in cells], dtype=float)

    def solve(objective: dict[int, int]) -> int:
        c = np.zeros(width)
        c[list(objective)] = list(objective.values())
        result = milp(c, **problem)
        if result.x is None:
            return 0
        moved = {cells[i] for i in np.flatnonzero(np.abs(result.x[:len(cells)] - truth) > 0.5)} & unsure
        unsure.difference_update(moved)
        return len(moved)

    for sign in (-1, 1):  # the unsure cells up, then down, while that moves some
        while solve({index[k]: sign for k in cells if k in unsure}):
            pass
    if not one_by_one:
        return
    for k in cells:
        for sign in (-1, 1):
            if k in unsure:
                solve({index[k]: sign})


def known_exactly(values: dict[Key, int], withheld: dict[Key, str], n: int, sums: list[dict[Key, int]],
                  floors: dict[Key, int], orders: list[dict[Key, int]], cells: set[Key]) -> set[Key]:
    """The cells of `cells` whose least and greatest value in the reader's program of the whole
    period are both their value, each bound proven (a solve that stops short proves nothing)."""
    import numpy as np
    from scipy.optimize import milp

    if not cells:
        return set()
    every = sorted(withheld)
    problem = _program(every, _rows(sums, orders, withheld), values, withheld, n, _ceiling(values, withheld, n), floors)
    if problem is None:
        return set()
    problem["options"] = {"time_limit": 60}
    index = {k: i for i, k in enumerate(every)}
    found = set()
    for cell in sorted(cells):
        bounds = []
        for sign in (1, -1):
            c = np.zeros(problem["integrality"].size)
            c[index[cell]] = sign
            result = milp(c, **problem)
            bounds.append(round(result.x[index[cell]]) if result.status == 0 else None)
        if bounds == [values[cell], values[cell]]:
            found.add(cell)
    return found


def suppress(values: dict[Key, int], sums: list[dict[Key, int]], n: int, known: set[Key] = frozenset(),
             floors: dict[Key, int] | None = None, orders: list[dict[Key, int]] | None = None,
             exposed: set[Key] | None = None) -> dict[Key, str]:
    """The withheld cells, each with its reason: the counts from 1 to n-1, and the cells withheld
    so that none of those can be worked out from the published ones (`known` cells, which a
    reader knows anyway, are never chosen)."""
    withheld = {k: SMALL for k, v in values.items() if 1 <= v < n}
    # cells a solution of the reader's program has shown can take another value: withholding
    # more keeps that solution a solution, so they stay shown (unless a cell is published again)
    shown_free: set[Key] = set()
    rounds = 0  # of withholding against the labels
    tried: dict[Key, int] = {}  # how often each small count was protected against the labels
    if not withheld:
        return withheld
    known = set(known)
    sums_of: dict[Key, list[int]] = {}
    for i, terms in enumerate(sums):
        for key in terms:
            sums_of.setdefault(key, []).append(i)

    def cost(key: Key) -> tuple:
        # the least informative cell: a non-zero one before a zero (a withheld zero beside a
        # small count bounds it), then the lowest level, then the smallest, then a stable order
        return (values[key] == 0, _level(key), values[key], key)

    def complement(cell: Key) -> Key | None:
        """The cheapest published cell of the sums nearest to `cell` (through withheld cells)."""
        seen, frontier = {cell}, [cell]
        while frontier:
            candidates = sorted({k for c in frontier for i in sums_of.get(c, ()) for k in sums[i]
                                 if k not in withheld and k not in known}, key=cost)
            if candidates:
                return candidates[0]
            frontier = sorted({k for c in frontier for i in sums_of.get(c, ()) for k in sums[i]} - seen)
            seen.update(frontier)
        return None

    rows_of: dict[Key, list[dict[Key, int]]] = {}
    for terms in [*sums, *(orders or ())]:
        for key in terms:
            rows_of.setdefault(key, []).append(terms)
    bounded = False  # protecting the cells that the labels, not the sums alone, give away

    def freeing(cell: Key) -> Key | None:
        """The cheapest published cell beside `cell` that, withheld, lets `cell` take another
        value in the reader's program of the two cells' countries (a few tried), or None."""
        near = sorted({k for terms in rows_of.get(cell, ()) for k in terms
                       if k not in withheld and k not in known}, key=cost)
        for extra in near[:FREEING_TRIES]:
            trial = {**withheld, extra: COMPLEMENT}
            blocks = {_block(cell), _block(extra)}
            cells = sorted(k for k in trial if _block(k) in blocks)
            unsure = {cell}
            _move(cells, _rows(sums, orders or (), trial), values, trial, n, _ceiling(values, trial, n), floors or {},
                  unsure, one_by_one=True)
            if not unsure:
                return extra
        return None

    def protect(cell: Key, via: set[Key] | dict[Key, int] = ()) -> None:
        """Withhold one more cell so that `cell` is no longer given away: the cheapest of `via`,
        the published cells a reader works it out from, if any. With none left to withhold, what is
        withheld pins `cell` by itself: a zero is then one every reader knows, and is published
        after all."""
        if bounded and exposed is not None:
            if tried.get(cell, 0) >= PROTECTIONS_AGAINST_LABELS:  # and still pinned: given up on
                exposed.add(cell)
                return
            tried[cell] = tried.get(cell, 0) + 1
        extra = freeing(cell) if bounded else None
        if bounded and extra is None and tried.get(cell, 0) == 2:
            # no one cell freed it, twice: withhold in its tightest sum (the fewest published
            # cells), where the cells withheld next to protect that one may leave it room
            via = min(([k for k in terms if k not in withheld and k not in known] for terms in sums
                       if cell in terms), key=len, default=[])
        extra = extra or min((k for k in via if k not in withheld and k not in known), key=cost, default=None)
        extra = extra or complement(cell)
        if extra is not None:
            withheld[extra] = COMPLEMENT
        elif bounded and exposed is not None:
            # the labels and the rows give it away whatever else is withheld: never published
            exposed.add(cell)
        elif values[cell] == 0 and withheld.get(cell) == COMPLEMENT:
            del withheld[cell]
            shown_free.clear()
            known.add(cell)
        else:
            raise RuntimeError(f"small-count protection found no cell to withhold beside {cell}")

    while True:
        bounded = False
        # the cheap pass: a sum with one withheld cell gives it away
        changed = True
        while changed:
            changed = False
            for terms in sums:
                hidden = [k for k in terms if k in withheld]
                if len(hidden) == 1:
                    protect(hidden[0], terms)
                    changed = True
        via = derivations(set(withheld), sums)
        found = sorted(via)
        bounded = not found
        if not found and orders is not None:
            # what the sums leave open, the labels and the rows that are there may still close
            found = sorted(pinned(values, withheld, n, sums, floors, orders, shown_free) - (exposed or set()))
            rounds += 1
            if rounds > BOUNDS_ROUNDS and exposed is not None:
                exposed.update(found)
                found = []
        if not found:
            if exposed:
                # a count given up on may have been freed by what was withheld after it
                still = set(exposed)
                _move(sorted(withheld), _rows(sums, orders or (), withheld), values, withheld, n,
                      _ceiling(values, withheld, n), floors or {}, still, one_by_one=len(still) <= ONE_BY_ONE)
                exposed.intersection_update(still)
            if orders is not None:
                _publish_known(values, withheld, n, sums, floors or {}, orders)
            return withheld
        for cell in found:
            if cell in withheld:
                protect(cell, via.get(cell, ()))


def _publish_known(values: dict[Key, int], withheld: dict[Key, str], n: int, sums: list[dict[Key, int]],
                   floors: dict[Key, int], orders: list[dict[Key, int]]) -> None:
    """Publish the complementary cells the reader works out exactly from the labels anyway: every
    solution of the reader's program has that value, so publishing it leaves every other cell's
    range as it was (unless it would let the sums alone give a cell away: one beside an exposed
    count). Cells a solution moves are set aside first; the rest are proven one by one."""
    rows = _rows(sums, orders, withheld)
    top = _ceiling(values, withheld, n)
    unsure = {k for k, why in withheld.items() if why == COMPLEMENT}
    for cells in blocks_of(withheld).values():
        _move(cells, rows, values, withheld, n, top, floors, unsure, one_by_one=False)
    _move(sorted(withheld), rows, values, withheld, n, top, floors, unsure, one_by_one=True)
    released = known_exactly(values, withheld, n, sums, floors, orders, unsure)
    for cell in released:
        del withheld[cell]
    while released and (via := derivations(set(withheld), sums)):
        back = {k for ks in via.values() for k in ks} & released or set(released)
        for cell in back:
            withheld[cell] = COMPLEMENT
        released -= back


class ExposedCounts(ValueError):
    """Small counts that the published labels and rows would give away: not published."""


@dataclass
class Protection:
    """The withheld cells of one period: counts (small or complementary) and derived figures."""

    n: int
    status: dict[Key, str]
    # small counts a reader could still work out from the labels' ranges and the rows that are there
    exposed: set[Key] = field(default_factory=set)

    def shown(self, reason: str) -> str:
        return f"<{self.n}" if reason == SMALL else HIDDEN

    @functools.cached_property
    def ranks_withheld(self) -> set[str]:
        """The countries with a named agency's requests withheld: their agencies' ranks are too."""
        return {key[1] for key in self.status if key[0] == "agency_total" and key[2] != other_agencies(self.n)}


def protect(con: duckdb.DuckDBPyConnection, period: str, n: int, cache: Path | None = None) -> Protection:
    """The protection of one period at n. With a `cache` folder, one computed before for the same
    figures, n and code is read from there rather than computed again (the CSVs and the pages of a
    run, and the periods a run does not change, pay for it once)."""
    system = build_system(con, period, n)
    digest = hashlib.sha256(repr((n, sorted(system.values.items()), system.sums, system.orders,
                                  sorted(system.floors.items()), sorted(system.known), sorted(system.derived.items()),
                                  Path(__file__).read_bytes())).encode()).hexdigest()
    saved = cache / f"{digest}.json" if cache else None
    if saved and saved.exists():
        data = json.loads(saved.read_text(encoding="utf-8"))
        saved.touch()  # kept: the least recently used go first
        return Protection(n, {tuple(k): why for k, why in data["status"]}, {tuple(k) for k in data["exposed"]})
    exposed: set[Key] = set()
    status = suppress(system.values, system.sums, n, system.known, system.floors, system.orders, exposed)
    for key, parts in system.derived.items():
        if any(p in status for p in parts):
            status[key] = DERIVED
    if saved:
        cache.mkdir(parents=True, exist_ok=True)
        data = {"status": sorted([list(k), why] for k, why in status.items()), "exposed": sorted(map(list, exposed))}
        temporary = saved.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        temporary.replace(saved)
        for old in sorted(cache.glob("*.json"), key=lambda f: f.stat().st_mtime)[:-CACHE_FILES]:
            old.unlink(missing_ok=True)
    return Protection(n, status, exposed)


class Protector:
    """Small-count protection for the public outputs written from one database (the warehouse
    or a staged report.duckdb): `mask(table, row)` gives a row with its withheld cells as
    `Withheld`. One instance per output step; periods are computed once, when first asked."""

    def __init__(self, con: duckdb.DuckDBPyConnection, n: int, cache: Path | None = None):
        self.con = con
        self.n = n
        self.cache = cache
        self._periods: dict[str, Protection] = {}

    def period(self, period: str) -> Protection:
        """The protection of one period; a small count that nothing could protect stops the
        output step (and so the run: nothing is published) with a one-line reason."""
        if period not in self._periods:
            protection = protect(self.con, period, self.n, self.cache)
            if protection.exposed:
                raise ExposedCounts(
                    f"{SETTING}={self.n}: {len(protection.exposed)} small counts of {period} could still be worked "
                    f"out from the published labels and rows whatever else is withheld; nothing was published; "
                    f"a larger {SETTING} protects them")
            self._periods[period] = protection
        return self._periods[period]

    def reason(self, table: str, row: dict, column: str) -> str | None:
        """Why the cell `column` of a row of a reporting table is withheld, or None."""
        period = row["period"]
        code = row.get("country_code")
        if table in ("information_requests", "information_requests_change", "information_requests_accounts"):
            if column.endswith("_change") or column.endswith("_change_share"):
                base = column.removesuffix("_share").removesuffix("_change")
                now = self.period(period).status.get(("country", code, base))
                before = self.period(previous_period(period)).status.get(("country", code, base))
                return DERIVED if now or before else None
            key: Key = ("country", code, column)
        elif table == "information_requests_global":
            key = ("global", column)
        elif table == "information_requests_by_outcome":
            key = ("outcome", code, row["request_type"], row["outcome"], column)
        elif table == "information_requests_by_outcome_global":
            key = ("outcome_global", row["request_type"], row["outcome"], column)
        elif table == "information_requests_by_agency":
            if column == "agency_rank":
                # computed from the requests of every named agency of the country: with one of
                # them withheld, the others' places would bound it
                return DERIVED if code in self.period(period).ranks_withheld else None
            key = (("agency_total", code, row["agency"]) if column == "agency_requests"
                   else ("agency", code, row["agency"], row.get("request_type"), column))
        elif table == "information_requests_by_legal_process_global":
            key = ("process", row["legal_process"], column)
        elif table == "information_requests_timing":
            key = ("timing", row["request_type"], column)
        else:
            raise KeyError(f"no small-count protection is defined for reporting.{table}")
        return self.period(period).status.get(key)

    def mask(self, table: str, row: dict) -> dict:
        """The row as published: each withheld cell replaced by `Withheld` (None stays None)."""
        out = dict(row)
        for column, value in row.items():
            if value is None or isinstance(value, str):
                continue
            why = self.reason(table, row, column)
            if why:
                out[column] = Withheld(f"<{self.n}" if why == SMALL else HIDDEN, why)
        return out
