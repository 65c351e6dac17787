"""A leaderboard's pictures: test perplexity against parameters and against training speed.

The points are the rows of a table from :func:`bench.report.leaderboard.build_tables`. Display
cells are rounded text ("2.32M", "113.16 [112.0, 114.3]"), so a measured row's numbers
are taken from the results frame it was built from, by the run ids in its "run" cell (a
seed group's row: the mean over its member runs, as the table shows). Published rows
only have their text: the leading number of "79.7 ± 0.1" and "2M (estimate)" with its
K/M/B/T suffix; they have no speed, so they appear on the parameters plot only.

Figures use matplotlib's Agg canvas directly (no pyplot, no display needed) and are
returned, so tests can look at their series.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.paths import write_atomically
from bench.report.leaderboard import leading_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MEASURED_LABEL = "measured by bench"
REFERENCE_LABEL = "published (quoted)"
FRONTIER_LABEL = "Pareto frontier"
# plot name -> (x label, whether the x axis is logarithmic, whether more x is better);
# the name ends the file's name
PLOTS = {
    "params": ("parameters", True, False),
    "speed": ("training tokens/s", True, True),
}
_SUFFIXES = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


@dataclass
class Points:
    """One series of a plot: x, test perplexity, a short name and a model family
    (:mod:`bench.report.families`) per point."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)

    def add(self, x: Any, y: Any, name: str, family: str = "other") -> None:
        # log axes cannot show 0, negative or missing values: such a row is left out
        if _usable(x) and _usable(y):
            self.x.append(float(x))
            self.y.append(float(y))
            self.names.append(name)
            self.families.append(family)


def _usable(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number > 0 and number != float("inf")


def parse_count(text: Any) -> float:
    """ "4.65M" -> 4650000.0, "2M (estimate, ...)" -> 2000000.0, "1.04B" -> 1.04e9; NaN
    when the cell does not start with a count."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\b", str(text or ""))
    return float(match.group(1)) * _SUFFIXES[match.group(2)] if match else float("nan")


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _members(results: pd.DataFrame, run_cell: str) -> pd.DataFrame:
    ids = [int(part) for part in str(run_cell).split(",") if part.strip().isdigit()]
    if not ids or results.empty or "run_id" not in results.columns:
        return results.iloc[0:0]
    return results[results["run_id"].astype(int).isin(ids)]


def _mean(frame: pd.DataFrame, column: str) -> float:
    if column not in frame.columns:
        return float("nan")
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else float("nan")


def plot_points(table: pd.DataFrame, results: pd.DataFrame) -> dict[str, dict[str, Points]]:
    """{plot name: {series label: Points}} for a leaderboard table; ``results`` is the
    :meth:`bench.store.Store.results_frame` the table was built from."""
    series: dict[str, dict[str, Points]] = {
        name: {MEASURED_LABEL: Points(), REFERENCE_LABEL: Points()} for name in PLOTS
    }
    from bench.report.families import model_family

    for _, row in table.iterrows():
        name = _short(str(row.get("model") or ""))
        family = model_family(str(row.get("model") or ""), str(row.get("plugin") or ""))
        if row.get("kind") == "measured":
            members = _members(results, row.get("run", ""))
            if members.empty:
                continue
            test_ppl = _mean(members, "test_ppl")
            label = f"{name} (run {row['run']})"
            params = pd.to_numeric(members["params"], errors="coerce").dropna()
            series["params"][MEASURED_LABEL].add(
                params.iloc[0] if len(params) else None, test_ppl, label, family
            )
            speed = _mean(members, "train_tokens_per_second")
            series["speed"][MEASURED_LABEL].add(speed, test_ppl, label, family)
        else:
            series["params"][REFERENCE_LABEL].add(
                parse_count(row.get("params")), leading_number(row.get("test ppl")), name, family
            )
    return {
        plot: {label: points for label, points in by_label.items() if points.x}
        for plot, by_label in series.items()
    }


def as_plain_text(figure: Figure) -> Figure:
    """Draw every title, axis label, annotation and legend entry of ``figure`` as the text
    it is: model labels and corpus names come from stored (possibly shared) runs, and
    matplotlib would read "$...$" in them as mathtext (one "cost $\\frac{1$" fails every
    plot; "$5 and $10" comes out in italics). Tick labels keep mathtext, which log axes
    use for their powers of ten. Call it once the figure is built."""
    texts = [*figure.texts]
    for axes in figure.axes:
        texts += [axes.title, axes._left_title, axes._right_title]
        texts += [axes.xaxis.label, axes.yaxis.label, *axes.texts]
        legend = axes.get_legend()
        if legend is not None:
            texts += [legend.get_title(), *legend.get_texts()]
    for text in texts:
        text.set_parse_math(False)
    return figure


def pareto_frontier(points: list[tuple[float, float]], *, more_x_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both counts (lower perplexity and
    fewer parameters, or lower perplexity and more tokens/s), in the order of x from the
    cheap end: the best perplexity each budget buys."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    if more_x_is_better:
        order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    frontier, best = [], float("inf")
    for index in order:
        if points[index][1] < best:
            frontier.append(index)
            best = points[index][1]
    return frontier


def log_ticks(low: float, high: float) -> list[float]:
    """Round values between ``low`` and ``high`` for a log axis: powers of ten where the
    range spans many decades, 1-2-5 per decade, or finer steps where it is narrow, so the
    axis has a few labelled lines and their labels never run into each other."""
    ticks: list[float] = []
    if not 0 < low < high:  # one point, or limits a log axis cannot have: let it be
        return [low] if low > 0 else []
    powers = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    for steps in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10**p for p in powers for m in steps if low <= m * 10**p <= high]
        if len(ticks) >= 4:
            break
    if len(ticks) > 9:
        ticks = [10**p for p in powers if low <= 10**p <= high]
    if len(ticks) < 3:  # less than a factor of two: evenly spaced round values
        raw = (high - low) / 5
        step = min(
            (m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 2.5, 5, 10)),
            key=lambda candidate: abs(candidate - raw),
        )
        first = math.ceil(low / step) * step
        ticks = [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]
    return ticks


def _log_axis(axes: Any, which: str, *, counts: bool) -> None:
    """Plain numbers (50, 100, 200; 10K, 1M) at round values of a log axis, not powers of
    ten; call it once the data are drawn (it reads the axis's limits)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    from bench.report.leaderboard import humanize_count

    axis = axes.xaxis if which == "x" else axes.yaxis
    low, high = axes.get_xlim() if which == "x" else axes.get_ylim()
    axis.set_major_locator(FixedLocator(log_ticks(low, high)))
    text = humanize_count if counts else (lambda v: f"{v:g}")
    axis.set_major_formatter(FuncFormatter(lambda v, _: text(v)))
    axis.set_minor_formatter(NullFormatter())


def _legend(axes: Any, kinds: list[str], families: list[str]) -> None:
    """The kinds of point drawn (by marker), the frontier, then the families (by colour)."""
    from matplotlib.lines import Line2D

    from bench.report.families import COLOURS

    grey = "#555555"
    markers = {
        MEASURED_LABEL: Line2D([], [], marker="o", ls="", color=grey, label=MEASURED_LABEL),
        REFERENCE_LABEL: Line2D(
            [], [], marker="D", ls="", mfc="none", color=grey, label=REFERENCE_LABEL
        ),
    }
    handles = [markers[kind] for kind in markers if kind in kinds]
    handles.append(Line2D([], [], ls="--", color="#888888", label=FRONTIER_LABEL))
    handles += [Line2D([], [], marker="s", ls="", color=COLOURS[f], label=f) for f in families]
    axes.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def points_figure(
    series: dict[str, Points], *, x_label: str, log_x: bool, title: str, more_x_is_better: bool
) -> Figure:
    """Test perplexity (log scale) against x: measured runs as filled circles, published
    rows as hollow diamonds, coloured by model family; the Pareto frontier as a dashed
    line; names beside the points wherever they fit without overprinting."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bench.report.families import COLOURS, FAMILIES
    from bench.report.plot_labels import place_labels

    figure = Figure(figsize=(8.5, 4.8), layout="constrained")
    FigureCanvasAgg(figure)  # labels are measured on screen before they are placed
    axes = figure.add_subplot()
    styles = {
        MEASURED_LABEL: {"marker": "o", "s": 40, "linewidths": 0.6, "edgecolors": "white"},
        REFERENCE_LABEL: {"marker": "D", "s": 30, "linewidths": 1.3},
    }
    every = [(x, y) for points in series.values() for x, y in zip(points.x, points.y, strict=True)]
    frontier = pareto_frontier(every, more_x_is_better=more_x_is_better)
    fx, fy = [every[i][0] for i in frontier], [every[i][1] for i in frontier]
    axes.plot(fx, fy, ls="--", lw=1, color="#888888", drawstyle="steps-post", zorder=2)
    for label, points in series.items():
        colours = [COLOURS[f] for f in points.families]
        style = dict(styles[label])
        if label == REFERENCE_LABEL:
            style |= {"facecolors": "none", "edgecolors": colours}
        else:
            style |= {"c": colours}
        axes.scatter(points.x, points.y, label=label, zorder=3, **style)
    for values, limits in (
        ([p[0] for p in every], axes.set_xlim),
        ([p[1] for p in every], axes.set_ylim),
    ):
        if values and min(values) == max(values):  # one value: a range around it, not none
            limits(values[0] / 1.5, values[0] * 1.5)
    axes.margins(x=0.08, y=0.1)
    axes.set_yscale("log")
    if log_x:
        axes.set_xscale("log")
        _log_axis(axes, "x", counts=True)
    _log_axis(axes, "y", counts=False)
    axes.set_xlabel(x_label + (" (more is better)" if more_x_is_better else ""))
    axes.set_ylabel("test perplexity, log scale (lower is better)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    used = {f for points in series.values() for f in points.families}
    _legend(axes, list(series), [f for f in FAMILIES if f in used])
    as_plain_text(figure)
    figure.draw_without_rendering()  # settle the layout, then keep it while labelling
    figure.set_layout_engine("none")
    # measured runs first, then published rows from the best perplexity down
    order = [
        (0 if k == MEASURED_LABEL else 1, y, x, n, f)
        for k, p in series.items()
        for x, y, n, f in zip(p.x, p.y, p.names, p.families, strict=True)
    ]
    order.sort(key=lambda item: item[:2])
    place_labels(
        axes,
        [o[2] for o in order],
        [o[1] for o in order],
        [o[3] for o in order],
        colours=[COLOURS[o[4]] for o in order],
    )
    return figure


def corpus_figures(
    table: pd.DataFrame, results: pd.DataFrame, corpus: str | None = None
) -> dict[str, Figure]:
    """{plot name: figure} for the plots of :data:`PLOTS` that have at least one point."""
    corpus = corpus or table.attrs.get("corpus") or "corpus"
    figures = {}
    for plot, series in plot_points(table, results).items():
        if not series:
            continue
        x_label, log_x, more_is_better = PLOTS[plot]
        title = f"{corpus}: test perplexity against {x_label}"
        figures[plot] = points_figure(
            series, x_label=x_label, log_x=log_x, title=title, more_x_is_better=more_is_better
        )
    return figures


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG (its folder made as needed) that replaces whatever file or
    symlink is at ``path`` (never writing through a link); return the path."""
    path = Path(path)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=dpi)
    write_atomically(path, png.getvalue())
    return path


def write_corpus_plots(
    tables: dict[str, pd.DataFrame], results: pd.DataFrame, out_dir: str | Path
) -> dict[str, list[Path]]:
    """Write ``<out_dir>/<corpus>-<plot>.png`` for each table's plots with points and
    record them in ``table.attrs["figures"]`` as (caption, file name) pairs, which the
    markdown embeds as relative links; return the paths per corpus."""
    from bench.report.leaderboard import corpus_file_stem

    written: dict[str, list[Path]] = {}
    for corpus, table in tables.items():
        figures = corpus_figures(table, results, corpus)
        paths = [
            save_figure(figure, Path(out_dir) / f"{corpus_file_stem(corpus)}-{plot}.png")
            for plot, figure in figures.items()
        ]
        table.attrs["figures"] = [
            (f"test perplexity against {PLOTS[plot][0]}", path.name)
            for plot, path in zip(figures, paths, strict=True)
        ]
        written[corpus] = paths
    return written
