"""A small database for the picture tests (plots, `bench plot`, the HTML site): tiny runs
of unigram, kn and two LSTMs on the tiny corpus, and one LSTM on a second corpus."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from conftest import write_tiny_corpus

from bench.cli import cli
from bench.store import Store

# ~8 steps per epoch, the loss logged every other step: a curve per step, not per epoch
LSTM = tuple(
    f"--set={option}"
    for option in ("epochs=2", "hidden_size=16", "embedding_size=16", "batch_size=4", "bptt=32")
) + ("--set=log_every=2",)


@dataclass
class PictureRuns:
    env: dict[str, str | None]
    db: str
    tiny: str  # the tiny corpus's name in bench
    unigram: int
    kn: int
    lstm: int
    lstm_wide: int
    other_corpus: int  # an LSTM on a second corpus

    def store(self) -> Store:
        return Store(self.db)

    def invoke(self, *args: object) -> object:
        return CliRunner().invoke(cli, [str(a) for a in args], env=self.env)


def make_picture_runs(folder: Path) -> PictureRuns:
    corpus = write_tiny_corpus(folder)
    other = shutil.copytree(corpus, folder / "other")
    with (other / "train.txt").open("a") as train:  # another text: a corpus is its content
        train.write("the other corpus\n")
    db = f"sqlite:///{folder / 'bench.db'}"
    # CliRunner sets these while a command runs (None: unset), whatever the test's own are
    env = {"BENCH_DB": db, "BENCH_DATA_DIR": str(folder / "data"), "BENCH_PLUGINS": None}
    runner = CliRunner()
    ids = []
    for args in (
        ("--plugin", "unigram", "--corpus", corpus),
        (
            "--plugin",
            "kn",
            "--corpus",
            corpus,
            "--set",
            "order=2",
            "--set",
            "discount_fallback=true",
        ),
        ("--plugin", "lstm", "--corpus", corpus, *LSTM),
        ("--plugin", "lstm", "--corpus", corpus, *LSTM, "--set", "hidden_size=24"),
        ("--plugin", "lstm", "--corpus", other, *LSTM, "--set", "epochs=1"),
    ):
        result = runner.invoke(cli, ["run", "--no-progress", *map(str, args)], env=env)
        assert result.exit_code == 0, result.output
        ids.append(Store(db).list_runs(limit=1)[0]["id"])
    tiny = Store(db).get_run(ids[0])["corpus"]
    return PictureRuns(env, db, tiny, *ids)
