"""A local folder's train.txt and a single text file are read in blocks, never whole.

Block reading must give exactly the lines of a whole read (the same line rule, the same
errors), fitting and encoding must never hold more than a block of the train text, and
the perplexities of a run must not change.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.api.plugin_host import load_plugins
from bench.cli import cli
from bench.corpora import ShardedLines, decode_lines, load_corpus
from bench.corpora import blocks as blocks_module
from bench.corpora import load as load_module
from bench.errors import BenchError
from bench.tokenization.encode import tokenize_corpus
from bench.tokenization.tokenizers import CharTokenizer, WordOptions, WordTokenizer

BLOCK = 256  # bytes per block in these tests: every file here spans many blocks


def write_words_folder(parent: Path, seed: int = 5) -> Path:
    """A folder of Zipf-like word text (a few hundred types), big enough for Kneser-Ney."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(len(words))]

    def text(lines: int) -> str:
        out = [" ".join(rng.choices(words, weights, k=rng.randint(1, 12))) for _ in range(lines)]
        return "".join(f"{line}\n" for line in out)

    folder = parent / "words"
    folder.mkdir()
    for split, lines in (("train", 2000), ("valid", 200), ("test", 200)):
        (folder / f"{split}.txt").write_text(text(lines))
    return folder


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", BLOCK)


# --------------------------------------------------------------------------- the blocks


TEXTS = {
    "plain": b"a b c\nd e\n" * 100,
    "no final newline": b"one two\n" * 60 + b"last line",
    "whitespace tail": b"x y\n" * 90 + b"\n \t ",
    "crlf and blanks": b"a\r\n\r\nb c\r\n" * 70,
    "byte-order mark": b"\xef\xbb\xbfstart\n" + "caf\u00e9 \u4e2d\u6587\n".encode() * 80,
    "line longer than blocks": b"short\n" + b"long " * 300 + b"\nend\n",
    "no newline at all": b"z" * 1000,
}


@pytest.mark.parametrize("data", TEXTS.values(), ids=TEXTS.keys())
def test_blocks_give_exactly_the_lines_of_a_whole_read(
    tmp_path: Path, small_blocks: None, data: bytes
) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes(data)
    blocks = list(blocks_module.line_blocks(path, "t"))
    assert [line for block in blocks for line in block] == decode_lines(data, "t")
    assert len(blocks) > 1 or data.count(b"\n") <= 1
    raw = list(blocks_module.byte_blocks(path))
    assert b"".join(raw) == data and all(block.endswith(b"\n") for block in raw[:-1])


def test_blocks_refuse_what_a_whole_read_refuses(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "train.txt"
    cases = {
        b"ok\n" * 200 + b"bad \xff byte\n": "not UTF-8: byte 0xff at offset 604",
        b"ok\n" * 200 + b"nul\x00\n": "it contains NUL bytes",
        b"\n  \n" * 100: "split is empty",
    }
    for data, message in cases.items():
        path.write_bytes(data)
        with pytest.raises(BenchError, match=re.escape(message)):
            decode_lines(data, str(path))
        with pytest.raises(BenchError, match=re.escape(message)):
            list(blocks_module.line_blocks(path, str(path)))
        with pytest.raises(BenchError, match=re.escape(message)):
            blocks_module.checked_sha256(path, str(path))


# --------------------------------------------------------------------------- never whole


class BlockWatcher:
    """Fails any whole read of a train file and records the most text encoded at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.largest_encode = 0
        original_read = load_module.read_file

        def read_file(path: Path) -> bytes:
            assert "train" not in path.name and "paint" not in path.name, f"read whole: {path}"
            return original_read(path)

        monkeypatch.setattr(load_module, "read_file", read_file)
        monkeypatch.setattr(Path, "read_bytes", self._no_whole_read(Path.read_bytes))
        monkeypatch.setattr(Path, "read_text", self._no_whole_read(Path.read_text))

    @staticmethod
    def _no_whole_read(method):  # type: ignore[no-untyped-def]
        def read(path: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
            assert "train" not in path.name and "paint" not in path.name, f"read whole: {path}"
            return method(path, *args, **kwargs)

        return read

    def watch(self, tokenizer: WordTokenizer | CharTokenizer) -> None:
        encode = tokenizer.encode

        def watched(name: str, lines):  # type: ignore[no-untyped-def]
            if name == "train":
                self.largest_encode = max(self.largest_encode, sum(map(len, lines)))
            return encode(name, lines)

        tokenizer.encode = watched  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "tokenizer",
    [WordTokenizer(WordOptions()), CharTokenizer(CharTokenizer.Options())],
    ids=["word", "char"],
)
def test_a_local_train_split_is_fitted_and_encoded_block_by_block(
    tmp_path: Path,
    small_blocks: None,
    monkeypatch: pytest.MonkeyPatch,
    tokenizer: WordTokenizer | CharTokenizer,
) -> None:
    folder = write_words_folder(tmp_path)
    whole_lines = decode_lines((folder / "train.txt").read_bytes(), "train")
    watcher = BlockWatcher(monkeypatch)
    watcher.watch(tokenizer)
    corpus = load_corpus(str(folder), load_plugins().corpora, tmp_path / "data")
    assert isinstance(corpus.splits["train"], ShardedLines)
    splits = tokenize_corpus(corpus, tokenizer, tmp_path / "data", lambda x, **_: x, print)
    assert isinstance(splits["train"].ids, np.memmap)
    # at most two blocks of text per call (a block is cut at the first newline after it)
    assert 0 < watcher.largest_encode <= 2 * BLOCK
    # the same ids as the whole split encoded in memory
    expected = tokenizer.encode("whole", whole_lines)
    np.testing.assert_array_equal(splits["train"].ids, expected.ids)
    np.testing.assert_array_equal(splits["train"].line_offsets, expected.line_offsets)
    assert splits["train"].counts == expected.counts


def test_a_single_text_file_is_read_in_blocks(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.corpora.single_file import split_single_file

    path = tmp_path / "paint.txt"
    path.write_bytes((write_words_folder(tmp_path) / "train.txt").read_bytes())
    splits = split_single_file(decode_lines(path.read_bytes(), "x"), "x")
    BlockWatcher(monkeypatch)
    corpus = load_corpus(str(path), load_plugins().corpora, tmp_path / "data")
    train = corpus.splits["train"]
    assert isinstance(train, ShardedLines) and train.line_count == len(splits["train"])
    assert list(train) == splits["train"]
    assert (corpus.splits["valid"], corpus.splits["test"]) == (splits["valid"], splits["test"])
    # the warm-up context of `bench generate` and the hints read only the ends of the file
    assert train.tail(BLOCK * 4) == splits["train"][-len(train.tail(BLOCK * 4)) :]
    assert len(train.tail(BLOCK * 4)) > 10
    assert train.head(7) == splits["train"][:7]


# --------------------------------------------------------------------------- same numbers


# Perplexities bench gave on write_words_folder(seed=5) when it read train.txt whole
# (`bench run --plugin P --corpus words`, before reading in blocks); float64 sums are
# deterministic on one machine, so they are compared to 1e-9.
BEFORE = {
    "unigram": {"valid": 72.79775586279715, "test": 72.5339417351586},
    "kn order=3": {"valid": 84.40719179392846, "test": 82.43689543448116},
    "kn order=3 memory=64M": {"valid": 84.40719179392846, "test": 82.43689543448116},
}


@pytest.mark.parametrize("model", BEFORE)
def test_perplexities_are_those_of_the_whole_read(
    tmp_path: Path, small_blocks: None, model: str
) -> None:
    folder = write_words_folder(tmp_path)
    plugin, *options = model.split()
    settings = [arg for option in options for arg in ("--set", option)]
    result = CliRunner().invoke(
        cli, ["run", "--plugin", plugin, "--corpus", str(folder), *settings]
    )
    assert result.exit_code == 0, result.output
    run_id = re.search(r"bench show (\d+)", result.output).group(1)  # type: ignore[union-attr]
    record = json.loads(CliRunner().invoke(cli, ["show", run_id, "--json"]).output)
    found = {e["split"]: e["ppl"] for e in record["evaluations"]}
    assert found == pytest.approx(BEFORE[model], rel=1e-9)
    assert list((tmp_path / "data" / "tokenized").glob("*/ids.int32"))


def test_counting_a_memory_map_reads_the_file_not_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.tokenization import tokens as tokens_module

    ids = np.random.default_rng(0).integers(0, 50, size=1000)
    path = tmp_path / "ids.int32"
    ids.astype("<i4").tofile(path)
    mapped = np.memmap(path, dtype="<i4", mode="r", shape=ids.shape)
    monkeypatch.setattr(tokens_module, "COUNT_BLOCK", 64)
    expected = np.bincount(ids, minlength=50)
    reads: list[int] = []
    fromfile = np.fromfile

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(args[2])
        return fromfile(*args, **kwargs)

    monkeypatch.setattr(np, "fromfile", counted)
    np.testing.assert_array_equal(tokens_module.token_counts(mapped, 50), expected)
    assert sum(reads) == 1000 and max(reads) == 64
    # a slice or a reversed view is not the whole file: read through the map, still right
    reads.clear()
    np.testing.assert_array_equal(tokens_module.token_counts(mapped[::-1], 50), expected)
    np.testing.assert_array_equal(
        tokens_module.token_counts(mapped[10:], 50), np.bincount(ids[10:], minlength=50)
    )
    assert reads == []


def test_only_a_long_fit_is_announced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.tokenization import vocabulary_cache

    corpus = load_corpus(str(write_words_folder(tmp_path)), load_plugins().corpora, tmp_path)
    heard: list[str] = []
    vocabulary_cache.fit_tokenizer(
        WordTokenizer(WordOptions()), corpus, tmp_path / "a", heard.append
    )
    assert heard == []  # a small local train.txt: a run's first line stays "run N: ..."
    monkeypatch.setattr(vocabulary_cache, "LONG_FIT_BYTES", 1000)
    vocabulary_cache.fit_tokenizer(
        WordTokenizer(WordOptions()), corpus, tmp_path / "b", heard.append
    )
    assert heard == ["local:words: fitting the tokenizer on the train split, read in blocks"]
