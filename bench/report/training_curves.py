"""Training curves of stored runs: train loss per logged step (``log_every``), valid
perplexity per epoch and the learning rate, from the metrics training logs
(``bench/training.py``).

Runs are overlaid, one colour per run, so they must be on one corpus: a loss is only
comparable on the same text and tokens. Figures use matplotlib's Agg canvas directly
(no pyplot, no display needed) and are returned, so tests can look at their lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.scoring.corpus_identity import corpus_identity, shown_names

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bench.store import Store

# metric name -> (x axis: "step" or "epoch", panel title, y label, log y)
CURVES = {
    "train_loss": ("step", "train loss", "loss (nats/token)", False),
    "valid_ppl": ("epoch", "valid perplexity", "perplexity", True),
    "lr": ("step", "learning rate", "learning rate", False),
}


@dataclass
class RunCurves:
    """One run's curves: {metric name: (x values, y values)}, ordered by x."""

    run_id: int
    label: str
    corpus: str | None
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    @property
    def legend(self) -> str:
        return f"run {self.run_id}: {self.label}"


def run_curves(record: dict[str, Any]) -> RunCurves:
    """The curves in a :meth:`Store.get_run` record (empty series when it has none)."""
    curves = RunCurves(
        run_id=int(record["id"]),
        label=record.get("model_label") or record.get("plugin") or "?",
        corpus=record.get("corpus"),
    )
    metrics = record.get("metrics", [])
    # The epoch's end logs its mean train_loss in one batch with valid_ppl (one created_at),
    # at the step of the epoch's last logged loss: the curve per step leaves those means out
    # unless they are all there is (log_every longer than an epoch).
    epoch_ends = {m.get("created_at") for m in metrics if m.get("name") == "valid_ppl"}
    stepwise = [m for m in metrics if m.get("created_at") not in epoch_ends]
    for name, (axis, *_) in CURVES.items():
        rows = [m for m in metrics if m.get("name") == name]
        if name == "train_loss":
            rows = [m for m in stepwise if m.get("name") == name] or rows
        # a step logged twice (after a NaN recovery went back to the epoch's start, or a
        # resume) keeps its last value: that is the one training went on from
        points: dict[float, float] = {}
        for metric in rows:
            x, value = metric.get(axis), metric.get("value")
            if x is not None and value is not None:
                points[float(x)] = float(value)
        if points:
            xs = sorted(points)
            curves.series[name] = (xs, [points[x] for x in xs])
    return curves


def load_curves(store: Store, run_ids: Iterable[int]) -> list[RunCurves]:
    """Each run's curves; a BenchError for an unknown run, a run without training curves
    (n-gram models log none) or runs on different corpora."""
    records = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
    loaded = [run_curves(record) for record in records]
    if not loaded:
        raise BenchError("name at least one run (see `bench runs`)")
    for curves in loaded:
        if not curves.series:
            raise BenchError(
                f"run {curves.run_id} ({curves.label}) has no training curves: it logged none "
                f"of {', '.join(CURVES)} (n-gram models log none)"
            )
    if len({corpus_identity(record) for record in records}) > 1:  # by content, not name
        names = shown_names(records)
        which = "; ".join(f"run {r['id']} on {names[corpus_identity(r)]}" for r in records)
        raise BenchError(f"runs on different corpora cannot share a plot ({which})")
    return loaded


def _spread(runs: list[RunCurves], name: str) -> float:
    values = [y for run in runs if name in run.series for y in run.series[name][1] if y > 0]
    return max(values) / min(values) if values else 1.0


def curves_figure(runs: list[RunCurves], *, title: str | None = None) -> Figure:
    """One panel per metric that some run logged, side by side; one colour per run, the
    same in every panel, and a legend naming each run's id and model."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from bench.report.plots import as_plain_text

    names = [name for name in CURVES if any(name in run.series for run in runs)]
    figure = Figure(figsize=(4.2 * len(names) + 0.5, 4.2), layout="constrained")
    panels = figure.subplots(1, len(names), squeeze=False)[0]
    for axes, name in zip(panels, names, strict=True):
        axis, panel_title, y_label, log_y = CURVES[name]
        for index, run in enumerate(runs):
            if name not in run.series:
                continue
            xs, ys = run.series[name]
            many = len(xs) > 30  # markers would hide a long curve; they show a short one
            axes.plot(
                xs,
                ys,
                color=f"C{index % 10}",
                marker="" if many else "o",
                markersize=3,
                linewidth=1.2,
                label=run.legend,
            )
        if log_y and _spread(runs, name) > 3:  # a log axis only pays when values span a lot
            axes.set_yscale("log")
        if axis == "epoch":
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(axis)
        axes.set_ylabel(y_label)
        axes.set_title(panel_title, fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    corpus = runs[0].corpus if runs else None
    figure.suptitle(title or (f"training on {corpus}" if corpus else "training"), fontsize=11)
    return as_plain_text(figure)
