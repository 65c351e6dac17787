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
