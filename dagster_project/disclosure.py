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
that one cell. Suppression starts from the small counts and, while a withheld cell is determined,
withholds the smallest published cell of a sum it is in (a non-zero one if there is one), then
looks again. The protection is against exact recovery: the sums still bound a withheld cell.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

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
    if raw == "" or raw == "0":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{SETTING} must be a whole number (counts below it are withheld), not {raw!r}")
    n = int(raw)
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


def build_system(con: duckdb.DuckDBPyConnection, period: str) -> System:
    """The published counts of one period, from the reporting tables, and their sums."""
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
    outcomes = dict_rows(con, "select * from reporting.information_requests_by_outcome where period = ?", [period])
    for row in outcomes:
        for column in ("requests", "accounts_specified"):
            values[("outcome", row["country_code"], row["request_type"], row["outcome"], column)] = int(row[column])
    outcome_names = sorted({r["outcome"] for r in outcomes})
    world_outcomes = dict_rows(con, "select * from reporting.information_requests_by_outcome_global where period = ?",
                           [period])
    for row in world_outcomes:
        for column in ("requests", "accounts_specified"):
            values[("outcome_global", row["request_type"], row["outcome"], column)] = int(row[column])
    agencies = dict_rows(con, "select * from reporting.information_requests_by_agency where period = ?", [period])
    for row in agencies:
        code, agency = row["country_code"], row["agency"]
        for column in ("requests", "requests_disclosed"):
            values[("agency", code, agency, row["request_type"], column)] = int(row[column])
        values[("agency_total", code, agency)] = int(row["agency_requests"])
    processes = dict_rows(con, "select * from reporting.information_requests_by_legal_process_global where period = ?",
                      [period])
    process_columns = ("requests", "requests_disclosed", "requests_disclosable", "accounts_specified")
    for row in processes:
        for column in process_columns:
            values[("process", row["legal_process"], column)] = int(row[column])
    timing = dict_rows(con, "select * from reporting.information_requests_timing where period = ?", [period])
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
    # the disclosed requests of every type, and the requests that could disclose (not preservation)
    disclosed = [("outcome_global", t, "disclosed", "requests") for t in types]
    if disclosed:
        add(disclosed[0], [("process", p, "requests_disclosed") for p in names], more=tuple(disclosed[1:]))
    disclosable = [("global", f"{t}_requests") for t in types if t != "preservation"]
    if disclosable:
        add(disclosable[0], [("process", p, "requests_disclosable") for p in names], more=tuple(disclosable[1:]))

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
    """The unknown cells whose value the sums fix, given every other cell.

    Gaussian elimination over the rationals, keeping the basis fully reduced: each basis row
    has its pivot and no other pivot column. A unit vector lies in the row space exactly when a
    row of the reduced form is that unit vector."""
    order = sorted(unknown)
    index = {key: i for i, key in enumerate(order)}
    basis: dict[int, dict[int, Fraction]] = {}
    for terms in sums:
        row = {index[k]: Fraction(c) for k, c in terms.items() if k in index}
        for pivot in [p for p in row if p in basis]:
            factor = row.get(pivot)
            if not factor:
                continue
            for col, coef in basis[pivot].items():
                value = row.get(col, 0) - factor * coef
                if value:
                    row[col] = value
                else:
                    row.pop(col, None)
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {col: coef / scale for col, coef in row.items()}
        for other in basis.values():
            factor = other.get(pivot)
            if factor:
                for col, coef in row.items():
                    value = other.get(col, 0) - factor * coef
                    if value:
                        other[col] = value
                    else:
                        other.pop(col, None)
        basis[pivot] = row
    return {order[p] for p, row in basis.items() if len(row) == 1}


def suppress(values: dict[Key, int], sums: list[dict[Key, int]], n: int, known: set[Key] = frozenset()) -> dict[Key, str]:
    """The withheld cells, each with its reason: the counts from 1 to n-1, and the cells withheld
    so that none of those can be worked out from the published ones (`known` cells, which a
    reader knows anyway, are never chosen)."""
    withheld = {k: SMALL for k, v in values.items() if 1 <= v < n}
    if not withheld:
        return withheld
    known = set(known)
    sums_of: dict[Key, list[int]] = {}
    for i, terms in enumerate(sums):
        for key in terms:
            sums_of.setdefault(key, []).append(i)

    def cost(key: Key) -> tuple:
        # the least informative cell: a non-zero one before a zero (a withheld zero beside a
        # small count bounds it), then the smallest, then a stable order
        return (values[key] == 0, values[key], key)

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

    def protect(cell: Key) -> None:
        """Withhold one more cell so that `cell` is no longer given away. With none left to
        withhold, the sums pin `cell` from withheld cells alone: it is a zero every reader knows
        (a small count never is), so it is published after all."""
        extra = complement(cell)
        if extra is not None:
            withheld[extra] = COMPLEMENT
        elif values[cell] == 0 and withheld.get(cell) == COMPLEMENT:
            del withheld[cell]
            known.add(cell)
        else:
            raise RuntimeError(f"small-count protection found no cell to withhold beside {cell}")

    while True:
        # the cheap pass: a sum with one withheld cell gives it away
        changed = True
        while changed:
            changed = False
            for terms in sums:
                hidden = [k for k in terms if k in withheld]
                if len(hidden) == 1:
                    protect(hidden[0])
                    changed = True
        found = sorted(determined(set(withheld), sums))
        if not found:
            return withheld
        for cell in found:
            if cell in withheld:
                protect(cell)


@dataclass
class Protection:
    """The withheld cells of one period: counts (small or complementary) and derived figures."""

    n: int
    status: dict[Key, str]

    def shown(self, reason: str) -> str:
        return f"<{self.n}" if reason == SMALL else HIDDEN


def protect(con: duckdb.DuckDBPyConnection, period: str, n: int) -> Protection:
    system = build_system(con, period)
    status = suppress(system.values, system.sums, n, system.known)
    for key, parts in system.derived.items():
        if any(p in status for p in parts):
            status[key] = DERIVED
    return Protection(n, status)


class Protector:
    """Small-count protection for the public outputs written from one database (the warehouse
    or a staged report.duckdb): `mask(table, row)` gives a row with its withheld cells as
    `Withheld`. One instance per output step; periods are computed once, when first asked."""

    def __init__(self, con: duckdb.DuckDBPyConnection, n: int):
        self.con = con
        self.n = n
        self._periods: dict[str, Protection] = {}

    def period(self, period: str) -> Protection:
        if period not in self._periods:
            self._periods[period] = protect(self.con, period, self.n)
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
            if column == "agency_rank":  # a withheld agency's place in the order is withheld too
                return DERIVED if self.period(period).status.get(("agency_total", code, row["agency"])) else None
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
