"""Your own text, from one file to generated whole lines (docs/own-text.md): the split
of a single file, the hints a run gives, `bench generate` and `last`."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.api.plugin_host import load_plugins
from bench.cli import cli
from bench.corpora import load_corpus
from bench.corpora.single_file import SPLIT_EVERY, split_of_line, split_single_file
from bench.errors import BenchError

TINY_LSTM = [
    "--set",
    "hidden_size=16",
    "--set",
    "embedding_size=8",
    "--set",
    "layers=1",
    "--set",
    "batch_size=4",
    "--set",
    "bptt=16",
]


def invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write_colours(path: Path, count: int = 400) -> Path:
    """Made-up paint colour names, one per line (the issue's example, small)."""
    rng = random.Random(3)
    first = ["Misty", "Dusty", "Pale", "Deep", "Warm", "Soft", "Bright", "Quiet"]
    second = ["Rose", "Sage", "Sand", "Plum", "Moss", "Slate", "Peach", "Fern"]
    ends = ["", " Mist", " Glow"]
    lines = [f"{rng.choice(first)} {rng.choice(second)}{rng.choice(ends)}" for _ in range(count)]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the split


def test_split_rule_is_by_line_number() -> None:
    assert [split_of_line(i) for i in range(SPLIT_EVERY * 2)] == (
        ["train"] * (SPLIT_EVERY - 2) + ["valid", "test"]
    ) * 2
    lines = [f"line {i}" for i in range(45)]
    splits = split_single_file(lines, "x.txt")
    assert splits["valid"] == ["line 18", "line 38"] and splits["test"] == ["line 19", "line 39"]
    assert len(splits["train"]) == 41
    with pytest.raises(BenchError, match=r"too short to split.*at least 20 lines"):
        split_single_file(lines[:19], "x.txt")


def test_a_text_file_is_a_corpus(tmp_path: Path) -> None:
    path = write_colours(tmp_path / "paint.txt")
    text = load_corpus(str(path), load_plugins().corpora, tmp_path / "data")
    assert (text.name, text.source, text.single_file) == ("local:paint.txt", str(path), True)
    assert text.default_tokenizer == "char"
    assert [len(list(text.splits[s])) for s in ("train", "valid", "test")] == [360, 20, 20]
    lines = path.read_text().splitlines()
    assert list(text.splits["train"]) == split_single_file(lines, "x")["train"]
    # each split's checksum is that of the split written out as a file; "file" the whole
    written = "".join(f"{line}\n" for line in text.splits["valid"]).encode()
    assert text.sha256["valid"] == hashlib.sha256(written).hexdigest()
    assert text.sha256["file"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "400 lines split by line number" in text.describe_split()
    assert "360 train, 20 valid, 20 test" in text.describe_split()


def test_tiny_shakespeares_own_file_keeps_its_registered_split(tmp_path: Path) -> None:
    import gzip

    import bench

    source = Path(bench.__file__).parent / "resources" / "tinyshakespeare.txt.gz"
    path = tmp_path / "input.txt"
    path.write_bytes(gzip.decompress(source.read_bytes()))
    text = load_corpus(str(path), load_plugins().corpora, tmp_path / "data")
    assert text.name == "tinyshakespeare" and not text.single_file
    assert len(text.splits["valid"]) == 2_000
    # the same text under another name is your own file, whatever lies beside it
    mine = tmp_path / "mine.txt"
    mine.write_bytes(path.read_bytes())
    text = load_corpus(str(mine), load_plugins().corpora, tmp_path / "data")
    assert text.name == "local:mine.txt" and len(text.splits["valid"]) == 2_000
    assert (
        text.splits["valid"][0]
        != load_corpus(str(path), load_plugins().corpora, tmp_path).splits["valid"][0]
    )


# --------------------------------------------------------------------------- two commands


def test_from_one_text_file_to_generated_whole_lines(tmp_path: Path) -> None:
    path = write_colours(tmp_path / "paint.txt")
    run = invoke("run", "--plugin", "lstm", "--corpus", path, "--set", "epochs=2", *TINY_LSTM)
    assert run.exit_code == 0, run.output
    assert "400 lines split by line number" in run.stderr
    assert "360 train, 20 valid, 20 test" in run.stderr
    assert "(char tokens)" in run.stdout
    sample = invoke("generate", "--run", "last", "-n", "7")
    assert sample.exit_code == 0, sample.output
    assert len(sample.stdout.splitlines()) == 7  # whole lines, as many as asked
    assert sample.stdout == invoke("generate", "--run", "last", "-n", "7").stdout
    assert sample.stdout != invoke("generate", "--run", "last", "-n", "7", "--seed", "1").stdout
    # greedy draws nothing at random: the seed makes no difference
    greedy = invoke("generate", "--run", "last", "--greedy", "-n", "2", "--prompt", "Misty")
    assert greedy.exit_code == 0 and greedy.stdout.startswith("Misty")
    again = invoke(
        "generate", "--run", "last", "--greedy", "-n", "2", "--prompt", "Misty", "--seed", "5"
    )
    assert greedy.stdout == again.stdout
    tokens = invoke("generate", "--run", "last", "--tokens", "5", "--top-p", "0.9")
    assert tokens.exit_code == 0 and len(tokens.stdout.rstrip("\n")) <= 5
    # the run recorded the file and its split: the stored run finds it again, and a
    # changed file is refused rather than silently sampled from another text
    record = invoke("show", "last", "--json").stdout
    assert str(path) in record and '"file"' in record
    path.write_text(path.read_text() + "Another Line\n")
    changed = CliRunner().invoke(cli, ["generate", "--run", "last"])
    assert changed.exit_code != 0 and "has changed since the run read it" in changed.output


def test_generate_warns_about_prompt_characters_the_vocabulary_lacks(tmp_path: Path) -> None:
    path = write_colours(tmp_path / "paint.txt")
    assert invoke("run", "-p", "lstm", "-c", path, "--set", "epochs=1", *TINY_LSTM).exit_code == 0
    sample = invoke("generate", "--run", "1", "--prompt", "Zé Rose", "-n", "1")
    assert "vocabulary lacks 'Z', 'é' (in the prompt): read as <unk>" in sample.stderr
    assert sample.stdout.startswith("<unk><unk> Rose")


def test_a_model_that_cannot_generate_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_colours(tmp_path / "paint.txt")
    assert invoke("run", "--plugin", "unigram", "--corpus", path).exit_code == 0
    result = CliRunner().invoke(cli, ["generate", "--run", "last"])
    assert result.exit_code == 1
    assert re.fullmatch(
        r"Error: run 1: model plugin 'unigram' cannot generate text \(it has no generate "
        r"method\); models that can: .*lstm.*\n",
        result.output,
    )


def test_last_needs_a_run_and_names_the_newest(tmp_path: Path, tiny_corpus: Path) -> None:
    result = CliRunner().invoke(cli, ["show", "last"])
    assert result.exit_code == 1 and "no runs stored yet" in result.output
    for _ in range(2):
        assert invoke("run", "--plugin", "unigram", "--corpus", tiny_corpus).exit_code == 0
    assert re.search(r"^id\s+2$", invoke("show", "last").stdout, re.MULTILINE)
    bad = CliRunner().invoke(cli, ["show", "newest"])
    assert bad.exit_code == 2 and "give a number (see `bench runs`) or 'last'" in bad.output


# --------------------------------------------------------------------------- sampling


class Scripted:
    """A stand-in model whose generate returns the next ids of a fixed script, recording
    each call (the context it was given and the keywords)."""

    def __init__(self, script: list[int]) -> None:
        self.script, self.calls = script, []

    def generate(self, context: list[int], tokens: int, **keywords: object) -> list[int]:
        self.calls.append((list(context), tokens, keywords))
        drawn = len(context) - self.calls[0][0].__len__()
        return self.script[drawn : drawn + tokens]


def test_sample_lines_stops_at_the_line_end_asked_for() -> None:
    from bench.run.generation import Sampling, sample_lines

    eos = 0
    model = Scripted([5, 6, 7, 8, 9, 5, eos, 5, eos, 6, 6, 6, eos, 7, eos] + [5] * 50)
    drawn, complete = sample_lines(model, eos, [3, eos], [4], 3, Sampling(seed=2), 0.1)
    assert complete and drawn == [5, 6, 7, 8, 9, 5, eos, 5, eos, 6, 6, 6, eos]
    # drawn in rounds, each going on from what came before, with the next seed
    assert [call[0][:3] for call in model.calls] == [[3, eos, 4]] * len(model.calls)
    assert [call[2]["seed"] for call in model.calls] == list(range(2, 2 + len(model.calls)))
    assert len(model.calls) > 1


def test_sample_lines_keeps_only_whole_lines_when_the_ends_do_not_come() -> None:
    from bench.run import generation

    eos = 0
    model = Scripted([5, eos] + [6] * 5000)
    drawn, complete = generation.sample_lines(model, eos, [], [], 2, generation.Sampling(), 4.0)
    assert (drawn, complete) == ([5, eos], False)


def test_greedy_and_top_p_reach_the_model_as_keywords() -> None:
    from bench.run.generation import Sampling

    model = Scripted([1] * 10)
    Sampling(temperature=0.5, top_k=3, top_p=0.9, greedy=True).draw(model, [], 2, 0)
    Sampling(temperature=0.5, top_p=0.9).draw(model, [], 2, 0)
    Sampling(temperature=0.5).draw(model, [], 2, 0)
    assert [call[2] for call in model.calls] == [
        {"temperature": 1.0, "top_k": 1, "seed": 0},
        {"temperature": 0.5, "top_k": None, "seed": 0, "top_p": 0.9},
        {"temperature": 0.5, "top_k": None, "seed": 0},  # an older plugin never sees top_p
    ]


# --------------------------------------------------------------------------- hints


def test_tokenizer_hint_for_names_and_unknown_words(tmp_path: Path) -> None:
    from bench.run.hints import tokenizer_hint
    from bench.tokenization.tokenizers import WordTokenizer

    def hint_for(lines: list[str], tokenizer: str = "word") -> str | None:
        path = tmp_path / "text.txt"
        path.write_text("".join(f"{line}\n" for line in lines))
        corpus = load_corpus(str(path), load_plugins().corpora, tmp_path / "data")
        words = WordTokenizer(WordTokenizer.Options())
        words.fit(corpus.splits["train"], tmp_path)
        return tokenizer_hint(corpus, tokenizer, words.encode("valid", corpus.splits["valid"]))

    names = [f"Name{i}" for i in range(200)]  # every valid word is new: unknown
    assert "100% of the valid words are missing from the train split" in hint_for(names)
    repeated = ["Misty Rose", "Deep Sand"] * 100  # known words, but lines like names
    assert "the lines are short (median 2 words)" in hint_for(repeated)
    prose = ["the cat sat on the mat and then it ran to the park"] * 100
    assert hint_for(prose) is None
    assert hint_for(names, tokenizer="char") is None


def test_epochs_hint_when_the_curve_still_falls_steeply() -> None:
    from bench.run.hints import epochs_hint

    assert epochs_hint([20.0, 14.0], 2) == (
        "hint: more epochs would help: valid ppl fell 30% in the last epoch "
        "(20.00 to 14.00) (--set epochs=N, more than 2)"
    )
    assert epochs_hint([20.0, 19.5], 2) is None  # 2.5%: about done
    assert epochs_hint([14.0, 15.0], 2) is None
    assert epochs_hint([14.0], 1) is None


# --------------------------------------------------------------------------- progress


def test_progress_line_every_interval_with_loss_rate_and_time_left() -> None:
    import torch

    from bench.run.progress_line import ProgressLines

    lines: list[str] = []
    now = [0.0]

    def clock() -> float:
        return now[0]

    def batches():
        for _ in range(10):
            now[0] += 10.0  # each batch takes 10 s
            yield torch.zeros(2, 50), torch.zeros(2, 50)

    bar = ProgressLines(
        batches(), total=10, desc="epoch 2", unit="batch", echo=lines.append, epochs=4, clock=clock
    )
    for number, _ in enumerate(bar):
        if number == 1:
            bar.set_loss(1.5)
    assert lines == [
        "epoch 2/4: batch 3/10, loss 1.5000, 10 tokens/s, 0:01:10 left in the epoch, "
        "about 0:04:30 in all",
        "epoch 2/4: batch 6/10, loss 1.5000, 10 tokens/s, 0:00:40 left in the epoch, "
        "about 0:04:00 in all",
        "epoch 2/4: batch 9/10, loss 1.5000, 10 tokens/s, 0:00:10 left in the epoch, "
        "about 0:03:30 in all",
    ]
    plain = ProgressLines(iter(range(3)), total=None, desc="tokenizing", unit="split", echo=print)
    assert plain.line(2.0) == "tokenizing: split 0, 0.0 split/s"


def test_runner_progress_is_a_line_off_a_terminal_and_shows_the_loss_on_a_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.run import progress_line
    from bench.run.progress_line import ProgressLines, RunProgress

    progress = RunProgress(True, print)
    bar = progress(range(4), desc="epoch 1")  # pytest's stderr is no terminal
    assert isinstance(bar, ProgressLines) and bar.total == 4
    progress.show_loss(2.25)
    assert bar.loss == 2.25
    monkeypatch.setattr(progress_line, "bars_shown", lambda show: True)
    assert not isinstance(progress(range(4), desc="epoch 1"), ProgressLines)

    class Bar:  # a tqdm bar drawn on a terminal
        disable = False

        def set_postfix_str(self, text: str, refresh: bool) -> None:
            self.text = text

    progress.bar = Bar()
    progress.show_loss(1.75)
    assert progress.bar.text == "loss 1.7500"
    assert not isinstance(RunProgress(False, print)(range(4)), ProgressLines)


def test_every_rank_resolves_last_through_rank_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bench run --resume last` under torchrun: a rank other than 0 has no database and
    gets the newest run from rank 0 (the broadcast is faked here)."""
    from types import SimpleNamespace

    from bench.cli.options import resolve_run
    from bench.machine import rank_zero

    monkeypatch.setattr(rank_zero, "current", lambda: SimpleNamespace(is_main=False))
    from_rank_0 = {"url": "sqlite:///runs.db", "runs": [{"id": 7}]}
    monkeypatch.setattr(
        rank_zero,
        "from_rank0",
        lambda compute: from_rank_0["url" if "url" in compute.__code__.co_names else "runs"],
    )
    store = rank_zero.SharedStore(lambda: None)
    assert resolve_run(store, "last") == 7


# --------------------------------------------------------------------------- slips


def test_an_offline_download_records_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    result = CliRunner().invoke(cli, ["run", "--plugin", "unigram", "--corpus", "wikitext-2"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: download of https://")
    assert "The machine may be offline." in result.output and ".." not in result.output
    assert "no runs stored yet" in invoke("runs").output


def test_a_bench_error_ending_in_a_full_stop_gets_one() -> None:
    from bench.run.failures import plugin_failure

    failure = plugin_failure(BenchError("no such file."), plugin="x", model_class=object, run_id=3)
    assert "failed: no such file. run 3 is recorded as failed" in str(failure)
