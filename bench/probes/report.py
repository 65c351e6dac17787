"""Showing gradient-probe results: a small table for the terminal and a PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.probes.gradients import GradientNorms

if TYPE_CHECKING:
    import pandas as pd

# What each series of GradientNorms is called in the table, the plot and the database.
SERIES_NAMES = {"h": "grad_norm_h", "c": "grad_norm_c"}


def series_label(label: str, series: str) -> str:
    """The hidden state is the headline; an LSTM's cell state is marked as such."""
    return label if series == "h" else f"{label} [cell c]"


def shown_distances(distance: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to K, and K itself: a few rows spanning the decay."""
    shown = [step * scale for scale in (1, 10, 100, 1000, 10000) for step in (1, 2, 5)]
    return sorted({k for k in shown if k < distance} | {distance})


def gradient_table(
    curves: list[tuple[str, GradientNorms]], distances: list[int] | None = None
) -> pd.DataFrame:
    """Rows k, one column per model and series; ``distances`` picks rows (default: all)."""
    import pandas as pd  # lazily: keeps `bench --help` fast

    columns = {}
    for label, norms in curves:
        for series, values in norms.series().items():
            columns[series_label(label, series)] = pd.Series(values, index=norms.distances)
    table = pd.DataFrame(columns)
    table.index.name = "k"
    return table if distances is None else table.loc[[k for k in distances if k in table.index]]


def plot_gradient_norms(curves: list[tuple[str, GradientNorms]], path: Path, *, title: str) -> Path:
    """Norm against distance k on a log scale, one colour per model; an LSTM's cell dashed.

    Uses matplotlib's Agg canvas directly (no pyplot, no display needed).
    """
    from matplotlib.figure import Figure

    from bench.report.plots import as_plain_text, save_figure

    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    colours = [f"C{index % 10}" for index in range(len(curves))]
    for colour, (label, norms) in zip(colours, curves, strict=True):
        for series, values in norms.series().items():
            # log axes cannot show 0 (underflowed or dead gradients) or NaN: leave gaps
            shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            axes.plot(
                norms.distances,
                shown,
                color=colour,
                marker=".",
                markersize=3,
                linestyle="-" if series == "h" else "--",
                label=series_label(label, series),
            )
    axes.set_yscale("log")
    axes.set_xlabel("distance k (steps back)")
    axes.set_ylabel("mean gradient norm (dashed: w.r.t. c)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(as_plain_text(figure), path, dpi=120)
