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
# plot name -> (x label, whether the x axis is logarithmic); the name ends the file's name
PLOTS = {
    "params": ("parameters", True),
    "speed": ("training tokens/s", True),
}
_SUFFIXES = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


@dataclass
class Points:
    """One series of a plot: x, test perplexity and a short name per point."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, x: Any, y: Any, name: str) -> None:
        # log axes cannot show 0, negative or missing values: such a row is left out
        if _usable(x) and _usable(y):
            self.x.append(float(x))
            self.y.append(float(y))
            self.names.append(name)


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


def _short(text: str, limit: int = 28) -> str:
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
    for _, row in table.iterrows():
        name = _short(str(row.get("model") or ""))
        if row.get("kind") == "measured":
            members = _members(results, row.get("run", ""))
            if members.empty:
                continue
            test_ppl = _mean(members, "test_ppl")
            label = f"{name} (run {row['run']})" if "," not in str(row["run"]) else name
            params = pd.to_numeric(members["params"], errors="coerce").dropna()
            series["params"][MEASURED_LABEL].add(
                params.iloc[0] if len(params) else None, test_ppl, label
            )
            speed = _mean(members, "train_tokens_per_second")
            series["speed"][MEASURED_LABEL].add(speed, test_ppl, label)
        else:
            series["params"][REFERENCE_LABEL].add(
                parse_count(row.get("params")), leading_number(row.get("test ppl")), name
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


def points_figure(series: dict[str, Points], *, x_label: str, log_x: bool, title: str) -> Figure:
    """Test perplexity against x: measured runs as filled circles named in small print,
    published rows as hollow squares (their names are in the table); a legend tells the
    kinds apart."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    styles = {
        MEASURED_LABEL: {"marker": "o", "color": "C0", "s": 36},
        REFERENCE_LABEL: {"marker": "s", "facecolors": "none", "edgecolors": "C1", "s": 36},
    }
    for label, points in series.items():
        axes.scatter(points.x, points.y, label=label, zorder=3, **styles[label])
        if label != MEASURED_LABEL:  # dozens of published names would overprint each other
            continue
        for x, y, name in zip(points.x, points.y, points.names, strict=True):
            axes.annotate(
                name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6, alpha=0.8
            )
    if log_x:
        axes.set_xscale("log")
    axes.margins(x=0.12, y=0.08)  # room for the names of the outermost points
    axes.set_xlabel(x_label)
    axes.set_ylabel("test perplexity (lower is better)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    return as_plain_text(figure)


def corpus_figures(
    table: pd.DataFrame, results: pd.DataFrame, corpus: str | None = None
) -> dict[str, Figure]:
    """{plot name: figure} for the plots of :data:`PLOTS` that have at least one point."""
    corpus = corpus or table.attrs.get("corpus") or "corpus"
    figures = {}
    for plot, series in plot_points(table, results).items():
        if not series:
            continue
        x_label, log_x = PLOTS[plot]
        title = f"{corpus}: test perplexity against {x_label}"
        figures[plot] = points_figure(series, x_label=x_label, log_x=log_x, title=title)
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
