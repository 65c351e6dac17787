"""Pictures: the leaderboard's plots (test ppl against parameters and training speed) and
`bench plot`'s training curves, checked as PNG files and by the series their figures hold."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from picture_runs import PictureRuns, make_picture_runs

from bench.report.families import COLOURS, model_family
from bench.report.leaderboard import build_tables
from bench.report.plot_labels import place_labels
from bench.report.plots import (
    FRONTIER_LABEL,
    MEASURED_LABEL,
    REFERENCE_LABEL,
    Points,
    corpus_figures,
    log_ticks,
    pareto_frontier,
    parse_count,
    points_figure,
)
from bench.report.published import PUBLISHED_COLUMNS
from bench.report.training_curves import CURVES, curves_figure, load_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> PictureRuns:
    return make_picture_runs(tmp_path_factory.mktemp("pictures"))


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, path


def published_rows(corpus: str) -> pd.DataFrame:
    rows = [
        {"corpus": corpus, "model": "Paper A", "params": "2M (estimate)", "test_ppl": "79.7 ± 0.1"},
        {"corpus": corpus, "model": "Paper B", "params": "1.5K", "test_ppl": "300.5"},
        {"corpus": corpus, "model": "Paper C", "params": "", "test_ppl": "50.0"},  # no count
    ]
    return pd.DataFrame([dict.fromkeys(PUBLISHED_COLUMNS, "") | row for row in rows])


def flat(pairs) -> list[float]:
    return [float(v) for pair in sorted(pairs) for v in pair]


def offsets(axes, label: str) -> list[float]:
    """The points of the series called ``label``, sorted, as x0, y0, x1, y1, ..."""
    (collection,) = [c for c in axes.collections if c.get_label() == label]
    return flat(tuple(xy) for xy in collection.get_offsets())


def test_parse_count_reads_published_parameter_cells():
    assert parse_count("4.65M") == pytest.approx(4.65e6)
    assert parse_count("2M (estimate, Merity et al. 2016 Table 2)") == 2e6
    assert parse_count("1.04B") == pytest.approx(1.04e9)
    assert parse_count("950") == 950
    assert math.isnan(parse_count("")) and math.isnan(parse_count("about a million"))


def test_corpus_plots_hold_measured_runs_and_published_rows_apart(runs):
    results = runs.store().results_frame()
    tiny = results[results["corpus"] == runs.tiny]
    tables = build_tables(results, published_rows(runs.tiny), corpora=[runs.tiny])
    figures = corpus_figures(tables[runs.tiny], results)
    assert set(figures) == {"params", "speed"}

    params_axes = figures["params"].axes[0]
    assert params_axes.get_xscale() == "log"
    assert params_axes.get_yscale() == "log"  # the unigram's 640 does not squash the rest
    families = ["LSTM", "n-gram", "other"]  # measured lstm, kn and unigram; Papers A to C
    assert [t.get_text() for t in params_axes.get_legend().get_texts()] == [
        MEASURED_LABEL,
        REFERENCE_LABEL,
        FRONTIER_LABEL,
        *families,
    ]
    expected = flat(zip(tiny["params"], tiny["test_ppl"], strict=True))
    assert offsets(params_axes, MEASURED_LABEL) == pytest.approx(expected)
    # Paper C has no parameter count, so it is not on the plot
    assert offsets(params_axes, REFERENCE_LABEL) == pytest.approx([1500, 300.5, 2e6, 79.7])

    # published rows have no speed: the speed plot shows measured runs only
    speed_axes = figures["speed"].axes[0]
    assert {c.get_label() for c in speed_axes.collections} == {MEASURED_LABEL}
    timed = tiny[tiny["train_tokens_per_second"].notna()]  # a run without a speed is left out
    speed = flat(zip(timed["train_tokens_per_second"], timed["test_ppl"], strict=True))
    assert len(speed) >= 4
    assert offsets(speed_axes, MEASURED_LABEL) == pytest.approx(speed)


def colours_by_point(axes, label: str) -> dict[tuple[float, float], str]:
    from matplotlib.colors import to_hex

    (collection,) = [c for c in axes.collections if c.get_label() == label]
    colours = (
        collection.get_edgecolors() if label == REFERENCE_LABEL else collection.get_facecolors()
    )
    return {
        (float(x), float(y)): to_hex(colour)
        for (x, y), colour in zip(collection.get_offsets(), colours, strict=True)
    }


def test_points_are_coloured_by_model_family_and_published_points_named(runs):
    results = runs.store().results_frame()
    tiny = results[results["corpus"] == runs.tiny]
    tables = build_tables(results, published_rows(runs.tiny), corpora=[runs.tiny])
    axes = corpus_figures(tables[runs.tiny], results)["params"].axes[0]
    measured = colours_by_point(axes, MEASURED_LABEL)
    for _, run in tiny.iterrows():
        family = model_family(run["model_label"], run["plugin"])
        (colour,) = [
            c
            for (x, y), c in measured.items()
            if x == float(run["params"]) and y == pytest.approx(run["test_ppl"])
        ]
        assert colour == COLOURS[family].lower(), run["model_label"]
    assert {"#0072b2", "#d55e00"} <= set(measured.values())  # the LSTMs and the n-grams
    published = colours_by_point(axes, REFERENCE_LABEL)
    assert set(published.values()) == {COLOURS["other"].lower()}
    names = {t.get_text() for t in axes.texts}
    assert {"Paper A", "Paper B"} <= names  # published points are named, not only measured


def test_the_pareto_frontier_keeps_the_points_nothing_beats():
    points = [(1.0, 300.0), (2.0, 200.0), (3.0, 250.0), (4.0, 100.0), (5.0, 100.0), (6.0, 90.0)]
    assert pareto_frontier(points, more_x_is_better=False) == [0, 1, 3, 5]
    # more tokens/s is better: from the fastest down, each point better than all faster ones
    assert pareto_frontier(points, more_x_is_better=True) == [5]
    fast = [(10.0, 200.0), (5.0, 150.0), (1.0, 150.0), (0.5, 100.0)]
    assert pareto_frontier(fast, more_x_is_better=True) == [0, 1, 3]


def test_the_frontier_line_is_drawn_through_the_frontier_points(runs):
    results = runs.store().results_frame()
    tables = build_tables(results, published_rows(runs.tiny), corpora=[runs.tiny])
    axes = corpus_figures(tables[runs.tiny], results)["params"].axes[0]
    (line,) = axes.get_lines()
    drawn = list(zip(line.get_xdata(), line.get_ydata(), strict=True))
    every = [tuple(p) for c in axes.collections for p in c.get_offsets()]
    frontier = [every[i] for i in pareto_frontier(every, more_x_is_better=False)]
    assert flat(drawn) == pytest.approx(flat(frontier))
    # the fewest parameters and the lowest perplexity are always on it
    assert min(every) in frontier and min(every, key=lambda p: p[1]) in frontier
    assert line.get_drawstyle() == "steps-post" and line.get_linestyle() == "--"


def crowded_figure(count: int):
    """A plot whose points sit close together: most names cannot all fit."""
    series = {REFERENCE_LABEL: Points(), MEASURED_LABEL: Points()}
    for i in range(count):
        series[REFERENCE_LABEL].add(1e6 * (1 + 0.05 * i), 100 + i, f"published model {i}", "LSTM")
    series[MEASURED_LABEL].add(1.1e6, 105, "bench run (run 7)", "RNN")
    return points_figure(
        series, x_label="parameters", log_x=True, title="t", more_x_is_better=False
    )


def test_point_names_never_overprint_each_other_or_the_points():
    figure = crowded_figure(30)
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    labels = [t for t in axes.texts if t.get_text()]
    assert 3 <= len(labels) < 31  # some names fit, not all of them
    assert "bench run (run 7)" in {t.get_text() for t in labels}  # measured runs first
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), labels[i].get_text()
        assert axes.get_window_extent(renderer).contains(box.x0, box.y0)
        for x, y in [tuple(p) for c in axes.collections for p in c.get_offsets()]:
            px, py = axes.transData.transform((x, y))
            assert not box.contains(px, py), labels[i].get_text()


def test_place_labels_leaves_out_a_name_with_no_free_spot():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    placed = place_labels(axes, [0.5, 0.5], [0.5, 0.5], ["first", "second"])
    assert [t.get_text() for t in placed] == ["first", "second"]  # two spots around it
    placed = place_labels(axes, [0.5] * 12, [0.5] * 12, [f"n{i}" for i in range(12)])
    assert len(placed) < 12 and len(axes.texts) == 2 + len(placed)  # the rest removed


def test_log_ticks_are_round_and_few():
    assert log_ticks(50, 700) == [50, 100, 200, 500]
    assert log_ticks(5e3, 1e8) == [1e4, 1e5, 1e6, 1e7, 1e8]
    assert log_ticks(108, 153) == [110, 120, 130, 140, 150]  # narrow: evenly spaced


def test_leaderboard_out_writes_the_plots_beside_the_markdown_and_links_them(runs, tmp_path):
    out = tmp_path / "boards"
    result = runs.invoke("leaderboard", "--corpus", runs.tiny, "--corpus", "ptb", "--out", out)
    assert result.exit_code == 0, result.output
    (tiny_md,) = [p for p in out.glob("*.md") if p.name != "ptb.md"]
    stem = tiny_md.stem
    for plot in ("params", "speed"):
        assert_png(out / f"{stem}-{plot}.png")
        assert f"]({stem}-{plot}.png)" in tiny_md.read_text()
    # ptb has only published rows: a parameters plot, no speed plot, and no link to one
    assert_png(out / "ptb-params.png")
    assert not (out / "ptb-speed.png").exists()
    ptb = (out / "ptb.md").read_text()
    assert "](ptb-params.png)" in ptb and "ptb-speed.png" not in ptb
    # CSV holds the table only: no plots
    csv = runs.invoke("leaderboard", "--corpus", runs.tiny, "--format", "csv", "--out", out / "c")
    assert csv.exit_code == 0 and not list((out / "c").glob("*.png"))


def test_bench_plot_overlays_training_curves_of_runs(runs, tmp_path):
    path = tmp_path / "curves" / "lstms.png"
    result = runs.invoke("plot", runs.lstm, runs.lstm_wide, "--out", path)
    assert result.exit_code == 0, result.output
    assert_png(path)

    store = runs.store()
    figure = curves_figure(load_curves(store, [runs.lstm, runs.lstm_wide]))
    titles = [axes.get_title(loc="left") for axes in figure.axes]
    assert titles == [CURVES[name][0] for name in ("train_loss", "valid_ppl", "lr")]
    assert figure.axes[-1].get_xlabel() == "training tokens seen"
    records = [store.get_run(runs.lstm), store.get_run(runs.lstm_wide)]
    legends = [f"run {r['id']}: {r['model_label']}" for r in records]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == legends
    for axes, name in zip(figure.axes, ("train_loss", "valid_ppl"), strict=False):
        assert [line.get_label() for line in axes.get_lines()] == legends
        for line, record in zip(axes.get_lines(), records, strict=True):
            # the first value at each step: the epoch's mean train_loss, logged after the
            # loss of its last step at the same step, is not a point of the curve per step
            first: dict[float, float] = {}
            for metric in record["metrics"]:
                if metric["name"] == name:
                    first.setdefault(metric["step"], metric["value"])
            last_step = max(m["step"] or 0 for m in record["metrics"])
            per_step = record["train_tokens"] / last_step  # tokens seen, not steps or epochs
            expected = {step * per_step: value for step, value in first.items()}
            drawn = flat(zip(line.get_xdata(), line.get_ydata(), strict=True))
            assert drawn == pytest.approx(flat(expected.items()))
    steps, _ = figure.axes[0].get_lines()[0].get_data()
    assert len(steps) > 2  # per logged step, more than one point per epoch


def test_the_learning_rate_is_a_thin_strip_under_a_shared_x_axis(runs):
    figure = curves_figure(load_curves(runs.store(), [runs.lstm]))
    loss, valid, lr = figure.axes
    heights = [a.get_position().height for a in (loss, valid, lr)]
    assert heights[2] < 0.5 * min(heights[:2])
    assert loss.get_shared_x_axes().joined(loss, lr) and valid.get_shared_x_axes().joined(valid, lr)


@pytest.mark.parametrize("axis, label", [("steps", "optimiser steps"), ("time", "wall time")])
def test_bench_plot_draws_against_steps_or_wall_time(runs, tmp_path, axis, label):
    result = runs.invoke("plot", runs.lstm, "--x", axis, "--out", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    store = runs.store()
    figure = curves_figure(load_curves(store, [runs.lstm]), x_axis=axis)
    assert figure.axes[-1].get_xlabel().startswith(label)
    record = store.get_run(runs.lstm)
    losses = [m for m in record["metrics"] if m["name"] == "valid_ppl"]
    xs = list(figure.axes[1].get_lines()[0].get_xdata())
    if axis == "steps":
        assert xs == [m["step"] for m in losses]
    else:  # minutes since the run started
        since = [(m["created_at"] - record["started_at"]).total_seconds() / 60 for m in losses]
        assert xs == pytest.approx(since)


@pytest.mark.parametrize(
    "which, message",
    [
        (lambda runs: [runs.lstm, 999], "no run with id 999"),
        (lambda runs: [runs.unigram], "has no training curves"),
        (lambda runs: [runs.lstm, runs.other_corpus], "different corpora"),
    ],
    ids=["unknown-run", "no-metrics", "two-corpora"],
)
def test_bench_plot_refuses_in_one_line(runs, tmp_path, which, message):
    result = runs.invoke("plot", *which(runs), "--out", tmp_path / "x.png")
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_bench_plot_help_has_an_example(runs):
    text = runs.invoke("plot", "--help").output
    assert "bench plot 3 --out" in text and "--out" in text
