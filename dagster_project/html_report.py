"""The human-readable report: one static, offline HTML page per period and an index of periods.

Charts are inline SVG written here (no script, no network, no plotting library); the country table is
sorted and filtered by a few lines of inline JavaScript.
"""

from __future__ import annotations

import functools
import hashlib
import html
import math
import re
from importlib import resources
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.disclosure import COMPLEMENT, DERIVED, SMALL, Protector, Withheld, agency_rows
from dagster_project.partitions import period_value
from dagster_project.publication import write_file
from dagster_project.report_shape import html_columns
from dagster_project.resources import dict_rows


COLORS = {"legal": "#1f5f8b", "emergency": "#d1495b", "preservation": "#8d99ae"}
# the outcomes of contract 1.1, in the order of the stacked bars, and their colours
OUTCOME_COLORS = {"disclosed": "#1f5f8b", "not_disclosed": "#7fa7c9", "rejected": "#d1495b",
                  "withdrawn": "#e9a3ad", "preserved": "#8d99ae", "pending": "#e3c567"}
NO_VALUE = "\u2014"  # an em dash: no requests, so no figure
MIN_REQUESTS_FOR_RATE = 10
TOP_COUNTRIES = 15
TOP_AGENCIES = 3

def country_columns() -> list[tuple[str, str, str]]:
    """The country table: the name, the measures declared for the HTML in dbt, distinct accounts."""
    first, *rest = html_columns()
    # the change from the previous half-year beside the figure it changes
    return [("country_name", "Country", "text"), first,
            ("total_requests_change_share", "vs. previous half-year", "share_change"), *rest,
            ("distinct_accounts", "Distinct accounts", "count"),
            ("legal_disclosure_rate_change", "Legal disclosed vs. previous half-year", "rate_change")]

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
    if isinstance(value, Withheld):
        return value.shown
    return NO_VALUE if value is None else f"{int(value):,}"


def _num(value):
    """A figure a chart can draw: the number, or None when there is none or it is withheld."""
    return None if value is None or isinstance(value, Withheld) else value


# what the reader is told of a withheld figure (small-count protection, IRR_PUBLIC_MIN_COUNT)
WITHHELD_TITLES = {
    SMALL: "fewer than the smallest count this report publishes",
    COMPLEMENT: "withheld so that a small count cannot be worked out from the other figures",
    DERIVED: "withheld: computed from a withheld count",
}


def _h(value, kind: str | None = "count") -> str:
    """A figure as HTML: a withheld one marked, with why in its title."""
    if isinstance(value, Withheld):
        return (f'<abbr class="withheld" title="{html.escape(WITHHELD_TITLES[value.reason])}">'
                f"{html.escape(value.shown)}</abbr>")
    return html.escape(_fmt_value(value, kind))


def _fmt_rate(value) -> str:
    if isinstance(value, Withheld):
        return value.shown
    return NO_VALUE if value is None else f"{100 * float(value):.1f}%"


def country_terms() -> dict[str, list[str]]:
    """Every alias of each country (seeds/country_aliases.csv), for the table's filter."""
    import csv

    from dagster_project.dbt_project import SEEDS_DIR

    terms: dict[str, list[str]] = {}
    with (SEEDS_DIR / "country_aliases.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            terms.setdefault(row["country_code"], []).append(row["alias"].strip().lower())
    return terms


def _figure(chart_id: str, title: str, svg: str, alt: str) -> str:
    return (
        f'<figure class="chart" role="group" aria-labelledby="{chart_id}-title">'
        f'<h3 id="{chart_id}-title">{html.escape(title)}</h3>'
        f'<div role="img" aria-label="{html.escape(alt)}">{svg}</div>'
        f'<figcaption><details><summary>Chart as text</summary><p>{html.escape(alt)}</p></details></figcaption>'
        "</figure>"
    )


def chart_top_countries(rows: list[dict]) -> str:
    # countries whose total is shown; a withheld type is drawn as the rest of the total
    shown = [r for r in rows if _num(r["total_requests"]) is not None]
    top = sorted(shown, key=lambda r: (-r["total_requests"], r["country_name"]))[:TOP_COUNTRIES]
    series = [(kind, COLORS[kind], [_num(r[f"{kind}_requests"]) or 0 for r in top])
              for kind in ("legal", "emergency", "preservation")]
    rest = [r["total_requests"] - sum(values[i] for _, _, values in series) for i, r in enumerate(top)]
    keys = [(kind.title(), COLORS[kind]) for kind in ("legal", "emergency", "preservation")]
    if any(rest):
        series.append(("type withheld", WITHHELD_COLOR, rest))
        keys.append(("Type withheld", WITHHELD_COLOR))
    svg = _stacked_bars([r["country_name"] for r in top], series, "Requests")
    alt = "Top countries by total requests: " + "; ".join(
        f"{r['country_name']} {_fmt_count(r['total_requests'])} (legal {_fmt_count(r['legal_requests'])}, emergency "
        f"{_fmt_count(r['emergency_requests'])}, preservation {_fmt_count(r['preservation_requests'])})" for r in top)
    return _figure("top-countries", f"Top {len(top)} countries by total requests, by type", svg + _legend(keys), alt)


def chart_rates(rows: list[dict], kind: str) -> str:
    eligible = sorted((r for r in rows if (_num(r[f"{kind}_requests"]) or 0) >= MIN_REQUESTS_FOR_RATE
                       and _num(r[f"{kind}_disclosure_rate"]) is not None),
                      key=lambda r: (-r[f"{kind}_disclosure_rate"], r["country_name"]))
    title = f"{kind.title()} requests where some data was disclosed (countries with at least {MIN_REQUESTS_FOR_RATE})"
    if not eligible:
        withheld = any(isinstance(r[f"{kind}_requests"], Withheld) or isinstance(r[f"{kind}_disclosure_rate"], Withheld)
                       for r in rows)
        said = (f"No country with {MIN_REQUESTS_FOR_RATE} or more {kind} requests has them and its rate published "
                "in this period: some are withheld to protect small counts."
                if withheld else f"No country made {MIN_REQUESTS_FOR_RATE} or more {kind} requests in this period.")
        return f'<figure class="chart"><h3>{html.escape(title)}</h3><p>{said}</p></figure>'
    svg = _stacked_bars([r["country_name"] for r in eligible],
                        [("some data disclosed", COLORS[kind], [100 * r[f"{kind}_disclosure_rate"] for r in eligible])],
                        "% of requests where some data was disclosed", top=100, percent=True)
    alt = f"{kind.title()} disclosure rate by country: " + "; ".join(
        f"{r['country_name']} {_fmt_rate(r[f'{kind}_disclosure_rate'])} of {_fmt_count(r[f'{kind}_requests'])}"
        for r in eligible)
    return _figure(f"{kind}-rates", title, svg, alt)


def chart_periods(global_rows: list[dict]) -> str:
    periods = [r["period"] for r in global_rows]
    counts = {kind: [_num(r[f"{kind}_requests"]) for r in global_rows] for kind in ("legal", "emergency", "preservation")}
    rates = {kind: [None if _num(r[f"{kind}_disclosure_rate"]) is None else 100 * r[f"{kind}_disclosure_rate"]
                    for r in global_rows] for kind in ("legal", "emergency")}
    keys = [(kind.title(), COLORS[kind]) for kind in counts]
    alt = "Every published period: " + "; ".join(
        f"{r['period']}: legal {_fmt_count(r['legal_requests'])}, emergency {_fmt_count(r['emergency_requests'])}, "
        f"preservation {_fmt_count(r['preservation_requests'])}; legal disclosed {_fmt_rate(r['legal_disclosure_rate'])}, emergency "
        f"disclosed {_fmt_rate(r['emergency_disclosure_rate'])}" for r in global_rows)
    return _figure("periods", "Requests by type and disclosure rates, every published period",
                   _periods_svg(periods, counts, rates) + _legend(keys), alt)


def chart_outcomes(rows: list[dict]) -> str:
    """One 100 % bar per request type, split by outcome (shares of all the type's requests)."""
    types = [t for t in ("legal", "emergency", "preservation") if any(r["request_type"] == t for r in rows)]
    share = {(r["request_type"], r["outcome"]): r for r in rows}
    series = [(outcome.replace("_", " "), color,
               [100 * (_num((share.get((t, outcome)) or {}).get("share_of_requests")) or 0.0) for t in types])
              for outcome, color in OUTCOME_COLORS.items()]
    keys = [(name, color) for name, color, _ in series]
    # the outcomes whose share is withheld, together
    rest = [max(0.0, 100 - sum(values[i] for _, _, values in series))
            if any(isinstance(share.get((t, o), {}).get("share_of_requests"), Withheld) for o in OUTCOME_COLORS)
            else 0.0 for i, t in enumerate(types)]
    if any(rest):
        series.append(("withheld", WITHHELD_COLOR, rest))
        keys.append(("withheld", WITHHELD_COLOR))
    svg = _stacked_bars([t.title() for t in types], series, "% of the type's requests", top=100, percent=True)
    alt = "Outcome of the requests, by type: " + "; ".join(
        f"{t.title()}: " + ", ".join(
            f"{o.replace('_', ' ')} {_fmt_rate(share[(t, o)]['share_of_requests'])} ({_fmt_count(share[(t, o)]['requests'])})"
            for o in OUTCOME_COLORS if (t, o) in share)
        for t in types)
    return _figure("outcomes", "Outcome of the requests, by type (all countries)", svg + _legend(keys), alt)


# --- charts: SVG written here, as the map is (no plotting library: drawing the five charts of a
# page with matplotlib took 0.6 s a page, and importing it 1 to 2 s) -----------------------------

CHART_WIDTH = 640       # the SVG's user units: the page scales it (.chart svg{width:100%})
CHART_FONT = 12
BAR, BAR_GAP = 18, 6    # a bar's height and the space between two
CHART_INK = "#33414f"
GRID = "#dde3ea"


def _ticks(top: float) -> list[float]:
    """Round values from 0 to at least `top` for an axis, about five of them (1, 2 or 5 times a
    power of ten apart)."""
    if top <= 0:
        return [0, 1]
    rough = top / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    if step < 1 and float(top).is_integer():  # counts: whole steps
        step = 1
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _tick_label(value: float, percent: bool) -> str:
    return f"{value:g}%" if percent else f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = CHART_FONT) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{CHART_INK}">{html.escape(text)}</text>')


# Advance widths (em) of DejaVu Sans, the widest of the faces the page asks for (system-ui,
# Segoe UI, Roboto and the like are narrower): the few wide and narrow letters, then a bound for
# the rest by kind. There are no font metrics without a renderer; a label must not be cut off.
_WIDE = {"m": 0.98, "w": 0.82, "M": 0.87, "W": 1.0, "%": 0.95}
_NARROW = {"i": 0.28, "l": 0.28, "j": 0.28, ".": 0.32, ",": 0.32, "'": 0.28, " ": 0.32,
           "f": 0.36, "t": 0.40, "r": 0.42, "I": 0.30, "(": 0.40, ")": 0.40, "-": 0.37}


def _text_width(text: str, size: int) -> float:
    return size * sum(_WIDE.get(c) or _NARROW.get(c) or (0.79 if c.isupper() else 0.64) for c in text)


def _label_width(labels: list[str], size: int = CHART_FONT) -> float:
    """Room for the widest label, and a gap."""
    return max((_text_width(label, size) for label in labels), default=0) + 8


def _legend(items: list[tuple[str, str]]) -> str:
    return '<p class="legend">' + "".join(
        f'<span class="key"><i style="background:{color}"></i>{html.escape(name)}</span>' for name, color in items
    ) + "</p>"


def _stacked_bars(labels: list[str], series: list[tuple[str, str, list[float]]], axis_label: str,
                  top: float | None = None, percent: bool = False) -> str:
    """Horizontal bars, one per label (first at the top), each the stack of the series' values
    (name, colour, values); each part has its figure as a tooltip."""
    left = _label_width(labels)
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    ticks = _ticks(top if top is not None else max(totals, default=0))
    # room for half the last tick's label, centred on the axis's end
    width = CHART_WIDTH - left - max(28.0, _label_width([_tick_label(ticks[-1], percent)], CHART_FONT - 1) / 2)
    scale = width / ticks[-1]
    height = len(labels) * (BAR + BAR_GAP)
    parts = []
    for value in ticks:
        x = left + value * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="{GRID}"/>')
        parts.append(_text(x, height + 14, _tick_label(value, percent), "middle", CHART_FONT - 1))
    for i, label in enumerate(labels):
        y = i * (BAR + BAR_GAP) + BAR_GAP / 2
        parts.append(_text(left - 6, y + BAR - 5, label, "end"))
        x = left
        for name, color, values in series:
            if values[i] > 0:
                shown = f"{values[i]:.1f}%" if percent else f"{values[i]:,.0f}"
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{values[i] * scale:.1f}" height="{BAR}" '
                             f'fill="{color}"><title>{html.escape(f"{label}, {name}: {shown}")}</title></rect>')
                x += values[i] * scale
    parts.append(_text(left + width / 2, height + 32, axis_label, "middle"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {height + 40}">'
            + "".join(parts) + "</svg>")


PANEL_HEIGHT = 180


def _panel_axis(x0: float, width: float, ticks: list[float], percent: bool) -> list[str]:
    """A panel's horizontal grid lines and their labels, 0 at the bottom (PANEL_HEIGHT)."""
    parts = []
    for value in ticks:
        y = PANEL_HEIGHT - value * PANEL_HEIGHT / ticks[-1] + 10
        parts.append(f'<line x1="{x0:.1f}" x2="{x0 + width:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(x0 - 4, y + 4, _tick_label(value, percent), "end", CHART_FONT - 1))
    return parts


def _periods_svg(periods: list[str], counts: dict[str, list[float | None]],
                 rates: dict[str, list[float | None]]) -> str:
    """Two panels: the requests of each type per period as grouped columns, and the disclosure
    rates per period as lines (a withheld or missing figure is left out: a gap)."""
    ticks = _ticks(max((v for values in counts.values() for v in values if v is not None), default=0))
    # left of each panel, room for its axis's labels ("1,500,000" needs more than "100%")
    x0 = max(48.0, _label_width([_tick_label(t, False) for t in ticks], CHART_FONT - 1))
    panel = (CHART_WIDTH - x0 - 56) / 2
    parts: list[str] = []
    # left: grouped columns
    parts += _panel_axis(x0, panel, ticks, False)
    slot = panel / max(len(periods), 1)
    column = slot * 0.8 / max(len(counts), 1)
    # every period's name where there is room (about 50 units for "2023-H1"), else every n-th
    named = set(range(0, len(periods), math.ceil(50 / slot)))
    for j, period in enumerate(periods):
        if j in named:
            parts.append(_text(x0 + (j + 0.5) * slot, PANEL_HEIGHT + 26, period, "middle", CHART_FONT - 1))
        for k, (kind, values) in enumerate(counts.items()):
            if values[j] is None:
                continue
            h = values[j] * PANEL_HEIGHT / ticks[-1]
            parts.append(f'<rect x="{x0 + j * slot + slot * 0.1 + k * column:.1f}" y="{PANEL_HEIGHT + 10 - h:.1f}" '
                         f'width="{column:.1f}" height="{h:.1f}" fill="{COLORS[kind]}">'
                         f'<title>{html.escape(f"{period}, {kind}: {values[j]:,.0f}")}</title></rect>')
    parts.append(_text(x0 + panel / 2, PANEL_HEIGHT + 44, "Requests", "middle"))
    # right: lines of rates, 0 to 100 %
    x0 = CHART_WIDTH - panel - 8
    parts += _panel_axis(x0, panel, [0, 20, 40, 60, 80, 100], True)
    for j in sorted(named):
        parts.append(_text(x0 + (j + 0.5) * slot, PANEL_HEIGHT + 26, periods[j], "middle", CHART_FONT - 1))
    for kind, values in rates.items():
        segment: list[str] = []  # the periods in a row that have a figure are joined
        for j, value in enumerate([*values, None]):
            if value is None:
                if len(segment) > 1:
                    parts.append(f'<polyline points="{" ".join(segment)}" fill="none" '
                                 f'stroke="{COLORS[kind]}" stroke-width="2"/>')
                segment = []
                continue
            x, y = x0 + (j + 0.5) * slot, PANEL_HEIGHT + 10 - value * PANEL_HEIGHT / 100
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COLORS[kind]}"><title>'
                         f'{html.escape(f"{periods[j]}, {kind}: {value:.1f}% some data disclosed")}</title></circle>')
    parts.append(_text(x0 + panel / 2, PANEL_HEIGHT + 44, "% where some data was disclosed", "middle"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {PANEL_HEIGHT + 52}">'
            + "".join(parts) + "</svg>")


NUM_CLASS = ' class="num"'


# the world map's shades, lightest for the fewest requests; countries without requests in grey
MAP_SHADES = ("#dbe7f1", "#a9c6de", "#6f9fc6", "#3b76a8", "#1f4e79")
MAP_EMPTY = "#eeeeee"
# a withheld figure in a chart (small-count protection)
WITHHELD_COLOR = "#e8d9b5"


@functools.cache
def _world_shapes() -> tuple[tuple[str, str], ...]:
    """(ISO alpha-2 code, its SVG paths) of every country of the world map that ships with the
    package pygal_maps_world (drawn offline: nothing is fetched). Each path stays a path of its
    own: they start with a relative move, which joined into one would shift the parts."""
    text = (resources.files("pygal_maps_world") / "worldmap.svg").read_text(encoding="utf-8")
    shapes = []
    for code, body in re.findall(r'<g class="([a-z]{2}) country map-element">(.*?)</g>', text, re.S):
        # one decimal is enough at this size (rounded, so relative moves do not drift)
        paths = "".join(f'<path d="{re.sub(r"-?[0-9]+[.][0-9]{2,}", lambda m: f"{float(m.group()):.1f}", d)}"/>'
                        for d in re.findall(r'\sd="([^"]+)"', body))
        shapes.append((code.upper(), paths))
    return tuple(shapes)


def chart_map(rows: list[dict]) -> str:
    """Total requests per country on a world map, shaded by quintile of the period's countries."""
    totals = {r["country_code"]: r for r in rows}
    ordered = sorted(r["total_requests"] for r in rows if _num(r["total_requests"]) is not None) or [0]
    # upper bounds of the shades: the quintiles of the countries' totals
    bounds = [ordered[min(len(ordered) - 1, (len(ordered) * (i + 1)) // len(MAP_SHADES))] for i in range(len(MAP_SHADES))]

    def shade(total: int) -> str:
        return next(c for c, bound in zip(MAP_SHADES, bounds) if total <= bound or bound == bounds[-1])

    paths = []
    for code, shape in _world_shapes():
        row = totals.get(code)
        if row is None:
            fill = MAP_EMPTY
        else:
            fill = WITHHELD_COLOR if _num(row["total_requests"]) is None else shade(row["total_requests"])
        label = f"{row['country_name']}: {_fmt_count(row['total_requests'])} requests" if row else ""
        title = f"<title>{html.escape(label)}</title>" if label else ""
        paths.append(f'<g fill="{fill}">{title}{shape}</g>')
    legend, low = [], 1
    for color, bound in zip(MAP_SHADES, bounds):
        if bound < low:
            continue
        legend.append(f'<span class="key"><i style="background:{color}"></i>{low:,}{"" if bound == low else f"–{bound:,}"}</span>')
        low = bound + 1
    if any(_num(r["total_requests"]) is None for r in rows):
        legend.append(f'<span class="key"><i style="background:{WITHHELD_COLOR}"></i>withheld (a small count, or withheld to protect one)</span>')
    legend.append(f'<span class="key"><i style="background:{MAP_EMPTY}"></i>no requests</span>')
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2475 1388" class="map" stroke="#fff" stroke-width="0.6">'
           + "".join(paths) + "</svg>")
    alt = "Total requests by country: " + "; ".join(
        f"{r['country_name']} {_fmt_count(r['total_requests'])}"
        for r in sorted(rows, key=lambda r: (-(_num(r["total_requests"]) or 0), r["country_name"])))
    return _figure("map", "Total requests by country", svg + f'<p class="legend">{"".join(legend)}</p>', alt)


def _table(rows: list[dict], columns, table_id: str, caption: str, terms: dict[str, list[str]] | None = None) -> str:
    head = "".join(
        f'<th scope="col" data-type="{kind}"{"" if kind == "text" else NUM_CLASS}>'
        f'<button type="button">{html.escape(label)}</button></th>'
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
                shown = _h(value, kind)
                # a small count sorts between zero and the smallest count shown; other withheld last
                if isinstance(value, Withheld):
                    sort = "0.5" if value.reason == SMALL else ""
                else:
                    sort = "" if value is None else repr(float(value))
                cells.append(f'<td class="num" data-value="{sort}">{shown}</td>')
        # what the filter matches: the name, the code, every alias of the country
        found = []
        if terms is not None:
            found = [str(row["country_name"]).lower(), str(row["country_code"]).lower(),
                     *terms.get(row["country_code"], [])]
        attrs = f' data-terms="{html.escape("|".join(dict.fromkeys(found)))}"' if found else ""
        body.append(f"<tr{attrs}>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table id="{table_id}" class="sortable"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


SCRIPT = r"""
(function () {
  function sortTable(table, index, type, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    // the first click sorts names A-Z and figures largest first; the next reverses
    var current = th.getAttribute('aria-sort');
    var ascending = current ? current !== 'ascending' : type === 'text';
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
        // a name, code or alias that starts with what was typed, or a word of the name that does
        var terms = (row.getAttribute('data-terms') || row.cells[0].textContent.toLowerCase()).split('|');
        var match = needle === '' || terms.some(function (term) {
          return term.indexOf(needle) === 0 || term.split(/[\s,()-]+/).some(function (word) { return word.indexOf(needle) === 0; });
        });
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
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.table-wrap{overflow-x:auto;max-width:100%}
#countries th:first-child,#countries td:first-child{position:sticky;left:0;background:#fff}
#countries{font-size:.8rem} #countries th,#countries td{padding:.3rem .3rem} #countries th{vertical-align:bottom}
.restated{font-size:.9rem}
th button{all:unset;cursor:pointer;font-weight:600}
th[aria-sort=ascending] button::after{content:" \\25B2"} th[aria-sort=descending] button::after{content:" \\25BC"}
.chart{margin:1.2rem 0} .chart svg{width:100%;height:auto}
.legend{font-size:.85rem;color:#33414f}.key{margin-right:1rem;white-space:nowrap}
.key i{display:inline-block;width:.9rem;height:.9rem;margin-right:.3rem;vertical-align:-.1rem;border:1px solid #ccd}
@media (max-width:600px){main{padding:.8rem}h1{font-size:1.4rem}.tile{min-width:0;flex:1 1 40%}}
dt{font-weight:600;margin-top:.6rem} dd{margin-left:0;color:#33414f}
input[type=search]{padding:.4rem .6rem;font-size:1rem;width:18rem;max-width:100%}
"""


# The small-count protection a page was written with: N, or "off".
MIN_COUNT_META = "irr-public-min-count"


# What a page was made from (its figures, the setting, this code): a page whose inputs did not
# change is not drawn again.
INPUTS_META = "irr-page-inputs"


@functools.cache
def _code_digest() -> str:
    from dagster_project import disclosure

    digest = hashlib.sha256()
    for module in (__file__, disclosure.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def inputs_digest(data: dict, protector: Protector | None) -> str:
    text = repr((sorted(data.items()), protector.n if protector else None, _code_digest()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _page(title: str, body: str, script: str = "", min_count: int | None = None, inputs: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"{MIN_COUNT_META}\" content=\"{min_count or 'off'}\">"
        + (f"<meta name=\"{INPUTS_META}\" content=\"{inputs}\">" if inputs else "") +
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main>{f'<script>{script}</script>' if script else ''}</body></html>\n"
    )


def render_period(con: duckdb.DuckDBPyConnection, period: str, protector: Protector | None = None) -> str:
    """The report page of one period, from the published reporting tables: every figure as
    dbt computed it, formatted here; with small-count protection, as the protector shows it."""
    return _render_period(period_data(con, period, protector), protector)


def period_data(con: duckdb.DuckDBPyConnection, period: str, protector: Protector | None = None) -> dict:
    """Everything a period's page shows, read from the reporting tables (as published)."""
    countries = dict_rows(con, """
        select r.*, a.distinct_accounts, c.total_requests_change_share, c.legal_disclosure_rate_change
        from reporting.information_requests as r
        left join reporting.information_requests_accounts as a using (period, country_code)
        left join reporting.information_requests_change as c using (period, country_code)
        where r.period = ? order by r.total_requests desc, r.country_name""", [period])
    if not countries:
        raise ValueError(f"no requests in period {period}")
    totals = dict_rows(con, "select * from reporting.information_requests_global where period = ?", [period])[0]
    history = dict_rows(con, "select * from reporting.information_requests_global order by period")
    version = dict_rows(con, "select version, published_at from reporting.report_versions where period = ? "
                         "order by version desc limit 1", [period])
    restated = dict_rows(con, """
        select r.country_code, coalesce(c.country_name, r.country_code) as country_name, r.metric,
               r.old_value, r.new_value
        from reporting.restatements as r
        left join (select distinct country_code, country_name from reporting.information_requests) as c
            using (country_code)
        where r.period = ? and r.version = (select max(version) from reporting.report_versions where period = ?)
        order by country_name, r.metric""", [period, period])
    every_period = dict_rows(con, "select * from reporting.information_requests where country_code in "
                              "(select country_code from reporting.information_requests where period = ?) "
                              "order by country_name, period", [period])
    agencies = dict_rows(con, """
        select period, country_code, country_name, agency, any_value(agency_requests) as agency_requests,
               min(agency_rank) as agency_rank
        from reporting.information_requests_by_agency
        where period = ? and agency_rank <= ?
        group by all order by country_name, agency_rank""", [period, TOP_AGENCIES])
    outcomes = dict_rows(con, "select * from reporting.information_requests_by_outcome_global where period = ? "
                          "order by request_type, outcome", [period])
    processes = dict_rows(con, """
        select * from reporting.information_requests_by_legal_process_global
        where period = ? order by requests desc, legal_process""", [period])
    timing = dict_rows(con, "select * from reporting.information_requests_timing where period = ? order by request_type",
                   [period])
    if protector is not None:
        def mask(table: str, rows: list[dict]) -> list[dict]:
            return [protector.mask(table, row) for row in rows]

        countries = mask("information_requests", countries)
        # withheld totals last: their exact order is not shown either
        countries.sort(key=lambda r: (_num(r["total_requests"]) is None, -(_num(r["total_requests"]) or 0),
                                      r["country_name"]))
        totals = mask("information_requests_global", [totals])[0]
        history = mask("information_requests_global", history)
        every_period = mask("information_requests", every_period)
        # the top agencies among the named ones whose count is shown (a withheld one's place is
        # withheld too; the small ones are published together, not named)
        named = {}
        for row in agency_rows(con, period, protector.n):
            if row["agency_rank"] is not None:
                named.setdefault((row["country_code"], row["agency"]), row)
        shown = [a for a in mask("information_requests_by_agency", list(named.values()))
                 if _num(a["agency_requests"]) is not None]
        shown.sort(key=lambda a: (a["country_name"], -a["agency_requests"], a["agency"]))
        agencies, seen = [], {}
        for a in shown:
            seen[a["country_name"]] = seen.get(a["country_name"], 0) + 1
            if seen[a["country_name"]] <= TOP_AGENCIES:
                agencies.append(a)
        outcomes = mask("information_requests_by_outcome_global", outcomes)
        processes = mask("information_requests_by_legal_process_global", processes)
        timing = mask("information_requests_timing", timing)
    return {"period": period, "countries": countries, "totals": totals, "history": history, "version": version,
            "restated": restated, "every_period": every_period, "agencies": agencies, "outcomes": outcomes,
            "processes": processes, "timing": timing}


def _render_period(data: dict, protector: Protector | None) -> str:
    period, countries, totals, history = data["period"], data["countries"], data["totals"], data["history"]
    version, restated, every_period, agencies = data["version"], data["restated"], data["every_period"], data["agencies"]
    outcomes, processes, timing = data["outcomes"], data["processes"], data["timing"]
    label = period_value(period)
    if version:
        published_text = (f"version {version[0]['version']}, published "
                          f"{version[0]['published_at'].date().isoformat()}")
    else:
        published_text = "not yet published"
    formats = {m: kind for m, _, kind in country_columns()}
    if restated and protector is not None:
        # the figures before and after are not shown: the one before may have been withheld
        items = "".join(f"<li>{html.escape(r['country_name'])}: {html.escape(r['metric'].replace('_', ' '))}</li>"
                        for r in restated)
        restated_html = (f'<details class="restated"><summary>This version restates {len(restated)} '
                         f'published figure{"s" if len(restated) != 1 else ""}</summary><ul>{items}</ul></details>')
    elif restated:
        items = "".join(
            f"<li>{html.escape(r['country_name'])}: {html.escape(r['metric'].replace('_', ' '))} "
            f"{_fmt_value(r['old_value'], formats.get(r['metric']))} &rarr; "
            f"{_fmt_value(r['new_value'], formats.get(r['metric']))}</li>" for r in restated)
        restated_html = (f'<details class="restated"><summary>This version restates {len(restated)} '
                         f'published figure{"s" if len(restated) != 1 else ""}</summary><ul>{items}</ul></details>')
    elif version and version[0]["version"] > 1:
        restated_html = "<p class=\"restated\">This version restates no figure.</p>"
    else:
        restated_html = ""
    tiles = "".join(
        f'<div class="tile"><span>{html.escape(name)}</span><b>{value}</b></div>'
        for name, value in (
            ("Total requests", _h(totals["total_requests"])),
            ("Legal requests", _h(totals["legal_requests"])),
            ("Emergency requests", _h(totals["emergency_requests"])),
            ("Preservation requests", _h(totals["preservation_requests"])),
            ("Legal: some data disclosed", _h(totals["legal_disclosure_rate"], "rate")),
            ("Emergency: some data disclosed", _h(totals["emergency_disclosure_rate"], "rate")),
            ("Accounts specified", _h(totals["accounts_specified"])),
            ("Countries", _h(totals["countries"])),
        )
    )
    definitions = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in DEFINITIONS)
    process_rows = "".join(
        f"<tr><td>{html.escape(p['legal_process'])}</td><td class=\"num\">{_h(p['requests'])}</td>"
        f"<td class=\"num\">{_h(p['disclosure_rate'], 'rate')}</td>"
        f"<td class=\"num\">{_h(p['accounts_specified'])}</td></tr>" for p in processes)
    timing_rows = "".join(
        f"<tr><td>{html.escape(t['request_type'].title())}</td><td class=\"num\">{_h(t['requests_with_final_outcome'])}</td>"
        f"<td class=\"num\">{_h(t['median_days_to_outcome'], 'days')}</td></tr>" for t in timing)
    body = f"""
<header><p class="meta"><a href="../index.html">All periods</a></p>
<h1>Information Requests Report: {html.escape(label)}</h1>
<p class="meta">Period {html.escape(period)} ({totals['period_start']} to {totals['period_end']}) · {html.escape(published_text)}
· <a href="information_requests.csv">Download the data (CSV)</a>
· <a href="information_requests_by_outcome.csv">Outcomes (CSV)</a>
· <a href="information_requests_by_agency.csv">Agencies (CSV)</a></p>{restated_html}</header>
<section aria-labelledby="about"><h2 id="about">What this report covers</h2>
<p>This report counts the requests for user data that law enforcement agencies sent to the platform in
{html.escape(label)}, by requesting country and kind of request, how many accounts they specified, and how
often some data was disclosed. Each request is counted once, in its current state, in the half-year in
which it was received.</p></section>
<section aria-labelledby="headline"><h2 id="headline">Global figures</h2><div class="headline">{tiles}</div>
<p>Across all countries, the requests named {_h(totals['distinct_accounts'])} distinct known accounts
(an account named in several requests of a country counts once per country).</p></section>
<section aria-labelledby="charts"><h2 id="charts">Charts</h2>
{chart_map(countries)}
{chart_top_countries(countries)}
{chart_rates(countries, 'legal')}
{chart_rates(countries, 'emergency')}
{chart_periods(history)}
{chart_outcomes(outcomes)}
</section>
<section aria-labelledby="by-country"><h2 id="by-country">By country</h2>
<label for="country-filter">Filter countries by name or code</label>
<input id="country-filter" type="search" autocomplete="off"> <span id="filter-count" aria-live="polite"></span>
{_table(countries, country_columns(), 'countries', 'Requests by country; select a column heading to sort.', country_terms())}
</section>
<section aria-labelledby="over-time"><h2 id="over-time">Each country over time</h2>
<p>Every published half-year of each country of this period; select a country to open its history.</p>
{_histories(every_period)}
</section>
<section aria-labelledby="agencies"><h2 id="agencies">Who asks</h2>
{_agencies(agencies, protector is not None)}
</section>
<section aria-labelledby="processes"><h2 id="processes">By legal process</h2>
<div class="table-wrap"><table id="legal-processes"><caption>All countries; processes the report does not recognise are grouped as "other".</caption>
<thead><tr><th scope="col">Legal process</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Some data disclosed</th><th scope="col" class="num">Accounts specified</th></tr></thead>
<tbody>{process_rows}</tbody></table></div></section>
<section aria-labelledby="timing"><h2 id="timing">Time to outcome</h2>
<div class="table-wrap"><table id="timing-table"><caption>Median days from receipt to the final outcome, for requests that have one.</caption>
<thead><tr><th scope="col">Request type</th><th scope="col" class="num">Requests with a final outcome</th><th scope="col" class="num">Median days</th></tr></thead>
<tbody>{timing_rows}</tbody></table></div></section>
<section aria-labelledby="definitions"><h2 id="definitions">Definitions</h2><dl>{definitions}</dl></section>
"""
    if protector is not None:
        body = body.replace('<section aria-labelledby="definitions">', (
            f'<section aria-labelledby="small-counts"><h2 id="small-counts">Small counts</h2><p>Counts from 1 to '
            f"{protector.n - 1} are shown as &lt;{protector.n}, so that no figure points at a person; figures marked x "
            "are withheld so that a small count cannot be worked out from the totals and the other figures, or are "
            "rates computed from a withheld count. Totals include every request.</p></section>"
            '<section aria-labelledby="definitions">'), 1)
    return _page(f"Information Requests Report, {label}", body, SCRIPT, protector.n if protector else None,
                 inputs_digest(data, protector))


HISTORY_COLUMNS = [("total_requests", "Total", "count"), ("legal_requests", "Legal", "count"),
                   ("emergency_requests", "Emergency", "count"), ("preservation_requests", "Preservation", "count"),
                   ("legal_disclosure_rate", "Legal: some data disclosed", "rate"),
                   ("emergency_disclosure_rate", "Emergency: some data disclosed", "rate")]


def _agencies(rows: list[dict], protected: bool = False) -> str:
    by_country: dict[str, list[dict]] = {}
    for row in rows:
        by_country.setdefault(row["country_name"], []).append(row)
    body = "".join(
        f'<tr><th scope="row">{html.escape(name)}</th><td>'
        + "; ".join(f"{html.escape(a['agency'])} ({_h(a['agency_requests'])})" for a in found)
        + "</td></tr>" for name, found in by_country.items())
    return (f'<div class="table-wrap"><table id="agency-table"><caption>The {TOP_AGENCIES} agencies of each country '
            "that sent the most requests (all types), with their requests; names normalised"
            f"{'; agencies whose count is withheld are not listed' if protected else ''}.</caption>"
            f'<thead><tr><th scope="col">Country</th><th scope="col">Agencies</th></tr></thead><tbody>{body}</tbody></table></div>')


def _histories(rows: list[dict]) -> str:
    """One expandable table per country: its figures in every published period."""
    by_country: dict[str, list[dict]] = {}
    for row in rows:
        by_country.setdefault(row["country_name"], []).append(row)
    head = "".join(f'<th scope="col" class="num">{html.escape(label)}</th>' for _, label, _ in HISTORY_COLUMNS)
    out = []
    for name, periods in by_country.items():
        body = "".join(
            f'<tr><th scope="row">{html.escape(period_value(r["period"]))}</th>'
            + "".join(f'<td class="num">{_h(r[c], kind)}</td>' for c, _, kind in HISTORY_COLUMNS)
            + "</tr>" for r in periods)
        out.append(f'<details class="history"><summary>{html.escape(name)}</summary><div class="table-wrap"><table>'
                   f'<thead><tr><th scope="col">Half-year</th>{head}</tr></thead><tbody>{body}</tbody></table></div></details>')
    return "".join(out)


def render_index(con: duckdb.DuckDBPyConnection, export_dir: Path, protector: Protector | None = None) -> str:
    rows = dict_rows(con, """
        select g.*, v.version, v.published_at
        from reporting.information_requests_global as g
        left join (select period, max(version) as version, max(published_at) as published_at
                   from reporting.report_versions group by period) as v using (period)
        order by g.period desc""")
    if protector is not None:
        rows = [protector.mask("information_requests_global", row) for row in rows]
    items = "".join(
        f"<tr><th scope=\"row\"><a href=\"{html.escape(r['period'])}/report.html\">{html.escape(period_value(r['period']))}</a></th>"
        + "".join(f"<td class=\"num\">{_h(r[c], kind)}</td>" for c, _, kind in INDEX_COLUMNS)
        + f"<td>{'v' + str(r['version']) if r['version'] else NO_VALUE}</td>"
        f"<td><a href=\"{html.escape(r['period'])}/information_requests.csv\">CSV</a> · "
        f"<a href=\"{html.escape(r['period'])}/information_requests_by_outcome.csv\">outcomes</a> · "
        f"<a href=\"{html.escape(r['period'])}/information_requests_by_agency.csv\">agencies</a></td></tr>"
        for r in rows if (export_dir / r["period"] / "report.html").exists()
    )
    head = "".join(f"<th scope=\"col\" class=\"num\">{html.escape(label)}</th>" for _, label, _ in INDEX_COLUMNS)
    body = ("<h1>Information Requests Reports</h1>"
            "<p class=\"meta\">Every published half-year: requests for user data from law enforcement, by type, "
            "and how often some data was disclosed. <a href=\"information_requests.csv\">Every period in one CSV</a>.</p>"
            "<div class=\"table-wrap\"><table><thead><tr><th scope=\"col\">Period</th>"
            f"{head}<th scope=\"col\">Version</th><th scope=\"col\">Data</th></tr></thead><tbody>{items}</tbody></table></div>")
    return _page("Information Requests Reports", body, min_count=protector.n if protector else None)


# the index's headline figures per period
INDEX_COLUMNS = [("total_requests", "Total requests", "count"), ("legal_requests", "Legal", "count"),
                 ("emergency_requests", "Emergency", "count"), ("preservation_requests", "Preservation", "count"),
                 ("legal_disclosure_rate", "Legal: some data disclosed", "rate"),
                 ("countries", "Countries", "count")]


def _fmt_value(value, kind: str | None) -> str:
    if isinstance(value, Withheld):
        return value.shown
    if value is None:
        return NO_VALUE
    if kind == "days":
        return f"{float(value):.1f}"
    if kind == "rate":
        return _fmt_rate(value)
    if kind == "share_change":
        return f"{100 * float(value):+.1f}%"
    if kind == "rate_change":
        return f"{100 * float(value):+.1f} pts"
    return _fmt_count(value)


def _write(path: Path, text: str) -> None:
    write_file(path, text.encode("utf-8"))


def _meta(page: Path, name: str) -> str | None:
    """A page's `<meta name=... content=...>`; None when the page does not exist or does not say."""
    try:
        with page.open(encoding="utf-8") as handle:
            head = handle.read(2000)
    except FileNotFoundError:
        return None
    found = re.search(f'<meta name="{name}" content="([^"]*)">', head)
    return found.group(1) if found else None


def written_min_count(page: Path) -> str | None:
    """The small-count protection a page was written with ("off", or N as text)."""
    return _meta(page, MIN_COUNT_META)


def write_reports(con: duckdb.DuckDBPyConnection, export_dir: Path, periods: list[str],
                  min_count: int | None = None, protection_cache: Path | None = None) -> list[Page]:
    """Write `<period>/report.html` for the given periods, and for any published period whose
    page was written with another small-count protection, and rebuild `index.html`; returns
    the pages written (a page whose inputs are those it was made from is left as it is)."""
    protector = Protector(con, min_count, protection_cache) if min_count else None
    setting = str(min_count or "off")
    stale = [p.parent.name for p in export_dir.glob("*/report.html")
             if written_min_count(p) != setting and p.parent.name not in periods]
    pages = []
    for period in sorted({*periods, *stale}):
        path = export_dir / period / "report.html"
        data = period_data(con, period, protector)
        if _meta(path, INPUTS_META) == inputs_digest(data, protector):
            continue  # the page carried over from the last publication shows just this
        _write(path, _render_period(data, protector))
        pages.append(Page(period, path))
    _write(export_dir / "index.html", render_index(con, export_dir, protector))
    return pages
