"""Text from someone else's runs (labels, corpus names, commands, errors) is shown as text:
plots draw it without mathtext."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.evaluation import Evaluation
from bench.leaderboard import build_tables
from bench.metrics import SplitMetrics
from bench.model import EvalProtocol
from bench.plots import corpus_figures
from bench.probes.gradients import GradientNorms
from bench.probes.report import plot_gradient_norms
from bench.published import PUBLISHED_COLUMNS
from bench.store import Store
from bench.tokens import UnitCounts
from bench.training_curves import RunCurves, curves_figure

NO_PUBLISHED = pd.DataFrame(columns=PUBLISHED_COLUMNS)
MATHTEXT_LABELS = ["cost $\\frac{1$", "$5 and $10"]


def add_run(store: Store, *, corpus: str, label: str, command: str = "bench run", **fields) -> int:
    run_id = store.create_run(
        plugin="lstm", model_label=label, corpus=corpus, command=command, **fields
    )
    counts = UnitCounts(tokens=1000, words=1000, bytes=6000, lines=40)
    store.add_evaluation(
        run_id,
        Evaluation(
            split="test",
            counts=counts,
            protocol=EvalProtocol("stream", 10, 35),
            metrics=SplitMetrics.compute(1000 * math.log(100.0), counts),
            seconds=2.0,
        ),
    )
    store.finish_run(run_id, "finished", train_tokens_per_second=5000.0)
    return run_id


def assert_drawn_as_text(figure, labels: list[str]) -> None:
    figure.savefig(io.BytesIO(), format="png")  # mathtext that does not parse raises here
    texts = figure.findobj(lambda artist: hasattr(artist, "get_parse_math"))
    for label in labels:
        holding = [t for t in texts if label in t.get_text()]
        assert holding and not any(t.get_parse_math() for t in holding), label


def test_leaderboard_plots_draw_labels_with_dollars_as_text(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'bench.db'}") as store:
        for number, label in enumerate(MATHTEXT_LABELS):
            add_run(store, corpus="c $x$", label=label, params=1000 * (number + 1))
        results = store.results_frame()
    tables = build_tables(results, NO_PUBLISHED, corpora=["c $x$"])
    figures = corpus_figures(tables["c $x$"], results)
    assert set(figures) == {"params", "speed"}
    for figure in figures.values():
        assert_drawn_as_text(figure, MATHTEXT_LABELS + ["c $x$"])


def test_training_curves_and_the_probe_plot_draw_labels_as_text(tmp_path: Path) -> None:
    curves = [
        RunCurves(run_id=i, label=label, corpus="c", series={"lr": ([1.0, 2.0], [0.1, 0.2])})
        for i, label in enumerate(MATHTEXT_LABELS)
    ]
    assert_drawn_as_text(curves_figure(curves, title="$title"), MATHTEXT_LABELS)

    norms = GradientNorms(
        distances=np.arange(1, 4), hidden=np.ones(3), cell=None, positions=np.arange(3)
    )
    path = plot_gradient_norms(
        [(label, norms) for label in MATHTEXT_LABELS], tmp_path / "probe.png", title="a $b"
    )
    assert path.read_bytes().startswith(b"\x89PNG")
