"""The HTML report and the breakdown tables, on the hand-written end-to-end drop."""

from __future__ import annotations

import re

import duckdb
import pytest

from dagster_project.html_report import _fmt_count, _fmt_rate
from drops import run_in_process
from test_end_to_end import e2e_drop


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    run_in_process(e2e_drop(root / "raw"), root)
    con = duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True)
    yield root, con
    con.close()


@pytest.mark.parametrize(("value", "expected"), [(0.5, "50.0%"), (1 / 3, "33.3%"), (1.0, "100.0%"), (None, "\u2014")])
def test_rates_as_percentages_with_one_decimal(value, expected):
    assert _fmt_rate(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(1505, "1,505"), (0, "0"), (1234567, "1,234,567"), (None, "\u2014")])
def test_counts_with_thousands_separators(value, expected):
    assert _fmt_count(value) == expected


def test_distinct_accounts(built):
    _, con = built
    got = con.execute(
        "select period, country_code, accounts_specified, distinct_accounts, distinct_unresolved_identifiers "
        "from reporting.information_requests_accounts order by all"
    ).fetchall()
    # US 2023-H2: jane (U1, U3 by phone), bob and carol (U2), @ghost unresolved (U4)
    # GB 2023-H2: the shared phone (bob, carol) in G1 and G3; DE: jane and the renamed account; FR: jane
    assert got == [
        ("2023-H2", "GB", 2, 2, 0),
        ("2023-H2", "US", 5, 3, 1),
        ("2024-H1", "DE", 2, 2, 0),
        ("2024-H1", "FR", 1, 1, 0),
    ]


def test_by_legal_process(built):
    _, con = built
    got = con.execute(
        "select period, country_code, legal_process, requests, requests_disclosed, accounts_specified "
        "from reporting.information_requests_by_legal_process order by all"
    ).fetchall()
    assert got == [
        ("2023-H2", "GB", "subpoena", 3, 1, 2),
        ("2023-H2", "US", "subpoena", 4, 2, 5),
        ("2024-H1", "DE", "subpoena", 2, 2, 2),
        ("2024-H1", "FR", "subpoena", 1, 0, 1),
    ]


def test_median_days_to_outcome(built):
    root, con = built
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as wh:
        # U1: received 2023-08-15 12:00, pending on 08-16, disclosed on 09-01 00:00 -> 16.5 days
        assert wh.execute(
            "select days_to_outcome from intermediate.int_request_outcome_times where request_id = 'U1'"
        ).fetchone() == (16.5,)
    got = con.execute(
        "select period, request_type, requests_with_final_outcome from reporting.information_requests_timing order by all"
    ).fetchall()
    assert got == [("2023-H2", "emergency", 3), ("2023-H2", "legal", 3), ("2023-H2", "preservation", 1),
                   ("2024-H1", "legal", 2), ("2024-H1", "preservation", 1)]


# (an unknown legal process is 'other': the dbt unit test legal_processes_mapped_unknown_is_other)


def test_report_page_is_self_contained(built):
    root, _ = built
    page = (root / "exports" / "2023-H2" / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no remote resource
    assert "<script src" not in page and "<link" not in page
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references to the page's own SVG elements
    # the map, top countries, the periods and the outcomes; no country made 10 requests of a type,
    # so no rate chart
    assert page.count("<svg") == 4
    assert "No country made 10 or more legal requests in this period." in page
    assert 'href="information_requests.csv"' in page


def test_report_page_has_the_sections_of_a_public_report(built):
    root, _ = built
    page = (root / "exports" / "2023-H2" / "report.html").read_text()
    for text in ("Jul-Dec 2023", "published 20", "What this report covers", "Global figures", "Definitions",
                 "Legal requests", "Emergency requests", "Preservation requests", "Accounts specified",
                 "some data was disclosed", "By legal process", "Time to outcome", "Distinct accounts",
                 "Chart as text", 'id="country-filter"', "Who asks", "Each country over time",
                 "version 1, published 20", "Total requests by country"):
        assert text in page, text
    # global headline figures of 2023-H2 (hand-computed in test_end_to_end)
    assert "<span>Total requests</span><b>7</b>" in page
    assert "<span>Legal: some data disclosed</span><b>33.3%</b>" in page


def test_index_lists_every_period(built):
    root, _ = built
    index = (root / "exports" / "index.html").read_text()
    assert 'href="2023-H2/report.html"' in index and 'href="2024-H1/report.html"' in index
    assert index.index("2024-H1") < index.index("2023-H2")  # newest first


def test_by_outcome_shows_every_outcome_of_each_type_a_country_used(built):
    _, con = built
    got = con.execute(
        "select request_type, outcome, requests, accounts_specified, share_of_requests, share_of_final_requests "
        "from reporting.information_requests_by_outcome where period = '2023-H2' and country_code = 'US' order by all"
    ).fetchall()
    zero = {o: (0, 0, 0.0, None if o == "pending" else 0.0)
            for o in ("disclosed", "not_disclosed", "pending", "preserved", "rejected", "withdrawn")}
    expected = {
        # U3 (jane by phone) disclosed
        "emergency": {**zero, "disclosed": (1, 1, 1.0, 1.0)},
        # U1 (jane, one account) disclosed, U2 (bob and carol) rejected
        "legal": {**zero, "disclosed": (1, 1, 0.5, 0.5), "rejected": (1, 2, 0.5, 0.5)},
        # U4 (@ghost, unresolved: one account) preserved
        "preservation": {**zero, "preserved": (1, 1, 1.0, 1.0)},
    }
    assert got == [(t, o, *v) for t, outcomes in sorted(expected.items()) for o, v in sorted(outcomes.items())]


def test_by_agency_groups_each_country_and_type(built):
    _, con = built
    got = con.execute(
        "select agency, request_type, requests, requests_disclosed, agency_requests, agency_rank "
        "from reporting.information_requests_by_agency where period = '2023-H2' and country_code = 'US' order by all"
    ).fetchall()
    assert got == [("Test Police", "emergency", 1, 1, 4, 1), ("Test Police", "legal", 2, 1, 4, 1),
                   ("Test Police", "preservation", 1, 0, 4, 1)]


def test_change_from_the_previous_half_year(built):
    _, con = built
    got = con.execute(
        "select period, country_code, previous_period, total_requests_change from reporting.information_requests_change "
        "order by all").fetchall()
    # no country made requests in two consecutive half-years of the drop
    assert got == [("2023-H2", "GB", None, None), ("2023-H2", "US", None, None),
                   ("2024-H1", "DE", None, None), ("2024-H1", "FR", None, None)]


def test_preservation_process_has_no_disclosure_rate(built):
    _, con = built
    got = con.execute(
        "select legal_process, requests, requests_disclosable, disclosure_rate "
        "from reporting.information_requests_by_legal_process_global where period = '2024-H1' order by all"
    ).fetchall()
    # D1, D2 (legal, disclosed) and F1 (preservation) all named a subpoena
    assert got == [("subpoena", 3, 2, 1.0)]


def test_tidy_csvs_and_the_data_package_describe_each_other(built):
    import csv
    import json

    root, con = built
    exports = root / "exports"
    with (exports / "2023-H2" / "information_requests_by_outcome.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == con.execute("select count(*) from reporting.information_requests_by_outcome "
                                    "where period = '2023-H2'").fetchone()[0] == (3 + 2) * 6
    assert {"period": "2023-H2", "country_code": "US", "country_name": "United States", "request_type": "legal",
            "outcome": "rejected", "requests": "1", "accounts_specified": "2", "share_of_requests": "0.5",
            "share_of_final_requests": "0.5"} in rows
    every = (exports / "information_requests.csv").read_text().splitlines()
    per_period = [(exports / p / "information_requests.csv").read_text().splitlines() for p in ("2023-H2", "2024-H1")]
    assert every == per_period[0] + per_period[1][1:]
    package = json.loads((exports / "datapackage.json").read_text())
    listed = {r["path"] for r in package["resources"]}
    on_disk = {str(p.relative_to(exports)) for p in exports.rglob("*.csv")}
    assert listed == on_disk
    for resource in package["resources"]:
        with (exports / resource["path"]).open(newline="") as handle:
            header = next(csv.reader(handle))
        assert [f["name"] for f in resource["schema"]["fields"]] == header, resource["path"]
        assert all(f["description"] and f["type"] in ("string", "integer", "number", "date") for f in resource["schema"]["fields"])
    outcome = next(r for r in package["resources"] if r["path"] == "2023-H2/information_requests_by_outcome.csv")
    assert {f["name"]: f["type"] for f in outcome["schema"]["fields"]}["requests"] == "integer"


def test_index_shows_headline_figures_and_one_csv_of_every_period(built):
    root, _ = built
    index = (root / "exports" / "index.html").read_text()
    assert 'href="information_requests.csv"' in index
    row = index[index.index('href="2023-H2/report.html"'):].split("</tr>")[0]
    # 2023-H2: 7 requests, 4 legal, 3 emergency... as hand-computed in test_end_to_end
    assert '<td class="num">7</td>' in row and '<td class="num">33.3%</td>' in row
    for name in ("information_requests", "information_requests_by_outcome", "information_requests_by_agency"):
        assert f'href="2023-H2/{name}.csv"' in row and (root / "exports" / "2023-H2" / f"{name}.csv").exists()


def test_map_shades_the_countries_that_made_requests(built):
    root, _ = built
    page = (root / "exports" / "2023-H2" / "report.html").read_text()
    figure = page[page.index('id="map-title"'):].split("</figure>")[0]
    assert "<title>United States: 4 requests</title>" in figure
    assert "<title>United Kingdom: 3 requests</title>" in figure
    assert 'aria-label="Total requests by country: United States 4; United Kingdom 3"' in figure


# --- the charts' SVG, drawn without a plotting library -------------------------------------------

def _bars(svg: str) -> list[tuple[float, float, str]]:
    """(x, width, tooltip) of every bar of a chart."""
    return [(float(x), float(w), t) for x, w, t in
            re.findall(r'<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)" height="[0-9.]+" fill="[^"]+">'
                       r"<title>([^<]*)</title>", svg)]


def _row(name: str, legal: int, emergency: int, preservation) -> dict:
    total = legal + emergency + (preservation if isinstance(preservation, int) else 3)
    return {"country_name": name, "country_code": name[:2].upper(), "total_requests": total,
            "legal_requests": legal, "emergency_requests": emergency, "preservation_requests": preservation}


def test_a_bar_chart_draws_each_figure_to_one_scale_and_its_axis_holds_the_largest():
    from dagster_project.disclosure import SMALL, Withheld
    from dagster_project.html_report import chart_top_countries

    rows = [_row("Atlantis", 120, 30, 7), _row("Borduria", 3, 900, 0), _row("Syldavia", 40, 1, Withheld("<10", SMALL))]
    svg = chart_top_countries(rows)
    bars = _bars(svg)
    figures = {t: int(t.rsplit(": ", 1)[1].replace(",", "")) for _, _, t in bars}
    # one bar per figure above zero; the withheld type is the grey rest of Syldavia's total
    assert sorted(figures) == sorted(["Atlantis, legal: 120", "Atlantis, emergency: 30", "Atlantis, preservation: 7",
                                      "Borduria, legal: 3", "Borduria, emergency: 900",
                                      "Syldavia, legal: 40", "Syldavia, emergency: 1", "Syldavia, type withheld: 3"])
    scale = max(w for _, w, _ in bars) / 900
    # every bar's width in proportion to its figure (written to a tenth of a unit)
    assert all(abs(w - figures[t] * scale) <= 0.051 for _, w, t in bars), bars
    # the parts of a country's bar follow each other, the largest country first
    atlantis = [(x, w) for x, w, t in bars if t.startswith("Atlantis")]
    assert all(abs(a[0] + a[1] - b[0]) < 0.11 for a, b in zip(atlantis, atlantis[1:]))
    labels = re.findall(r'text-anchor="end" font-size="12" fill="[^"]+">([^<]+)</text>', svg)
    assert labels == ["Borduria", "Atlantis", "Syldavia"]
    ticks = [int(t.replace(",", "")) for t in re.findall(r'text-anchor="middle" font-size="11" fill="[^"]+">([0-9,]+)<', svg)]
    assert ticks[0] == 0 and ticks[-1] >= 903 and len(set(b - a for a, b in zip(ticks, ticks[1:]))) == 1


@pytest.mark.parametrize("top", [0, 0.4, 1, 3, 7, 10, 11, 99, 100, 101, 903, 1000, 12345, 7_654_321])
def test_an_axis_has_a_few_round_ticks_from_zero_past_the_largest_figure(top):
    from dagster_project.html_report import _ticks

    import math

    ticks = _ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= top and (ticks[-2] < top or top == 0)
    assert 2 <= len(ticks) <= 11 and round(step / 10 ** math.floor(math.log10(step)), 9) in (1, 2, 5)
    assert all(abs((b - a) - step) < 1e-9 for a, b in zip(ticks, ticks[1:]))


def test_a_rate_line_breaks_where_a_period_has_no_rate():
    from dagster_project.html_report import chart_periods

    def period(p, legal_rate):
        return {"period": p, "legal_requests": 10, "emergency_requests": 10, "preservation_requests": 1,
                "legal_disclosure_rate": legal_rate, "emergency_disclosure_rate": 0.5}

    svg = chart_periods([period("2023-H1", 0.2), period("2023-H2", None), period("2024-H1", 0.4),
                         period("2024-H2", 0.6)])
    legal = re.findall(r'<polyline points="([^"]+)" fill="none" stroke="#1f5f8b"', svg)
    emergency = re.findall(r'<polyline points="([^"]+)" fill="none" stroke="#d1495b"', svg)
    assert [len(line.split()) for line in legal] == [2]  # 2024-H1 to 2024-H2; 2023-H1 stands alone
    assert [len(line.split()) for line in emergency] == [4]
    dots = re.findall(r"<title>(\d{4}-H\d), legal: ([0-9.]+)% some data disclosed</title>", svg)
    assert dots == [("2023-H1", "20.0"), ("2024-H1", "40.0"), ("2024-H2", "60.0")]


def test_the_periods_chart_names_as_many_periods_as_fit():
    """Eight years of half-years: the names (50 units each) would overlap, so every n-th period is
    named, n the smallest that keeps them 50 apart; every period is drawn."""
    from dagster_project.html_report import chart_periods

    rows = [{"period": f"{2017 + i // 2}-H{i % 2 + 1}", "legal_requests": 10, "emergency_requests": 5,
             "preservation_requests": 1, "legal_disclosure_rate": 0.5, "emergency_disclosure_rate": 0.25}
            for i in range(16)]
    svg = chart_periods(rows)
    assert len(re.findall(r"<title>\d{4}-H\d, legal: 10</title>", svg)) == 16
    named = re.findall(r'<text x="([0-9.]+)"[^>]*font-size="11" fill="[^"]+">(\d{4}-H\d)</text>', svg)
    left = named[:len(named) // 2]  # then the same under the rates
    periods = [r["period"] for r in rows]
    n = periods.index(left[1][1])
    assert n >= 2 and [p for _, p in left] == periods[::n]
    assert [p for _, p in named[len(left):]] == [p for _, p in left]
    step = float(left[1][0]) - float(left[0][0])
    assert step >= 50 and step * (n - 1) / n < 50


def _text_extents(svg: str) -> list[tuple[str, float, float]]:
    """(text, left, right) of every figure on an axis, by DejaVu Sans's advance widths (the face
    chromium draws here): a digit 0.636 em, a comma 0.318 em, a % sign 0.95 em."""
    found = []
    for x, anchor, size, text in re.findall(
            r'<text x="([0-9.-]+)" y="[0-9.-]+" text-anchor="(\w+)" font-size="(\d+)"[^>]*>([0-9,%]+)</text>', svg):
        width = int(size) * sum(0.636 if c.isdigit() else 0.318 if c == "," else 0.95 for c in text)
        left = float(x) - {"start": 0, "middle": width / 2, "end": width}[anchor]
        found.append((text, left, left + width))
    return found


def test_an_axis_with_millions_stays_inside_its_chart():
    from dagster_project.html_report import CHART_WIDTH, chart_periods, chart_top_countries

    rows = [{"period": f"202{i}-H1", "legal_requests": 12_300_000 * (i + 1), "emergency_requests": 2_500_000,
             "preservation_requests": 1_000, "legal_disclosure_rate": 0.5, "emergency_disclosure_rate": 0.25}
            for i in range(4)]
    countries = [_row("United States", 15_400_000, 5, 5), _row("Wallis and Futuna", 3, 0, 0)]
    for svg in (chart_periods(rows), chart_top_countries(countries)):
        outside = [(t, round(a), round(b)) for t, a, b in _text_extents(svg) if a < 0 or b > CHART_WIDTH]
        assert not outside, outside
