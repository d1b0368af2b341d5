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


@pytest.mark.parametrize(("value", "expected"), [(0.5, "50.0%"), (1 / 3, "33.3%"), (1.0, "100.0%"), (None, "–")])
def test_rates_as_percentages_with_one_decimal(value, expected):
    assert _fmt_rate(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(1505, "1,505"), (0, "0"), (1234567, "1,234,567"), (None, "–")])
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


def test_unrecognised_legal_process_is_other(tmp_path):
    from drops import event, write_drop
    from contract_cases import ACCOUNTS, SHORT_LINKS, VIDEOS

    raw = write_drop(tmp_path / "raw", {"a.jsonl": [
        event("P1", ["@jane.doe"], legal_process="Court Order"),
        event("P2", ["@jane.doe"], legal_process="letter rogatory"),
        event("P3", ["@jane.doe"], legal_process=None),
        event("P4", ["@jane.doe"], legal_process=" MLAT "),
    ]}, ACCOUNTS, VIDEOS, SHORT_LINKS)
    run_in_process(raw, tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse" / "report.duckdb"), read_only=True) as con:
        got = con.execute("select legal_process, requests from reporting.information_requests_by_legal_process "
                          "order by 1").fetchall()
    assert got == [("MLAT", 1), ("court order", 1), ("not stated", 1), ("other", 1)]


def test_report_page_is_self_contained(built):
    root, _ = built
    page = (root / "exports" / "2023-H2" / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no remote resource
    assert "<script src" not in page and "<link" not in page
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references to the page's own SVG elements
    # top countries and the periods; no country made 10 requests of a type, so no rate chart
    assert page.count("<svg") == 2
    assert "No country made 10 or more legal requests in this period." in page
    assert 'href="information_requests.csv"' in page


def test_report_page_has_the_sections_of_a_public_report(built):
    root, _ = built
    page = (root / "exports" / "2023-H2" / "report.html").read_text()
    for text in ("Jul-Dec 2023", "published 20", "What this report covers", "Global figures", "Definitions",
                 "Legal requests", "Emergency requests", "Preservation requests", "Accounts specified",
                 "some data was disclosed", "By legal process", "Time to outcome", "Distinct accounts",
                 "Chart as text", 'id="country-filter"'):
        assert text in page, text
    # global headline figures of 2023-H2 (hand-computed in test_end_to_end)
    assert "<span>Total requests</span><b>7</b>" in page
    assert "<span>Legal: some data disclosed</span><b>33.3%</b>" in page


def test_index_lists_every_period(built):
    root, _ = built
    index = (root / "exports" / "index.html").read_text()
    assert 'href="2023-H2/report.html"' in index and 'href="2024-H1/report.html"' in index
    assert index.index("2024-H1") < index.index("2023-H2")  # newest first
