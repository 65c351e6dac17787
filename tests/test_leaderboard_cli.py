"""`bench leaderboard` shows corpora with runs by default, every corpus with --all."""

from click.testing import CliRunner

from bench.cli import cli


def test_corpora_without_runs_are_left_out_unless_all(tiny_corpus):
    runner = CliRunner()
    empty = runner.invoke(cli, ["leaderboard"])
    assert empty.exit_code != 0 and "--all" in empty.output
    assert "# Perplexity on ptb" in runner.invoke(cli, ["leaderboard", "--all"]).output
    assert (
        runner.invoke(
            cli, ["run", "--plugin", "unigram", "--corpus", str(tiny_corpus), "--no-progress"]
        ).exit_code
        == 0
    )
    shown = runner.invoke(cli, ["leaderboard"]).output
    assert "# Perplexity on local:tiny" in shown and "# Perplexity on ptb" not in shown
