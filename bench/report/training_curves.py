"""Training curves of stored runs: train loss per logged step (``log_every``), valid
perplexity at each epoch's end and the learning rate, from the metrics training logs
(``bench/training/loop.py``), against the training tokens seen, the optimiser steps or
the wall time.

Epochs are a poor common axis: runs with other batch sizes, bptt or epoch lengths do
not line up by epoch, but they do by the tokens they have trained on. Tokens seen at a
step are the step times the run's tokens per step (its ``train_tokens`` over its last
step); wall time is a metric's time since the run started (a resumed run's pause
included). Runs are overlaid, one colour per run, so they must be on one corpus: a loss
is only comparable on the same text and tokens. Figures use matplotlib's Agg canvas
directly (no pyplot, no display needed) and are returned, so tests can look at their
lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.scoring.corpus_identity import corpus_identity, shown_names

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bench.store import Store

# metric name -> (panel title, y label, log y, relative height of its panel)
CURVES = {
    "train_loss": ("train loss", "loss (nats/token)", False, 3),
    "valid_ppl": ("valid perplexity", "perplexity", True, 3),
    "lr": ("learning rate", "lr", False, 1),  # a thin strip: it explains the other two
}
# x axis name -> its label; "tokens" is the default
X_AXES = {
    "tokens": "training tokens seen",
    "steps": "optimiser steps",
    "time": "wall time since the run started",
}


@dataclass
class RunCurves:
    """One run's curves: {metric name: (steps, values)}, ordered by step, the seconds
    since the run started at each point, and the run's tokens per step."""

    run_id: int
    label: str
    corpus: str | None
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    seconds: dict[str, list[float | None]] = field(default_factory=dict)
    tokens_per_step: float | None = None

    @property
    def legend(self) -> str:
        return f"run {self.run_id}: {self.label}"

    def x_values(self, name: str, axis: str) -> list[float]:
        """The x values of curve ``name`` on the x axis ``axis`` (:data:`X_AXES`)."""
        steps = self.series[name][0]
        if axis == "tokens":
            if not self.tokens_per_step:
                raise BenchError(
                    f"run {self.run_id} ({self.label}) did not record how many tokens it "
                    "trained on: plot it with --x steps or --x time"
                )
            return [step * self.tokens_per_step for step in steps]
        if axis == "time":
            seconds = self.seconds.get(name) or []
            if len(seconds) != len(steps) or any(s is None for s in seconds):
                raise BenchError(
                    f"run {self.run_id} ({self.label}) has metrics without times: "
                    "plot it with --x steps or --x tokens"
                )
            return [float(s) for s in seconds]  # type: ignore[arg-type]
        return list(steps)


def _seconds(metric: dict[str, Any], started: Any) -> float | None:
    created = metric.get("created_at")
    if not isinstance(created, datetime) or not isinstance(started, datetime):
        return None
    return (created - started).total_seconds()


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
    for name in CURVES:
        rows = [m for m in metrics if m.get("name") == name]
        if name == "train_loss":
            rows = [m for m in stepwise if m.get("name") == name] or rows
        # a step logged twice (after a NaN recovery went back to the epoch's start, or a
        # resume) keeps its last value: that is the one training went on from
        points: dict[float, tuple[float, float | None]] = {}
        for metric in rows:
            step, value = metric.get("step"), metric.get("value")
            if step is not None and value is not None:
                points[float(step)] = (float(value), _seconds(metric, record.get("started_at")))
        if points:
            steps = sorted(points)
            curves.series[name] = (steps, [points[s][0] for s in steps])
            curves.seconds[name] = [points[s][1] for s in steps]
    last_step = max((m.get("step") or 0 for m in metrics), default=0)
    if record.get("train_tokens") and last_step:
        curves.tokens_per_step = float(record["train_tokens"]) / last_step
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


def _time_scale(runs: list[RunCurves]) -> tuple[float, str]:
    longest = max((s or 0) for run in runs for seq in run.seconds.values() for s in seq)
    return (3600.0, "hours") if longest > 3 * 3600 else (60.0, "minutes")


def _x_axis(axes: Any, axis: str, unit: str) -> None:
    from matplotlib.ticker import FuncFormatter

    from bench.report.leaderboard import humanize_count

    label = X_AXES[axis] + (f" ({unit})" if axis == "time" else "")
    axes.set_xlabel(label)
    if axis in ("tokens", "steps"):
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: humanize_count(v)))


def curves_figure(
    runs: list[RunCurves], *, title: str | None = None, x_axis: str = "tokens"
) -> Figure:
    """One panel per metric that some run logged, stacked on one shared x axis (tokens
    seen, steps or wall time), the learning rate as a thin strip at the bottom; one colour
    per run, the same in every panel, and a legend naming each run's id and model."""
    from matplotlib.figure import Figure

    from bench.report.plots import as_plain_text

    names = [name for name in CURVES if any(name in run.series for run in runs)]
    ratios = [CURVES[name][3] for name in names]
    figure = Figure(figsize=(7.5, 1.2 + 0.75 * sum(ratios)), layout="constrained")
    panels = figure.subplots(
        len(names), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios}
    )[:, 0]
    scale, unit = _time_scale(runs) if x_axis == "time" else (1.0, "")
    for axes, name in zip(panels, names, strict=True):
        panel_title, y_label, log_y, _ = CURVES[name]
        for index, run in enumerate(runs):
            if name not in run.series:
                continue
            xs = [x / scale for x in run.x_values(name, x_axis)]
            ys = run.series[name][1]
            if name == "lr":  # the rate logged at an epoch's end held over the whole epoch
                xs, ys = [0.0, *xs], [ys[0], *ys]
            many = len(xs) > 30  # markers would hide a long curve; they show a short one
            axes.plot(
                xs,
                ys,
                color=f"C{index % 10}",
                marker="" if many or name == "lr" else "o",
                markersize=3,
                linewidth=1.2,
                drawstyle="steps-pre" if name == "lr" else "default",
                label=run.legend,
            )
        if log_y and _spread(runs, name) > 3:  # a log axis only pays when values span a lot
            axes.set_yscale("log")
        axes.set_ylabel(y_label, fontsize=8 if name == "lr" else 10)
        axes.set_title(panel_title, fontsize=9, loc="left")
        axes.grid(True, alpha=0.3)
        if name == "lr":
            axes.tick_params(axis="y", labelsize=7)
            axes.locator_params(axis="y", nbins=2)
    panels[0].legend(fontsize=7)
    _x_axis(panels[-1], x_axis, unit)
    corpus = runs[0].corpus if runs else None
    figure.suptitle(title or (f"training on {corpus}" if corpus else "training"), fontsize=11)
    return as_plain_text(figure)
