"""Pictures: the leaderboard's plots (test ppl against parameters and training speed) and
`bench plot`'s training curves, checked as PNG files and by the series their figures hold."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from picture_runs import PictureRuns, make_picture_runs

from bench.report.leaderboard import build_tables
from bench.report.plots import MEASURED_LABEL, REFERENCE_LABEL, corpus_figures, parse_count
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
    assert [t.get_text() for t in params_axes.get_legend().get_texts()] == [
        MEASURED_LABEL,
        REFERENCE_LABEL,
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
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == [CURVES[name][1] for name in ("train_loss", "valid_ppl", "lr")]
    records = [store.get_run(runs.lstm), store.get_run(runs.lstm_wide)]
    legends = [f"run {r['id']}: {r['model_label']}" for r in records]
    for axes, name in zip(figure.axes, ("train_loss", "valid_ppl", "lr"), strict=True):
        assert [line.get_label() for line in axes.get_lines()] == legends
        assert [t.get_text() for t in axes.get_legend().get_texts()] == legends
        x_axis = CURVES[name][0]
        for line, record in zip(axes.get_lines(), records, strict=True):
            # the first value at each step: the epoch's mean train_loss, logged after the
            # loss of its last step at the same step, is not a point of the curve per step
            first: dict[float, float] = {}
            for metric in record["metrics"]:
                if metric["name"] == name:
                    first.setdefault(metric[x_axis], metric["value"])
            drawn = flat(zip(line.get_xdata(), line.get_ydata(), strict=True))
            assert drawn == pytest.approx(flat(first.items()))
    steps, _ = figure.axes[0].get_lines()[0].get_data()
    assert len(steps) > 2  # per logged step, more than one point per epoch


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
