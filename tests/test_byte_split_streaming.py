"""enwik8 and text8 are read a piece at a time, never whole.

Their splits are byte ranges of one 100 MB file. Loading checksums the file in chunks and
leaves train on disk; fitting, encoding and counting read it in pieces of about a block,
cut after a newline, or after a space inside a line longer than a block (text8 is one
line). Small zips of the same layout stand in for Mahoney's: the splits, the encoded ids
and the token counts must be those of the whole file cut by byte offsets, with the cuts
moved to whole UTF-8 characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.corpora import ShardedLines, decode_lines, describe, load_corpus
from bench.corpora import blocks as blocks_module
from bench.corpora.byte_splits import character_start, whole_characters_end
from bench.corpora.spec import CorpusSpec
from bench.tokenization.encode import tokenize_corpus
from bench.tokenization.tokenizers import CharTokenizer, WordTokenizer
from bench_plugins.mahoney_corpora import ENWIK8, TEXT8
from tests.test_character_corpora import registry_of, small_copy, whole_lines

BLOCK = 256  # bytes per piece here: every train split spans many pieces


def enwik8_like() -> tuple[bytes, dict[str, tuple[int, int]]]:
    """XML-like UTF-8 lines, one of them far longer than a block, ending inside a
    character; both split cuts fall inside a three-byte character."""
    lines = [f"  <text>Caf\u00e9 {i} \u4e2d\u6587 &lt;ref&gt;</text>" for i in range(120)]
    lines[40] = " ".join(f"w\u00fcrd{i}" for i in range(300))  # ~2.4 kB: about ten blocks
    data = ("\n".join(lines) + "\n").encode() + "end \u4e2d".encode()[:-1]
    train_end = data.index("\u4e2d".encode(), 3000) + 1
    valid_end = data.index("\u6587".encode(), train_end + 200) + 2
    return data, {"train": (0, train_end), "valid": (train_end, valid_end)} | {
        "test": (valid_end, len(data))
    }


def text8_like() -> tuple[bytes, dict[str, tuple[int, int]]]:
    """One line of lower-case words and single spaces (text8's layout), 6 kB."""
    words = [
        "anarchism",
        "originated",
        "as",
        "a",
        "term",
        "of",
        "abuse",
        "first",
        "used",
        "against",
        "early",
    ]
    data = (" " + " ".join(words[i % len(words)] for i in range(1200))).encode()[:6000]
    return data, {"train": (0, 5000), "valid": (5000, 5500), "test": (5500, 6000)}


LAYOUTS = {"enwik8": (ENWIK8, enwik8_like), "text8": (TEXT8, text8_like)}


def expected_splits(data: bytes, splits: dict[str, tuple[int, int]]) -> dict[str, list[str]]:
    """The lines of each split of the whole file, by the documented rule: a cut moves
    forward to the next character's start, the file's cut-short last character is dropped."""
    found = {}
    for split, (start, end) in splits.items():
        last = whole_characters_end(data) if end == len(data) else character_start(data, end)
        found[split] = decode_lines(data[character_start(data, start) : last], split)
    return found


class MemberWatcher:
    """Fails a read of the corpus file without a size (a whole read) and records the
    largest number of train characters encoded in one call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.largest_encode = 0
        original = Path.open

        def watched_open(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = original(path, mode, *args, **kwargs)
            return SizedReads(handle) if path.name == name and "r" in mode else handle

        monkeypatch.setattr(Path, "open", watched_open)

    def watch(self, tokenizer: CharTokenizer | WordTokenizer) -> None:
        encode = tokenizer.encode

        def watched(split: str, lines):  # type: ignore[no-untyped-def]
            if split == "train":
                self.largest_encode = max(self.largest_encode, sum(map(len, lines)))
            return encode(split, lines)

        tokenizer.encode = watched  # type: ignore[method-assign]


class SizedReads:
    """A file whose ``read`` must be given a size, and which cannot be iterated whole."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def read(self, size: int | None = None) -> bytes:
        assert size is not None and size >= 0, "the whole corpus file was read at once"
        return self._handle.read(size)

    def __iter__(self) -> Any:
        raise AssertionError("the corpus file was read line by line")

    def __enter__(self) -> SizedReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", BLOCK)


def fetched(name: str, tmp_path: Path) -> tuple[CorpusSpec, bytes, dict[str, tuple[int, int]]]:
    spec, make = LAYOUTS[name]
    data, splits = make()
    small = small_copy(spec, tmp_path, data, splits)
    load_corpus(name, registry_of(small), tmp_path / "data", progress=False)  # fetch it
    return small, data, splits


PIECES = {
    "one long line": b"word " * 200,
    "long line, then lines": b"a b " * 150 + b"\nc d\n" * 40,
    "ends in a tab after a long line": b"x " * 300 + b"\t",
    "spaces only across blocks": b"ab" + b" " * 900 + b"cd\nnext\n",
    "no space in a block": b"y" * 700 + b" z\n",
    "crlf and a byte-order mark": b"\xef\xbb\xbf" + b"p q\r\n" * 100,
}


@pytest.mark.parametrize("data", PIECES.values(), ids=PIECES.keys())
def test_pieces_joined_are_the_lines_of_a_whole_read(
    tmp_path: Path, small_blocks: None, data: bytes
) -> None:
    path = tmp_path / "text8"
    path.write_bytes(data)
    pieces = list(blocks_module.line_pieces(path, "t", 0, len(data)))
    joined: list[str] = []
    going_on = False
    for lines, goes_on in pieces:
        if going_on and lines:
            joined[-1] += lines[0]
            lines = lines[1:]
        joined.extend(lines)
        going_on = goes_on
    assert joined == decode_lines(data, "t")


@pytest.mark.parametrize("name", LAYOUTS)
def test_splits_are_those_of_the_whole_file_cut_by_bytes(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    spec, data, splits = fetched(name, tmp_path)
    MemberWatcher(monkeypatch, name)
    corpus = load_corpus(name, registry_of(spec), tmp_path / "data", progress=False)
    train = corpus.splits["train"]
    assert isinstance(train, ShardedLines) and train.block_estimate() > 10
    assert {split: whole_lines(lines) for split, lines in corpus.splits.items()} == (
        expected_splits(data, splits)
    )
    assert any(goes_on for _, goes_on in train.pieces())  # a long line came in pieces
    # `bench generate` warms up on train's end: whole lines, the first maybe a piece
    end = expected_splits(data, splits)["train"][-1]
    tail = train.tail(100)
    assert 0 < len("".join(tail)) <= 100 and end.endswith(tail[-1])


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("make_tokenizer", [CharTokenizer, WordTokenizer], ids=["char", "word"])
def test_train_is_encoded_piece_by_piece_into_the_ids_of_a_whole_read(
    tmp_path: Path,
    small_blocks: None,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    make_tokenizer: type,
) -> None:
    spec, data, splits = fetched(name, tmp_path)
    whole = expected_splits(data, splits)
    reference = make_tokenizer(make_tokenizer.Options())
    reference.fit(whole["train"], tmp_path / "ref")
    watcher = MemberWatcher(monkeypatch, name)
    tokenizer = make_tokenizer(make_tokenizer.Options())
    watcher.watch(tokenizer)
    corpus = load_corpus(name, registry_of(spec), tmp_path / "data", progress=False)
    encoded = tokenize_corpus(corpus, tokenizer, tmp_path / "data", lambda x, **_: x, print)
    assert tokenizer.vocab.tokens == reference.vocab.tokens
    assert isinstance(encoded["train"].ids, np.memmap)
    assert 0 < watcher.largest_encode <= 2 * BLOCK  # never the whole split at once
    for split, lines in whole.items():
        expected = reference.encode(split, lines)
        np.testing.assert_array_equal(encoded[split].ids, expected.ids)
        np.testing.assert_array_equal(encoded[split].line_offsets, expected.line_offsets)
        assert encoded[split].counts == expected.counts


@pytest.mark.parametrize("name", LAYOUTS)
def test_listed_token_counts_are_those_of_the_whole_file(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    spec, data, splits = fetched(name, tmp_path)
    MemberWatcher(monkeypatch, name)
    counted = describe(spec, tmp_path / "data")
    whole = expected_splits(data, splits)  # char tokens: characters plus one per line
    assert counted["tokens"] == {s: sum(len(line) + 1 for line in whole[s]) for s in whole}
