"""Progress over time as inline SVG: published test perplexity against publication year,
log scale, with bench's measured runs marked beside the rows they reproduce.

This is the chart of the field's history (perplexity falling, paper by paper): hollow
diamonds for published rows, coloured by model family, a dashed line for the best figure
published so far, and a filled circle for each run of bench that reproduces a row, drawn
just right of it and joined to it. Every point has a tooltip (an SVG <title>); the
state-of-the-art points and the measured runs are named beside them wherever a name fits
without overprinting another. Plain SVG written here needs no script, no library and
no network, and stays sharp at any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from bench.report.families import COLOURS, FAMILIES
from bench.report.plots import log_ticks

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 40
CHAR_PX = 6.2  # width of a label character at 11 px (system sans), for the overlap test
LABEL_PX = 11


@dataclass(frozen=True)
class YearPoint:
    """A point of the chart: a published row, or a measured run (``href`` its page,
    ``reproduces`` the published point it is drawn beside)."""

    year: int
    ppl: float
    name: str
    family: str
    href: str | None = None
    reproduces: YearPoint | None = None


class _Scale:
    def __init__(self, years: list[int], ppls: list[float]) -> None:
        self.year0, self.year1 = min(years) - 0.6, max(years) + 0.9
        pad = 1.08
        self.low, self.high = min(ppls) / pad, max(ppls) * pad

    def x(self, year: float) -> float:
        share = (year - self.year0) / (self.year1 - self.year0)
        return LEFT + share * (WIDTH - LEFT - RIGHT)

    def y(self, ppl: float) -> float:
        share = math.log(ppl / self.low) / math.log(self.high / self.low)
        return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)


def _axes(scale: _Scale) -> list[str]:
    parts = []
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    for tick in log_ticks(scale.low, scale.high):
        y = scale.y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 3.5:.1f}" text-anchor="end">{tick:g}</text>'
        )
    for year in range(math.ceil(scale.year0), math.floor(scale.year1) + 1):
        x = scale.x(year)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{year}</text>'
        )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    parts.append(
        f'<text class="axis-label" x="{(LEFT + right) / 2:.0f}" y="{HEIGHT - 6}" '
        'text-anchor="middle">year of publication</text>'
    )
    parts.append(
        f'<text class="axis-label" transform="translate(13 {(TOP + bottom) / 2:.0f}) '
        'rotate(-90)" text-anchor="middle">test perplexity (log scale)</text>'
    )
    return parts


def state_of_the_art(points: list[YearPoint]) -> list[YearPoint]:
    """The published points that beat every earlier one: the line the field came down."""
    best, record = math.inf, []
    for point in sorted(points, key=lambda p: (p.year, p.ppl)):
        if point.ppl < best:
            record.append(point)
            best = point.ppl
    return record


def _frontier_path(record: list[YearPoint], scale: _Scale) -> str:
    if not record:
        return ""
    steps = [f"M{scale.x(record[0].year):.1f},{scale.y(record[0].ppl):.1f}"]
    for point in record[1:]:
        steps.append(f"H{scale.x(point.year):.1f}V{scale.y(point.ppl):.1f}")
    steps.append(f"H{scale.x(scale.year1 - 0.3):.1f}")
    return f'<path class="sota" d="{"".join(steps)}"/>'


class _Labels:
    """Greedy non-overlapping labels: boxes taken so far, the plot's frame."""

    def __init__(self, points: list[tuple[float, float]], lines: list[tuple]) -> None:
        self.taken = [(x - 5, y - 5, x + 5, y + 5) for x, y in points]
        self.taken += [(x0, y - 1.5, x1, y + 1.5) for x0, x1, y in lines]  # the dashed line

    def place(self, x: float, y: float, text: str) -> str:
        width = len(text) * CHAR_PX
        for dx, dy, anchor in (
            (7, 4, "start"),
            (-7, 4, "end"),
            (0, -9, "middle"),
            (0, 15, "middle"),
            (7, -8, "start"),
            (7, 14, "start"),
        ):
            x0 = x + dx - (width if anchor == "end" else width / 2 if anchor == "middle" else 0)
            box = (x0, y + dy - LABEL_PX + 1, x0 + width, y + dy + 2)
            if box[0] < LEFT or box[2] > WIDTH - RIGHT or box[1] < 0 or box[3] > HEIGHT - BOTTOM:
                continue
            if any(
                box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3]
                for t in self.taken
            ):
                continue
            self.taken.append(box)
            return (
                f'<text class="label" x="{x + dx:.1f}" y="{y + dy:.1f}" '
                f'text-anchor="{anchor}">{escape(text)}</text>'
            )
        return ""


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def year_chart(published: list[YearPoint], measured: list[YearPoint], *, caption: str) -> str:
    """The chart as an inline ``<figure>`` with its SVG and legend; "" with fewer than two
    published points (no history to draw)."""
    if len(published) < 2:
        return ""
    scale = _Scale([p.year for p in published], [p.ppl for p in published + measured])
    spots = {id(p): (scale.x(p.year), scale.y(p.ppl)) for p in published}
    for point in measured:  # just right of the row it reproduces
        spots[id(point)] = (scale.x(point.year) + 9, scale.y(point.ppl))
    record = state_of_the_art(published)
    parts = _axes(scale) + [_frontier_path(record, scale)]
    steps = [
        (scale.x(a.year), scale.x(b.year if b else scale.year1 - 0.3), scale.y(a.ppl))
        for a, b in zip(record, [*record[1:], None], strict=True)
    ]
    labels = _Labels(list(spots.values()), steps)
    names = []
    for point in published:
        x, y = spots[id(point)]
        colour = COLOURS[point.family]
        tip = escape(f"{point.name} ({point.year}): test ppl {point.ppl:g}")
        parts.append(
            f'<path class="published" d="M{x:.1f},{y - 5:.1f}l5,5l-5,5l-5,-5z" '
            f'stroke="{colour}"><title>{tip}</title></path>'
        )
    for point in measured:
        x, y = spots[id(point)]
        colour = COLOURS[point.family]
        if point.reproduces is not None:
            px, py = spots[id(point.reproduces)]
            parts.append(
                f'<line class="link" x1="{px:.1f}" y1="{py:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>'
            )
        tip = escape(f"{point.name}: test ppl {point.ppl:.2f}, measured by bench")
        circle = (
            f'<circle class="measured" cx="{x:.1f}" cy="{y:.1f}" r="4.5" '
            f'fill="{colour}"><title>{tip}</title></circle>'
        )
        parts.append(f'<a href="{escape(point.href)}">{circle}</a>' if point.href else circle)
        names.append((x, y, _short(point.name)))
    names += [(*spots[id(p)], _short(p.name)) for p in record]
    parts += [labels.place(x, y, text) for x, y, text in names]
    used = {p.family for p in published + measured}
    legend = "".join(
        f'<span><i style="background:{COLOURS[f]}"></i>{escape(f)}</span>'
        for f in FAMILIES
        if f in used
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(caption)}">' + "".join(p for p in parts if p) + "</svg>"
    )
    return (
        f'<figure class="year-chart"><div class="chart-box">{svg}</div><figcaption><span class="key">'
        "<b>◇</b> published <b>●</b> measured by bench <b>- -</b> best published so far"
        f"</span> {legend}<br>{escape(caption)}</figcaption></figure>"
    )
