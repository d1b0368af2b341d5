"""The human-readable report: one static, offline HTML page per period and an index of periods.

Charts are drawn by matplotlib as inline SVG (no script, no network); the country table is
sorted and filtered by a few lines of inline JavaScript.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

from dagster_project.partitions import period_value  # noqa: E402
from dagster_project.publication import write_file  # noqa: E402
from dagster_project.report_shape import html_columns  # noqa: E402

plt.rcParams.update({
    "svg.fonttype": "none",      # text stays text: smaller, selectable, readable by screen readers
    "svg.hashsalt": "irr",       # stable element ids: the same figures give the same bytes
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
})
COLORS = {"legal": "#1f5f8b", "emergency": "#d1495b", "preservation": "#8d99ae"}
MIN_REQUESTS_FOR_RATE = 10
TOP_COUNTRIES = 15

def country_columns() -> list[tuple[str, str, str]]:
    """The country table: the name, the measures declared for the HTML in dbt, distinct accounts."""
    return [("country_name", "Country", "text"), *html_columns(),
            ("distinct_accounts", "Distinct accounts", "count")]

DEFINITIONS = [
    ("Legal requests", "Requests for user data made under a legal process such as a subpoena, court "
     "order, search warrant or a request under a mutual legal assistance treaty (MLAT)."),
    ("Emergency requests", "Requests made without legal process because of an emergency involving "
     "imminent risk of death or serious physical injury."),
    ("Preservation requests", "Requests to preserve data for a period while the agency obtains legal "
     "process; no data is disclosed on a preservation request."),
    ("Total requests", "Legal, emergency and preservation requests together. A request is counted "
     "once, in its current state, in the half-year in which it was received (UTC)."),
    ("Percentage where some data was disclosed", "Of the legal (or emergency) requests, the share whose "
     "outcome is that some data was disclosed: all or part of what was asked for. Requests still "
     "pending, rejected, withdrawn or answered without data count as not disclosed."),
    ("Accounts specified", "The accounts named in the requests. Within one request, identifiers that "
     "refer to the same account (a username, an email address, a phone number, a link to one of its "
     "videos) count once; identifiers that refer to no known account count as one account each; "
     "identifiers that are not identifiers at all (such as 'N/A') count for nothing. The figure for a "
     "country is the sum over its requests."),
    ("Distinct accounts", "Accounts named in any request of the country in the half-year, each "
     "counted once however many requests named it (known accounts only)."),
]


@dataclass(frozen=True)
class Page:
    period: str
    path: Path


def _fmt_count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def _fmt_rate(value) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG


def _figure(chart_id: str, title: str, svg: str, alt: str) -> str:
    return (
        f'<figure class="chart" role="group" aria-labelledby="{chart_id}-title">'
        f'<h3 id="{chart_id}-title">{html.escape(title)}</h3>'
        f'<div role="img" aria-label="{html.escape(alt)}">{svg}</div>'
        f'<figcaption><details><summary>Chart as text</summary><p>{html.escape(alt)}</p></details></figcaption>'
        "</figure>"
    )


def chart_top_countries(rows: list[dict]) -> str:
    top = sorted(rows, key=lambda r: (-r["total_requests"], r["country_name"]))[:TOP_COUNTRIES][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(top) + 1))
    left = [0] * len(top)
    for kind in ("legal", "emergency", "preservation"):
        values = [r[f"{kind}_requests"] for r in top]
        ax.barh([r["country_name"] for r in top], values, left=left, color=COLORS[kind], label=kind.title())
        left = [a + b for a, b in zip(left, values)]
    ax.set_xlabel("Requests")
    ax.legend(frameon=False, loc="lower right")
    alt = "Top countries by total requests: " + "; ".join(
        f"{r['country_name']} {r['total_requests']:,} (legal {r['legal_requests']:,}, emergency "
        f"{r['emergency_requests']:,}, preservation {r['preservation_requests']:,})" for r in top[::-1])
    return _figure("top-countries", f"Top {len(top)} countries by total requests, by type", _svg(fig), alt)


def chart_rates(rows: list[dict], kind: str) -> str:
    eligible = sorted((r for r in rows if r[f"{kind}_requests"] >= MIN_REQUESTS_FOR_RATE),
                      key=lambda r: (r[f"{kind}_disclosure_rate"], r["country_name"]))
    title = f"{kind.title()} requests where some data was disclosed (countries with at least {MIN_REQUESTS_FOR_RATE})"
    if not eligible:
        return (f'<figure class="chart"><h3>{html.escape(title)}</h3>'
                f"<p>No country made {MIN_REQUESTS_FOR_RATE} or more {kind} requests in this period.</p></figure>")
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(eligible) + 1))
    ax.barh([r["country_name"] for r in eligible], [100 * r[f"{kind}_disclosure_rate"] for r in eligible],
            color=COLORS[kind])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of requests where some data was disclosed")
    alt = f"{kind.title()} disclosure rate by country: " + "; ".join(
        f"{r['country_name']} {_fmt_rate(r[f'{kind}_disclosure_rate'])} of {r[f'{kind}_requests']:,}"
        for r in eligible[::-1])
    return _figure(f"{kind}-rates", title, _svg(fig), alt)


def chart_periods(global_rows: list[dict]) -> str:
    periods = [r["period"] for r in global_rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    width = 0.27
    for i, kind in enumerate(("legal", "emergency", "preservation")):
        left.bar([p + (i - 1) * width for p in range(len(periods))], [r[f"{kind}_requests"] for r in global_rows],
                 width=width, color=COLORS[kind], label=kind.title())
    left.set_xticks(range(len(periods)), periods)
    left.set_ylabel("Requests")
    left.legend(frameon=False, fontsize=8)
    for kind in ("legal", "emergency"):
        values = [None if r[f"{kind}_disclosure_rate"] is None else 100 * r[f"{kind}_disclosure_rate"]
                  for r in global_rows]
        right.plot(periods, values, marker="o", color=COLORS[kind], label=f"{kind.title()}: some data disclosed")
    right.set_ylim(0, 100)
    right.set_ylabel("%")
    right.legend(frameon=False, fontsize=8)
    alt = "Every published period: " + "; ".join(
        f"{r['period']}: legal {r['legal_requests']:,}, emergency {r['emergency_requests']:,}, preservation "
        f"{r['preservation_requests']:,}; legal disclosed {_fmt_rate(r['legal_disclosure_rate'])}, emergency "
        f"disclosed {_fmt_rate(r['emergency_disclosure_rate'])}" for r in global_rows)
    return _figure("periods", "Requests by type and disclosure rates, every published period", _svg(fig), alt)


def _table(rows: list[dict], columns, table_id: str, caption: str) -> str:
    head = "".join(
        f'<th scope="col" data-type="{kind}"><button type="button">{html.escape(label)}</button></th>'
        for _, label, kind in columns
    )
    body = []
    for row in rows:
        cells = []
        for key, _, kind in columns:
            value = row.get(key)
            if kind == "text":
                cells.append(f'<td data-value="{html.escape(str(value))}">{html.escape(str(value))}</td>')
            else:
                shown = _fmt_rate(value) if kind == "rate" else _fmt_count(value)
                sort = "" if value is None else repr(float(value))
                cells.append(f'<td class="num" data-value="{sort}">{shown}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="{table_id}" class="sortable"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


SCRIPT = """
(function () {
  function sortTable(table, index, type, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute('data-value'), y = b.cells[index].getAttribute('data-value');
      var c;
      if (type === 'text') { c = x.localeCompare(y); }
      else {
        var nx = x === '' ? -Infinity : parseFloat(x), ny = y === '' ? -Infinity : parseFloat(y);
        c = nx < ny ? -1 : (nx > ny ? 1 : 0);
      }
      return ascending ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.querySelector('button').addEventListener('click', function () {
        sortTable(table, index, th.getAttribute('data-type'), th);
      });
    });
  });
  var filter = document.getElementById('country-filter');
  if (filter) {
    filter.addEventListener('input', function () {
      var needle = filter.value.trim().toLowerCase();
      var rows = document.getElementById('countries').tBodies[0].rows;
      var shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var match = row.cells[0].textContent.toLowerCase().indexOf(needle) !== -1;
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      document.getElementById('filter-count').textContent = shown + ' of ' + rows.length + ' countries';
    });
  }
})();
"""

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.8rem;margin:.2rem 0} h2{margin-top:2.2rem;border-bottom:1px solid #d8dee6;padding-bottom:.3rem}
.meta{color:#566473}.headline{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.tile{border:1px solid #d8dee6;border-radius:8px;padding:.8rem 1rem;min-width:150px}
.tile b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
caption{text-align:left;color:#566473;padding:.3rem 0}
th,td{padding:.35rem .5rem;border-bottom:1px solid #e6eaef;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th button{all:unset;cursor:pointer;font-weight:600}
th[aria-sort=ascending] button::after{content:" \\25B2"} th[aria-sort=descending] button::after{content:" \\25BC"}
.chart{margin:1.2rem 0} .chart svg{max-width:100%;height:auto}
dt{font-weight:600;margin-top:.6rem} dd{margin-left:0;color:#33414f}
input[type=search]{padding:.4rem .6rem;font-size:1rem;width:18rem;max-width:100%}
"""


def _page(title: str, body: str, script: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main>{f'<script>{script}</script>' if script else ''}</body></html>\n"
    )


def render_period(con: duckdb.DuckDBPyConnection, period: str) -> str:
    """The report page of one period, from the published reporting tables: every figure as
    dbt computed it, formatted here."""
    countries = _rows(con, """
        select r.*, a.distinct_accounts
        from reporting.information_requests as r
        left join reporting.information_requests_accounts as a using (period, country_code)
        where r.period = ? order by r.total_requests desc, r.country_name""", [period])
    if not countries:
        raise ValueError(f"no requests in period {period}")
    totals = _rows(con, "select * from reporting.information_requests_global where period = ?", [period])[0]
    history = _rows(con, "select * from reporting.information_requests_global order by period")
    published = con.execute(
        "select max(published_at) from reporting.report_versions where period = ?", [period]
    ).fetchone()[0]
    processes = _rows(con, """
        select * from reporting.information_requests_by_legal_process_global
        where period = ? order by requests desc, legal_process""", [period])
    timing = _rows(con, "select * from reporting.information_requests_timing where period = ? order by request_type",
                   [period])

    label = period_value(period)
    published_text = published.date().isoformat() if published is not None else "not yet published"
    tiles = "".join(
        f'<div class="tile"><span>{html.escape(name)}</span><b>{value}</b></div>'
        for name, value in (
            ("Total requests", _fmt_count(totals["total_requests"])),
            ("Legal requests", _fmt_count(totals["legal_requests"])),
            ("Emergency requests", _fmt_count(totals["emergency_requests"])),
            ("Preservation requests", _fmt_count(totals["preservation_requests"])),
            ("Legal: some data disclosed", _fmt_rate(totals["legal_disclosure_rate"])),
            ("Emergency: some data disclosed", _fmt_rate(totals["emergency_disclosure_rate"])),
            ("Accounts specified", _fmt_count(totals["accounts_specified"])),
            ("Countries", _fmt_count(totals["countries"])),
        )
    )
    definitions = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in DEFINITIONS)
    process_rows = "".join(
        f"<tr><td>{html.escape(p['legal_process'])}</td><td class=\"num\">{_fmt_count(p['requests'])}</td>"
        f"<td class=\"num\">{_fmt_rate(p['disclosure_rate'])}</td>"
        f"<td class=\"num\">{_fmt_count(p['accounts_specified'])}</td></tr>" for p in processes)
    timing_rows = "".join(
        f"<tr><td>{html.escape(t['request_type'].title())}</td><td class=\"num\">{_fmt_count(t['requests_with_final_outcome'])}</td>"
        f"<td class=\"num\">{t['median_days_to_outcome']:.1f}</td></tr>" for t in timing)
    body = f"""
<header><p class="meta"><a href="../index.html">All periods</a></p>
<h1>Information Requests Report: {html.escape(label)}</h1>
<p class="meta">Period {html.escape(period)} ({totals['period_start']} to {totals['period_end']}) · published {html.escape(published_text)}
· <a href="information_requests.csv">Download the data (CSV)</a></p></header>
<section aria-labelledby="about"><h2 id="about">What this report covers</h2>
<p>This report counts the requests for user data that law enforcement agencies sent to the platform in
{html.escape(label)}, by requesting country and kind of request, how many accounts they specified, and how
often some data was disclosed. Each request is counted once, in its current state, in the half-year in
which it was received.</p></section>
<section aria-labelledby="headline"><h2 id="headline">Global figures</h2><div class="headline">{tiles}</div>
<p>Across all countries, the requests named {_fmt_count(totals['distinct_accounts'])} distinct known accounts
(an account named in several requests of a country counts once per country).</p></section>
<section aria-labelledby="charts"><h2 id="charts">Charts</h2>
{chart_top_countries(countries)}
{chart_rates(countries, 'legal')}
{chart_rates(countries, 'emergency')}
{chart_periods(history)}
</section>
<section aria-labelledby="by-country"><h2 id="by-country">By country</h2>
<label for="country-filter">Filter countries by name</label>
<input id="country-filter" type="search" autocomplete="off"> <span id="filter-count" aria-live="polite"></span>
{_table(countries, country_columns(), 'countries', 'Requests by country; select a column heading to sort.')}
</section>
<section aria-labelledby="processes"><h2 id="processes">By legal process</h2>
<table id="legal-processes"><caption>All countries; processes the report does not recognise are grouped as "other".</caption>
<thead><tr><th scope="col">Legal process</th><th scope="col">Requests</th><th scope="col">Some data disclosed</th><th scope="col">Accounts specified</th></tr></thead>
<tbody>{process_rows}</tbody></table></section>
<section aria-labelledby="timing"><h2 id="timing">Time to outcome</h2>
<table id="timing-table"><caption>Median days from receipt to the final outcome, for requests that have one.</caption>
<thead><tr><th scope="col">Request type</th><th scope="col">Requests with a final outcome</th><th scope="col">Median days</th></tr></thead>
<tbody>{timing_rows}</tbody></table></section>
<section aria-labelledby="definitions"><h2 id="definitions">Definitions</h2><dl>{definitions}</dl></section>
"""
    return _page(f"Information Requests Report, {label}", body, SCRIPT)


def render_index(con: duckdb.DuckDBPyConnection, export_dir: Path) -> str:
    rows = _rows(con, "select period, total_requests, countries from reporting.information_requests_global order by period desc")
    items = "".join(
        f"<tr><td><a href=\"{html.escape(r['period'])}/report.html\">{html.escape(period_value(r['period']))}</a></td>"
        f"<td class=\"num\">{_fmt_count(r['total_requests'])}</td><td class=\"num\">{_fmt_count(r['countries'])}</td>"
        f"<td><a href=\"{html.escape(r['period'])}/information_requests.csv\">CSV</a></td></tr>"
        for r in rows if (export_dir / r["period"] / "report.html").exists()
    )
    body = ("<h1>Information Requests Reports</h1><p class=\"meta\">Every published half-year.</p>"
            "<table><thead><tr><th scope=\"col\">Period</th><th scope=\"col\">Total requests</th>"
            f"<th scope=\"col\">Countries</th><th scope=\"col\">Data</th></tr></thead><tbody>{items}</tbody></table>")
    return _page("Information Requests Reports", body)


def _write(path: Path, text: str) -> None:
    write_file(path, text.encode("utf-8"))


def write_reports(con: duckdb.DuckDBPyConnection, export_dir: Path, periods: list[str]) -> list[Page]:
    """Write `<period>/report.html` for the given periods and rebuild `index.html`."""
    pages = []
    for period in periods:
        path = export_dir / period / "report.html"
        _write(path, render_period(con, period))
        pages.append(Page(period, path))
    _write(export_dir / "index.html", render_index(con, export_dir))
    return pages
