"""The command stored with a run: typed commands as typed, others as equivalent flags."""

import shlex

from bench.cli.command_line import command_line, equivalent_flags
from bench.cli.running import run
from bench.configuration.run_config import build_config


def test_equivalent_flags_give_back_the_same_configuration(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["python-api"])  # not started as `bench run`
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": "ptb", "tokenizer": "char", "seed": 7},
        (
            "hidden_size=32",
            "output=sampled",
            "output.samples=64",
            "dropout=0.25",
            "tokenizer.lowercase=true",
        ),
    )
    flags = equivalent_flags(None, config)
    assert flags[:4] == ["--plugin", "lstm", "--corpus", "ptb"]
    assert "output.samples=64" in flags and "tokenizer.lowercase=true" in flags
    params = run.make_context("run", list(flags)).params  # parsed by the real `bench run`
    again = build_config(
        {},
        {key: params[key] for key in ("plugin", "corpus", "tokenizer", "seed")},
        params["assignments"],
    )
    assert again == config
    assert shlex.split(command_line(None, config)) == ["bench", "run", *flags]


def test_a_typed_command_is_stored_as_typed(monkeypatch):
    monkeypatch.setattr("sys.argv", ["bench", "run", "--plugin", "kn", "--set", "order=3"])
    config = build_config({}, {"plugin": "kn"}, ("order=3",))
    assert command_line(None, config) == "bench run --plugin kn --set order=3"
