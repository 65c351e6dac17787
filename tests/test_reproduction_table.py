"""`bench reproduce --table CORPUS`: published rows matched to recipes, runs and states."""

from __future__ import annotations

import math
import os

import pandas as pd
from click.testing import CliRunner

from bench.api.model import EvalProtocol
from bench.cli import cli
from bench.configuration.recipes import Recipe, find_recipe, load_recipes
from bench.report.published import load_published
from bench.report.reproduction_table import (
    MEASURED,
    NO_RECIPE,
    NOT_YET_POSSIBLE,
    RUNNABLE,
    build_rows,
    whole_runs,
)
from bench.scoring.exactly_once import Evaluation
from bench.scoring.metrics import SplitMetrics
from bench.store import Store
from bench.tokenization.tokens import UnitCounts


def recipe(name: str, reproduces: str | None, **options) -> Recipe:
    base = {"layers": 1, "hidden_size": 32, "batch_size": 4, "bptt": 5, "epochs": 2}
    return Recipe(
        name=name,
        description="d",
        published="test 1",
        cost="c",
        config={"plugin": "lstm", "corpus": "toy", "options": base | options},
        path=None,
        reproduces=reproduces,
        paper_time="1 day on a K20 (paper)",
        step_cost={"cpu_seconds": 2.0, "epoch_tokens": 2000, "peak_gb": 1.5, "measured": "today"},
    )


PUBLISHED = pd.DataFrame(
    [
        {
            "corpus": "toy",
            "model": "Big LSTM",
            "valid_ppl": "",
            "test_ppl": "40.0",
            "citation": "Someone 2020",
        },
        {
            "corpus": "toy",
            "model": "KN5",
            "valid_ppl": "",
            "test_ppl": "70.0",
            "citation": "Someone 2013",
        },
        {
            "corpus": "other",
            "model": "Big LSTM",
            "valid_ppl": "",
            "test_ppl": "9.0",
            "citation": "x",
        },
    ]
)


def run(run_id: int, ppl: float, status: str = "finished", corpus: str = "toy", **options):
    base = {
        "layers": 1,
        "hidden_size": 32,
        "batch_size": 4,
        "bptt": 5,
        "epochs": 2,
        "dropout": 0.0,
        "max_steps_per_epoch": None,
    }
    return {
        "id": run_id,
        "status": status,
        "plugin": "lstm",
        "corpus": corpus,
        "test_ppl": ppl,
        "wall_seconds": 7200.0,
        "device_name": "cpu",
        "config": {"options": base | options},
    }


def test_rows_follow_the_published_table_and_say_their_state():
    recipes = [recipe("big", "Big LSTM")]
    rows = build_rows("toy", PUBLISHED, recipes, [], lambda r: None)
    assert [(r.model, r.recipe, r.state) for r in rows] == [
        ("Big LSTM", "big", RUNNABLE),
        ("KN5", None, NO_RECIPE),
    ]
    big = rows[0]
    assert big.published == "test 40.0" and big.source == "Someone 2020"
    # 2 epochs x 2000 tokens / (4 x 5 tokens per step) x 2 s = 400 s
    assert big.projected == "CPU 7 min for 2 epochs"
    assert "CPU 2 s per step of 20 tokens" in big.step_cost and "peak 1.5 GB" in big.step_cost


def test_a_transformer_recipe_counts_its_blocks_of_tokens_per_sample():
    r = recipe("big", "Big LSTM")
    del r.config["options"]["bptt"]
    r.config["options"]["tokens_per_sample"] = 10
    (row, _) = build_rows("toy", PUBLISHED, [r], [], lambda _: None)
    # 2 epochs x 2000 tokens / (4 x 10 tokens per step) x 2 s = 200 s
    assert row.projected == "CPU 3 min for 2 epochs"
    assert "CPU 2 s per step of 40 tokens" in row.step_cost


def test_only_whole_runs_of_the_recipes_own_options_count():
    r = recipe("big", "Big LSTM")
    runs = [
        run(1, 50.0),
        run(2, 45.0),
        run(3, 30.0, hidden_size=16),
        run(4, 20.0, max_steps_per_epoch=3),
        run(5, 10.0, status="failed"),
        run(6, 5.0, corpus="other"),
    ]
    assert [found["id"] for found in whole_runs(r, "toy", runs)] == [1, 2]
    (row, _) = build_rows("toy", PUBLISHED, [r], runs, lambda _: None)
    assert row.state == MEASURED
    assert row.whole_runs.startswith("2 (best: run 2, test ppl 45.00, 2.0 h wall")


def test_a_recipe_the_plugins_cannot_build_says_why():
    rows = build_rows(
        "toy",
        PUBLISHED,
        [recipe("big", "Big LSTM")],
        [run(1, 50.0)],
        lambda r: "unknown model plugin 'snm'",
    )
    assert rows[0].state == NOT_YET_POSSIBLE and rows[0].why == "unknown model plugin 'snm'"


def test_a_recipe_naming_no_published_row_is_still_listed():
    rows = build_rows(
        "toy", PUBLISHED, [recipe("odd", "A row nobody published")], [], lambda r: None
    )
    assert rows[-1].recipe == "odd" and rows[-1].source == "not in the published table"


def test_every_packaged_recipe_names_a_published_row_of_its_corpus():
    published = load_published()
    aliases = {"1b-word": "one-billion-word"}
    models = {
        (aliases.get(c, c), m) for c, m in zip(published["corpus"], published["model"], strict=True)
    }
    for packaged in load_recipes():
        assert (packaged.config["corpus"], packaged.reproduces) in models, packaged.name


def evaluation(split: str, ppl: float) -> Evaluation:
    counts = UnitCounts(tokens=1000, words=1000, bytes=5000, lines=50, oov=0)
    return Evaluation(
        split=split,
        counts=counts,
        protocol=EvalProtocol("stream", 10, None),
        metrics=SplitMetrics.compute(1000 * math.log(ppl), counts),
        seconds=1.0,
    )


def test_the_command_prints_the_table_with_a_run_from_the_database():
    recipe_ = find_recipe("zaremba-small")
    with Store(os.environ["BENCH_DB"]) as store:
        run_id = store.create_run(
            plugin="lstm", corpus="ptb", config={"options": dict(recipe_.config["options"])}
        )
        store.add_evaluation(run_id, evaluation("test", 113.2))
        store.finish_run(run_id, "finished")
    result = CliRunner().invoke(cli, ["reproduce", "--table", "ptb"])
    assert result.exit_code == 0, result.output
    block = result.output.split("LSTM small, non-regularized")[1].split("\n\n")[0]
    assert "[measured]" in block and "zaremba-small" in block
    assert f"1 (best: run {run_id}, test ppl 113.20" in block
    assert "[runnable]" in result.output.split("LSTM medium, dropout 0.5")[1]
    assert "KN5 + cache  [no recipe]" in result.output


def test_one_billion_word_table_lists_every_published_row():
    result = CliRunner().invoke(cli, ["reproduce", "--table", "one-billion-word"])
    assert result.exit_code == 0, result.output
    published = load_published()
    for model in published[published["corpus"] == "1b-word"]["model"]:
        assert f"\n{model}  [" in result.output


def test_an_unknown_table_is_one_error_line():
    result = CliRunner().invoke(cli, ["reproduce", "--table", "no-such-corpus"])
    assert result.exit_code != 0 and result.output.startswith("Error: no published rows")


def test_a_count_based_recipe_gives_the_cost_of_a_whole_estimate_scaled_to_the_corpus():
    kn = recipe("kn", "KN5")
    kn = Recipe(
        **{
            **kn.__dict__,
            "config": {"plugin": "kn", "corpus": "toy", "options": {"order": 5}},
            "step_cost": {
                "cpu_seconds": 1800.0,
                "estimate_tokens": 800_000_000,
                "epoch_tokens": 1_600_000_000,
                "peak_gb": 8.4,
                "temp_disk_gb": 30.0,
                "measured": "today",
            },
        }
    )
    (row,) = [r for r in build_rows("toy", PUBLISHED, [kn], [], lambda r: None) if r.recipe]
    assert row.step_cost == (
        "CPU 30 min to estimate from 800,000,000 tokens; peak 8.4 GB; temporary disk 30 GB (today)"
    )
    assert row.projected == "CPU 1.0 h for 1,600,000,000 train tokens"  # linear in tokens
