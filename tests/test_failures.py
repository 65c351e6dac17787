"""The rule: a user's or a plugin's mistake is one `Error:` line, never a traceback; bench's
own bugs keep theirs (and --debug / BENCH_DEBUG shows the whole one for any error)."""

from importlib import metadata

import pytest
from click.testing import CliRunner

from bench.api.plugin_host import ENTRY_POINT_GROUP, load_plugins
from bench.cli import cli
from bench.store import Store


@pytest.fixture
def with_samples(monkeypatch):
    """`bench` itself, with the sample plugins of tests/sample_plugins.py installed."""
    extra = [
        metadata.EntryPoint(name="failing", value="sample_plugins:failing", group=ENTRY_POINT_GROUP)
    ]
    host = load_plugins(list(metadata.entry_points(group=ENTRY_POINT_GROUP)) + extra)
    monkeypatch.setattr("bench.cli.options.plugin_host", lambda: host)
    monkeypatch.setattr("bench.cli.running.plugin_host", lambda: host)


def bench(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.mark.parametrize(
    "plugin, message",
    [
        (
            "broken-init",
            r"model plugin 'broken-init' raised ValueError: hidden size must be even "
            r"\(at sample_plugins.py:\d+, in __init__\)",
        ),
        (
            "failing",
            r"model plugin 'failing' raised RuntimeError: exploded in epoch 1 "
            r"\(at sample_plugins.py:\d+, in fit\)",
        ),
        ("wrong-score", r"score must yield ScoredTokens, but yielded a float64 \(0.5\)"),
    ],
)
def test_plugin_mistake_is_one_line_with_run_id(with_samples, tiny_corpus, plugin, message):
    import re

    result = bench("run", "--plugin", plugin, "--corpus", tiny_corpus)
    assert result.exit_code == 1
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (error_line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert re.search(message, error_line), error_line
    assert "run 1" in error_line and "--debug" in error_line and "BENCH_DEBUG" in error_line
    assert "np.float64" not in error_line
    record = Store().get_run(1)
    assert record["status"] == "failed"
    assert "Traceback (most recent call last)" in record["error"]  # the whole one is kept


def test_debug_shows_the_whole_traceback(with_samples, tiny_corpus, monkeypatch):
    monkeypatch.setenv("BENCH_DEBUG", "0")  # --debug sets it: restored after the test
    result = bench("--debug", "run", "--plugin", "broken-init", "--corpus", tiny_corpus)
    assert isinstance(result.exception, ValueError)  # raised through, for its traceback
    result = bench(
        "run", "--plugin", "broken-init", "--corpus", tiny_corpus, env={"BENCH_DEBUG": "1"}
    )
    assert isinstance(result.exception, ValueError)


def test_bench_own_bug_keeps_its_traceback(tiny_corpus, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug in bench")

    monkeypatch.setattr("bench.run.runner.Runner._tokenize", bug)
    result = bench("run", "--plugin", "unigram", "--corpus", tiny_corpus)
    assert isinstance(result.exception, ZeroDivisionError)
    assert Store().get_run(1)["status"] == "failed"
