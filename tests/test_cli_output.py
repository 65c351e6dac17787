"""What the command line prints for long and short work: epoch lines off a terminal, the
runs table, a run's configuration, shared model options, corpus token counts and OOVs."""

import re

from click.testing import CliRunner

from bench.cli import cli

TINY_LSTM = [
    "--set",
    "layers=1",
    "--set",
    "hidden_size=8",
    "--set",
    "embedding_size=8",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=8",
    "--set",
    "max_steps_per_epoch=6",
    "--set",
    "log_every=1",
]

EPOCH_LINE = re.compile(
    r"^epoch (\d)/2: train loss [\d.]+, valid ppl [\d.]+, lr [\d.e-]+, "
    r"train [\d,]+ tokens/s, elapsed \d:\d\d:\d\d$",
    re.MULTILINE,
)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_one_line_per_epoch_when_no_bars_are_drawn(tiny_corpus):
    result = invoke(
        "run", "--plugin", "lstm", "--corpus", tiny_corpus, "--set", "epochs=2", *TINY_LSTM
    )
    assert result.exit_code == 0, result.output
    # a step logs train_loss every step (log_every=1), yet only epochs get a line
    assert [int(m) for m in EPOCH_LINE.findall(result.output)] == [1, 2]
    assert len(re.findall(r"^epoch ", result.output, re.MULTILINE)) == 2


def test_epoch_lines_go_above_the_bars_on_a_terminal(monkeypatch):
    import sys

    from bench import epoch_report

    printed, written = [], []
    monkeypatch.setattr(epoch_report.tqdm, "write", lambda line, file=None: written.append(line))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    epoch_report.epoch_echo(printed.append, progress=True)("epoch 1")
    epoch_report.epoch_echo(printed.append, progress=False)("epoch 2")
    assert written == ["epoch 1"] and printed == ["epoch 2"]
