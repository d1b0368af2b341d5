"""The HTML report in a real browser (Debian's headless Chromium, driven by Playwright), at a
desktop's width and a phone's (390 px): no console errors, no network, table cells equal
report.duckdb, sorting by a click, the filter by any alias, the map, screenshots."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess

import duckdb
import pytest

from dagster_project.dbt_project import SEEDS_DIR
from dagster_project.html_report import _fmt_count, _fmt_rate, _fmt_value
from dagster_project.resources import SAMPLE_RAW_DIR
from drops import run_in_process

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PERIOD = "2024-H2"


def chromium() -> str:
    """Debian's chromium, installed by this test setup where missing (the machine's registry has it)."""
    path = shutil.which("chromium")
    if path is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True,
                       timeout=1200, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed and could not be installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("browser")
    run_in_process(SAMPLE_RAW_DIR, root)
    page_path = root / "exports" / PERIOD / "report.html"
    events = {"console": [], "requests": [], "errors": []}
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(root / "profile"), executable_path=chromium(), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900},
        )
        page = context.new_page()
        page.on("console", lambda m: events["console"].append((m.type, m.text)))
        page.on("pageerror", lambda e: events["errors"].append(str(e)))
        page.on("request", lambda r: events["requests"].append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        yield root, page, events, page_path
        context.close()


def _cells(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#countries tbody tr:not([hidden])", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")


def test_no_console_errors_and_no_network(browser_page):
    _, _, events, page_path = browser_page
    assert events["errors"] == []
    assert [m for m in events["console"] if m[0] == "error"] == []
    assert events["requests"] == [page_path.as_uri()]


def test_table_cells_equal_the_report_database(browser_page):
    root, page, _, _ = browser_page
    with duckdb.connect(str(root / "warehouse" / "report.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select r.country_name, r.total_requests, r.legal_requests, r.legal_disclosure_rate, "
            "r.legal_requests_nondisclosure_order, "
            "r.legal_accounts_specified, r.emergency_requests, r.emergency_disclosure_rate, "
            "r.emergency_accounts_specified, r.preservation_requests, r.preservation_accounts_specified, "
            "a.distinct_accounts, c.total_requests_change_share, c.legal_disclosure_rate_change "
            "from reporting.information_requests r "
            "join reporting.information_requests_accounts a using (period, country_code) "
            "join reporting.information_requests_change c using (period, country_code) "
            "where r.period = ? order by r.total_requests desc, r.country_name", [PERIOD]).fetchall()
    figures = [[_fmt_rate(v) if i in (2, 6) else _fmt_count(v) for i, v in enumerate(rest[:-2])] for _, *rest in rows]
    # the change in requests beside the total, the change of the legal rate last
    expected = [[row[0], cells[0], _fmt_value(row[-2], "share_change"), *cells[1:], _fmt_value(row[-1], "rate_change")]
                for row, cells in zip(rows, figures)]
    assert len(expected) >= 20
    assert _cells(page) == expected


def test_sorting_by_clicking_a_header(browser_page):
    _, page, _, _ = browser_page
    header = page.locator("#countries thead th", has_text="Legal requests").first
    # a figure sorts largest first on the first click, smallest first on the next
    header.locator("button").click()
    descending = [int(row[3].replace(",", "")) for row in _cells(page)]
    assert descending == sorted(descending, reverse=True) and header.get_attribute("aria-sort") == "descending"
    header.locator("button").click()
    ascending = [int(row[3].replace(",", "")) for row in _cells(page)]
    assert ascending == sorted(descending) and header.get_attribute("aria-sort") == "ascending"
    # numeric headings sit over their right-aligned numbers
    assert header.evaluate("th => getComputedStyle(th).textAlign") == "right"
    page.locator("#countries thead th", has_text="Country").first.locator("button").click()
    names = [row[0] for row in _cells(page)]
    assert names == sorted(names, key=str.lower) or names == sorted(names)


@pytest.mark.parametrize(("typed", "found"), [
    ("united", ["Mexico", "United Kingdom", "United States"]),  # Mexico: "United Mexican States"
    ("USA", ["United States"]), ("US", ["United States"]),    # not Australia nor Russia
    ("Turkey", ["Türkiye"]), ("russian fed", ["Russia"]), ("kor", ["South Korea"]),
])
def test_filter_by_any_alias(browser_page, typed, found):
    _, page, _, _ = browser_page
    page.fill("#country-filter", typed)
    assert sorted(row[0] for row in _cells(page)) == found
    assert page.text_content("#filter-count").endswith("countries")
    page.fill("#country-filter", "")


def test_charts_render_with_text_alternatives_and_a_screenshot(browser_page):
    root, page, _, _ = browser_page
    # the map, top countries, the two rate charts, every period, the outcomes
    assert page.locator("figure.chart svg").count() == 6
    labels = page.eval_on_selector_all("figure.chart [role=img]", "els => els.map(e => e.getAttribute('aria-label'))")
    assert len(labels) == 6 and all(len(label) > 40 for label in labels)
    assert page.locator("#map-title").text_content() == "Total requests by country"
    assert page.locator("figure.chart svg.map path").count() > 150
    assert page.locator("figure.chart svg.map g title").count() >= 20  # one per country with requests
    # every country drawn inside the map
    width = page.evaluate("document.querySelector('svg.map').getBoundingClientRect().right")
    assert page.evaluate("Math.max(...Array.from(document.querySelectorAll('svg.map path'))"
                         ".map(p => p.getBoundingClientRect().right))") <= width + 1
    # every label and figure of a chart inside its drawing (inline SVG cuts off what is not)
    outside = page.evaluate("""() => Array.from(document.querySelectorAll('figure.chart svg:not(.map)')).flatMap(svg => {
        const box = svg.viewBox.baseVal;
        return Array.from(svg.querySelectorAll('text')).map(t => [t.textContent, t.getBBox()])
            .filter(([, b]) => b.x < 0 || b.y < 0 || b.x + b.width > box.width || b.y + b.height > box.height)
            .map(([text]) => text); })""")
    assert outside == []
    shot = root / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("IRR_SCREENSHOT_DIR"):
        shutil.copy(shot, os.path.join(os.environ["IRR_SCREENSHOT_DIR"], "report.png"))
    # and the same for the shortest and longest country names there are, alone in a chart
    from dagster_project.html_report import STYLE, _stacked_bars

    names = sorted(r["country_name"] for r in csv.DictReader((SEEDS_DIR / "countries.csv").open()))
    names = sorted(names, key=len)[:25] + sorted(names, key=len)[-5:]
    svgs = "".join(f"<figure class='chart'>{_stacked_bars([n], [('legal', '#000', [5])], 'Requests')}</figure>"
                   for n in names)
    other = page.context.new_page()
    other.set_content(f"<html><head><style>{STYLE}</style></head><body><main>{svgs}</main></body></html>")
    clipped = other.evaluate("""() => Array.from(document.querySelectorAll('svg text'))
        .filter(t => t.getBBox().x < 0).map(t => t.textContent)""")
    assert clipped == []
    other.close()


def test_usable_on_a_phone(browser_page):
    """390 px wide: the page body does not scroll sideways; the table scrolls in its own box with
    the country names kept in view."""
    root, page, _, page_path = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate("document.body.scrollWidth") <= 390
        first = page.locator("#countries tbody tr td").first
        assert first.evaluate("td => getComputedStyle(td).position") == "sticky"
        shot = root / "report-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("IRR_SCREENSHOT_DIR"):
            shutil.copy(shot, os.path.join(os.environ["IRR_SCREENSHOT_DIR"], "report-phone.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
