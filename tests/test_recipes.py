"""Recipes: every packaged one is a valid run configuration, and `bench reproduce` runs one."""

import json

import pytest
from click.testing import CliRunner

from bench.api.plugin_host import load_plugins
from bench.cli import cli
from bench.configuration.options import validate_options
from bench.configuration.recipes import find_recipe, load_recipes
from bench.configuration.run_config import build_config


@pytest.mark.parametrize("recipe", load_recipes(), ids=lambda r: r.name)
def test_recipe_is_a_valid_configuration(recipe):
    host = load_plugins()
    config = build_config(recipe.config, {}, ())
    host.model_options(config.plugin, config.options)  # the output layer's options included
    if config.tokenizer:
        tokenizer = host.tokenizers.get(config.tokenizer)
        validate_options(tokenizer.Options, config.tokenizer_options, config.tokenizer)
    assert config.corpus in host.corpora
    assert recipe.published and recipe.cost and recipe.description


def test_zaremba_recipes_are_there():
    names = {recipe.name for recipe in load_recipes()}
    assert {
        "zaremba-small",
        "zaremba-medium",
        "zaremba-large",
        "press-wolf-tied-small",
        "pytorch-examples",
        "pytorch-examples-tied",
        "mikolov-kn5",
        "mikolov-rnnlm",
    } <= names
    # the seed table's One Billion Word rows with large-vocabulary output layers
    assert {
        "grave-lstm-2048-adaptive",
        "ji-rnn-2048-blackout",
        "jozefowicz-big-lstm",
        "jozefowicz-lstm-2048-512",
        "grave-2x2048-adaptive",
        "chelba-rnn-maxent",
    } <= names


def test_reproduce_runs_a_recipe_with_overrides(tiny_corpus):
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "reproduce",
            "pytorch-examples",
            "--corpus",
            str(tiny_corpus),
            "--set",
            "epochs=1",
            "--set",
            "max_steps_per_epoch=3",
            "--set",
            "hidden_size=16",
            "--set",
            "embedding_size=16",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    record = json.loads(runner.invoke(cli, ["show", "1", "--json"]).output)
    assert record["config"]["options"]["lr"] == 20.0  # from the recipe
    assert record["config"]["options"]["hidden_size"] == 16  # overridden
    overrides = {"epochs": 1, "max_steps_per_epoch": 3, "hidden_size": 16, "embedding_size": 16}
    assert_ran_the_recipe(record, find_recipe("pytorch-examples"), overrides)


def assert_ran_the_recipe(record, recipe, overrides):
    """The run finished with the recipe's model and every option the recipe sets, other
    than those the command overrode, and nothing of its [recipe] table."""
    assert record["status"] == "finished" and record["plugin"] == recipe.config["plugin"]
    options = record["config"]["options"]
    nested = {key.split(".")[0] for key in overrides if "." in key}  # e.g. output.cutoffs
    for key, value in recipe.config["options"].items():
        if not (isinstance(value, dict) and nested):
            assert options[key] == overrides.get(key, value), key
    for key, value in overrides.items():
        if "." not in key:
            assert options[key] == value, key
    assert "recipe" not in record["config"]
    assert {e["split"] for e in record["evaluations"]} == {"valid", "test"}


def test_recipe_file_works_with_run_config(tiny_corpus):
    recipe = find_recipe("zaremba-small")
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "run",
            "--config",
            str(recipe.path),
            "--corpus",
            str(tiny_corpus),
            "--set",
            "epochs=1",
            "--set",
            "max_steps_per_epoch=2",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(runner.invoke(cli, ["show", "1", "--json"]).output)
    assert_ran_the_recipe(record, recipe, {"epochs": 1, "max_steps_per_epoch": 2})


def test_unknown_recipe_suggests_a_near_match():
    result = CliRunner().invoke(cli, ["reproduce", "zaremba-smal"])
    assert result.exit_code != 0 and "Did you mean: zaremba-small" in result.output


SHRINK = (
    "--set",
    "epochs=1",
    "--set",
    "max_steps_per_epoch=3",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=8",
    "--set",
    "hidden_size=16",
    "--set",
    "embedding_size=16",
)


@pytest.mark.parametrize(
    "name, extra",
    [
        ("grave-lstm-2048-adaptive", ("--set", "output.cutoffs=4")),
        ("ji-rnn-2048-blackout", ("--set", "output.samples=8")),
        ("jozefowicz-big-lstm", ("--set", "output.samples=8", "--set", "projection_size=8")),
        ("jozefowicz-lstm-2048-512", ("--set", "output.samples=8", "--set", "projection_size=8")),
        ("grave-2x2048-adaptive", ("--set", "output.cutoffs=4")),
        ("chelba-rnn-maxent", ("--set", "output.classes=3", "--set", "maxent_size=4096")),
    ],
)
def test_one_billion_word_recipes_train_end_to_end_when_shrunk(tiny_corpus, name, extra):
    """Never run at full size here: their optimiser, sparse gradients, output layer and
    (for the big LSTM) projection are exercised together on a tiny corpus."""
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["reproduce", name, "--corpus", str(tiny_corpus), *SHRINK, *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    record = json.loads(runner.invoke(cli, ["show", "1", "--json"]).output)
    assert record["config"]["options"]["sparse_grad"]
    settings = [setting.split("=", 1) for setting in (*SHRINK, *extra)[1::2]]
    assert_ran_the_recipe(record, find_recipe(name), {k: int(v) for k, v in settings})
