"""The recipes that rescore another recipe's run (`[rescore]`): the papers' settings are
valid options of their method, and `bench reproduce --table` lists them with a cost."""

from __future__ import annotations

from click.testing import CliRunner

from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.recipes import find_recipe, load_recipes
from bench.run.rescoring import search_points

AWD_LSTM_ROWS = [
    "merity-awd-lstm-ptb-cache",
    "merity-awd-lstm-ptb-dynamic",
    "merity-awd-lstm-wt2-cache",
    "merity-awd-lstm-wt2-dynamic",
]


def test_every_rescoring_recipe_sets_options_its_method_has():
    methods = get_host().eval_methods
    rescoring = [r for r in load_recipes() if r.rescore is not None]
    assert {r.name for r in rescoring} >= set(AWD_LSTM_ROWS)
    for recipe in rescoring:
        method = methods.get(recipe.rescore["method"])
        settings = dict(recipe.rescore.get("settings", {}))
        method.Options(**settings)  # pydantic, extra="forbid": a misspelt option fails
        assert find_recipe(recipe.rescore["parent"]).config == recipe.config, recipe.name


def test_the_awd_lstm_recipes_use_the_papers_settings_without_a_search():
    methods = get_host().eval_methods
    for name in AWD_LSTM_ROWS:
        recipe = find_recipe(name)
        method = methods.get(recipe.rescore["method"])
        points = search_points(method, dict(recipe.rescore["settings"]))
        assert len(points) == 1, name  # nothing left for valid to choose
    dynamic = find_recipe("merity-awd-lstm-ptb-dynamic").rescore["settings"]
    assert dynamic["rule"] == "rms" and dynamic["segment"] == 5 and dynamic["rms_batch"] == 100


def test_a_rescoring_recipe_costs_its_parents_run_then_the_method():
    parent, recipe = find_recipe("merity-awd-lstm-wt2"), find_recipe("merity-awd-lstm-wt2-dynamic")
    assert recipe.step_cost["cpu_seconds"] == parent.step_cost["cpu_seconds"]
    assert recipe.step_cost["measured"].startswith(parent.step_cost["measured"] + "; then ")
    assert "dynamic evaluation" in recipe.step_cost["measured"]
    assert recipe.paper_time == parent.paper_time


def test_the_tables_list_the_awd_lstm_rows_as_runnable_with_a_cost():
    for corpus, stem in (("ptb", "merity-awd-lstm-ptb"), ("wikitext-2", "merity-awd-lstm-wt2")):
        result = CliRunner().invoke(cli, ["reproduce", "--table", corpus])
        assert result.exit_code == 0, result.output
        for row, suffix in (
            ("AWD-LSTM + continuous cache pointer", "cache"),
            ("AWD-LSTM + dynamic evaluation", "dynamic"),
        ):
            block = result.output.split(f"\n{row}  [")[1].split("\n\n")[0]
            assert block.startswith("runnable]"), block
            assert f"recipe      {stem}-{suffix} " in block
            assert "step cost   CPU " in block and "; then " in block
            assert "projected   CPU " in block


def test_the_dynamic_recipes_settings_run_on_an_awd_lstm():
    """The recipes' RMS rule, 100 streams of statistics, segments of 5, on a tiny AWD-LSTM:
    every token scored once, and the adapted model differs from the trained one."""
    import numpy as np
    import torch

    from bench import EvalProtocol, RescoreBase, Vocabulary
    from bench.scoring.exactly_once import collect_logprobs
    from bench.tokenization.tokens import TokenizedSplit
    from bench_plugins.awd_lstm import AWDLSTMModel, AWDLSTMOptions

    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(5))])
    model = AWDLSTMModel(
        AWDLSTMOptions(layers=2, embedding_size=4, hidden_size=6, eval_chunk=5), vocab, "cpu"
    )
    rng = np.random.default_rng(0)
    lines = [rng.integers(2, 7, size=6).tolist() for _ in range(200)]
    split = TokenizedSplit.from_lines(
        "valid", lines, eos_id=0, text_lines=[" ".join(f"w{i - 2}" for i in x) for x in lines]
    )
    settings = dict(find_recipe("merity-awd-lstm-wt2-dynamic").rescore["settings"])
    settings["lr"] = settings["lr"] * 100  # big enough to move a tiny model's scores
    method_class = get_host().eval_methods.get("dynamic-eval")
    base = RescoreBase(model, split)
    method = method_class(method_class.Options(**settings), base)
    adapted = collect_logprobs(split, method.score(split, EvalProtocol("stream", 1)))
    plain = base.logprobs(split)
    assert adapted.shape == plain.shape and np.all(np.isfinite(adapted))
    assert np.allclose(adapted[:5], plain[:5], atol=1e-5)  # the first segment: no step yet
    assert not np.allclose(adapted, plain, atol=1e-4)
