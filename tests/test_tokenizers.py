"""Tokenizers: vocabulary from train only, one <eos> per line, OOV accounting, caching."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydantic
import pytest

from bench.api.plugin_host import load_plugins
from bench.errors import BenchError
from bench.tokenization.sentencepiece_tokenizers import (
    SentencePieceBPETokenizer,
    SentencePieceTokenizer,
    SentencePieceUnigramTokenizer,
)
from bench.tokenization.tokenizers import CharTokenizer, Tokenizer, WordTokenizer
from bench.tokenization.tokens import EOS, UNK, TokenizedSplit

TRAIN = ["the cat sat", "the dog", "", "naïve café <unk>"]
TEST = ["the bird sat", "", "café  naïve  <unk> ünï"]
SENTENCEPIECE = [SentencePieceBPETokenizer, SentencePieceUnigramTokenizer]


def fitted(cls: type[Tokenizer], lines: list[str], cache_dir: Path, **options) -> Tokenizer:
    tokenizer = cls(cls.Options(**options))
    tokenizer.fit(lines, cache_dir)
    return tokenizer


def assert_one_eos_per_line(split: TokenizedSplit, eos_id: int) -> None:
    ends = split.line_offsets[1:] - 1
    assert (split.ids[ends] == eos_id).all()
    assert (split.ids == eos_id).sum() == split.counts.lines


@pytest.fixture(scope="module")
def generated_text() -> tuple[list[str], list[str]]:
    """A few hundred single-spaced lines (some blank, some with a literal <unk>)."""
    rng = random.Random(0)
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "a",
        "mat",
        "über",
        "naïve",
        "café",
        "running",
        "runner",
        "ran",
        "dogs",
        "dog",
        "quickly",
        "quick",
        "<unk>",
        "zebra",
        "éclair",
    ]

    def line() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))

    return [line() for _ in range(400)], [line() for _ in range(40)]


# --------------------------------------------------------------------------- words


def test_word_vocabulary_order_and_counts(tmp_path: Path) -> None:
    tokenizer = fitted(WordTokenizer, TRAIN, tmp_path)
    # <eos>, <unk>, then by count (the: 2), ties by string ("café" < "cat": 'f' < 't').
    assert tokenizer.vocab.tokens == [EOS, UNK, "the", "café", "cat", "dog", "naïve", "sat"]

    split = tokenizer.encode("test", TEST)
    assert split.ids.tolist() == [2, 1, 7, 0, 0, 3, 6, 1, 1, 0]
    # "bird" and "ünï" exist only outside train: OOV. The literal <unk> is not.
    assert split.oov_mask.tolist() == [
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
    ]
    assert split.line_offsets.tolist() == [0, 4, 5, 10]
    # words: 3 + 0 + 4 whitespace words + 3 lines; bytes: 12 + 0 + 26 (é, ï, ü take
    # two bytes each) + 3 newlines.
    assert (
        split.counts.tokens,
        split.counts.words,
        split.counts.bytes,
        split.counts.lines,
        split.counts.oov,
    ) == (10, 10, 41, 3, 2)


def test_word_matches_from_lines(tmp_path: Path) -> None:
    tokenizer = fitted(WordTokenizer, TRAIN, tmp_path)
    index, unk = tokenizer.vocab.index, tokenizer.vocab.unk_id
    line_ids = [[index.get(w, unk) for w in line.split()] for line in TEST]
    oov_lines = [[w not in index for w in line.split()] for line in TEST]
    expected = TokenizedSplit.from_lines("test", line_ids, tokenizer.vocab.eos_id, TEST, oov_lines)
    split = tokenizer.encode("test", TEST)
    assert np.array_equal(split.ids, expected.ids)
    assert np.array_equal(split.line_offsets, expected.line_offsets)
    assert np.array_equal(split.oov_mask, expected.oov_mask)
    assert split.counts == expected.counts


def test_word_blank_lines_are_one_eos(tmp_path: Path) -> None:
    tokenizer = fitted(WordTokenizer, TRAIN, tmp_path)
    split = tokenizer.encode("blank", ["", "   ", ""])
    assert split.ids.tolist() == [0, 0, 0]
    assert split.counts.words == 3 and split.counts.oov == 0
    assert tokenizer.encode("empty", []).counts.tokens == 0


def test_word_max_size_and_min_count(tmp_path: Path) -> None:
    train = ["a a a b b c d", "<unk> <unk> <unk> <unk>"]
    assert fitted(WordTokenizer, train, tmp_path, max_size=4).vocab.tokens == [EOS, UNK, "a", "b"]
    assert fitted(WordTokenizer, train, tmp_path, max_size=5).vocab.tokens[-1] == "c"  # tie: c < d
    by_count = fitted(WordTokenizer, train, tmp_path, min_count=2)
    assert by_count.vocab.tokens == [EOS, UNK, "a", "b"]
    split = by_count.encode("valid", ["a c"])
    assert split.ids.tolist() == [2, 1, 0] and split.counts.oov == 1
    with pytest.raises(pydantic.ValidationError):
        WordTokenizer.Options(max_size=1)
    with pytest.raises(pydantic.ValidationError):
        WordTokenizer.Options(max_words=3)


def test_word_decode(tmp_path: Path) -> None:
    tokenizer = fitted(WordTokenizer, TRAIN, tmp_path)
    decoded = tokenizer.decode(tokenizer.encode("test", TEST).ids)
    assert decoded == ["the <unk> sat", "", "café naïve <unk> <unk>"]


# --------------------------------------------------------------------------- characters


def test_char_vocabulary_and_unknowns(tmp_path: Path) -> None:
    tokenizer = fitted(CharTokenizer, ["ab c", "é<unk>"], tmp_path)
    # The characters of a literal <unk> are not train characters.
    assert tokenizer.vocab.tokens == [EOS, UNK, " ", "a", "b", "c", "é"]
    split = tokenizer.encode("test", ["c é<unk>x", ""])
    assert split.ids.tolist() == [5, 2, 6, 1, 1, 0, 0]
    assert split.oov_mask.tolist() == [False, False, False, False, True, False, False]
    assert (
        split.counts.tokens,
        split.counts.words,
        split.counts.bytes,
        split.counts.lines,
        split.counts.oov,
    ) == (7, 4, 12, 2, 1)
    assert split.line_offsets.tolist() == [0, 6, 7]


def test_char_round_trip(tmp_path: Path, generated_text: tuple[list[str], list[str]]) -> None:
    train, test = generated_text
    tokenizer = fitted(CharTokenizer, train, tmp_path)
    lines = [*test, "  a  cat ", "<unk><unk>", "", "a\nb"]
    split = tokenizer.encode("test", lines)
    assert_one_eos_per_line(split, tokenizer.vocab.eos_id)
    assert tokenizer.decode(split.ids) == lines[:-1] + ["a<unk>b"]  # "\n" is not in train
    assert split.counts.oov == 1
    assert split.counts.tokens == sum(len(line) - 4 * line.count(UNK) + 1 for line in lines)


# --------------------------------------------------------------------------- sentencepiece


@pytest.mark.parametrize("cls", SENTENCEPIECE)
def test_sentencepiece_encode(
    cls: type[SentencePieceTokenizer], tmp_path: Path, generated_text: tuple[list[str], list[str]]
) -> None:
    train, test = generated_text
    tokenizer = fitted(cls, train, tmp_path, vocab_size=60)
    vocab = tokenizer.vocab
    assert vocab.tokens[0] == UNK and vocab.tokens[-1] == EOS and vocab.unk_id == 0
    assert not any("<" in token or ">" in token for token in vocab.tokens[1:-1])

    split = tokenizer.encode("test", test)
    assert_one_eos_per_line(split, vocab.eos_id)
    assert tokenizer.decode(split.ids) == test
    assert split.counts.oov == 0  # literal <unk> in test is not OOV
    assert (split.ids == vocab.unk_id).sum() == sum(line.count(UNK) for line in test)
    assert split.counts.lines == len(test)
    assert split.counts.words == sum(len(line.split()) for line in test) + len(test)


@pytest.mark.parametrize("cls", SENTENCEPIECE)
def test_sentencepiece_literal_unk_and_unknown_characters(
    cls: type[SentencePieceTokenizer],
    tmp_path: Path,
    generated_text: tuple[list[str], list[str]],
) -> None:
    tokenizer = fitted(cls, generated_text[0], tmp_path, vocab_size=60)
    unk = tokenizer.vocab.unk_id
    split = tokenizer.encode("test", ["the cat <unk> sat", "the cat", "sat", "", "the ☃ cat"])
    with_unk, the_cat, sat, blank, snowman = split.lines()
    # The literal <unk> is exactly one token between the pieces of its neighbours.
    assert with_unk.tolist() == the_cat[:-1].tolist() + [unk] + sat.tolist()
    assert blank.tolist() == [tokenizer.vocab.eos_id]
    # A character never seen in train becomes <unk> and counts as OOV.
    assert unk in snowman.tolist()
    assert split.oov_mask.sum() == split.counts.oov == (snowman == unk).sum() >= 1
    assert not split.oov_mask[: split.line_offsets[4]].any()


def test_sentencepiece_cache_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generated_text: tuple[list[str], list[str]]
) -> None:
    import sentencepiece

    train = generated_text[0]
    first = fitted(SentencePieceBPETokenizer, train, tmp_path, vocab_size=60)
    assert not first.loaded_from_cache
    assert first.model_path.parent == tmp_path / "sentencepiece"
    assert first.model_path.name == f"{first.cache_key(train)}.model"
    assert list(first.model_path.parent.iterdir()) == [first.model_path]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was retrained")

    monkeypatch.setattr(sentencepiece.SentencePieceTrainer, "train", no_training)
    second = fitted(SentencePieceBPETokenizer, train, tmp_path, vocab_size=60)
    assert second.loaded_from_cache and second.model_path == first.model_path
    assert second.vocab.tokens == first.vocab.tokens
    # Other data, options or model type must not hit that cache entry.
    others = [
        SentencePieceBPETokenizer(SentencePieceBPETokenizer.Options(vocab_size=61)),
        SentencePieceUnigramTokenizer(SentencePieceUnigramTokenizer.Options(vocab_size=60)),
    ]
    keys = {
        first.cache_key(train),
        first.cache_key(train[:-1]),
        *(other.cache_key(train) for other in others),
    }
    assert len(keys) == 4


def test_sentencepiece_cache_key_reads_only_what_training_sees() -> None:
    tokenizer = SentencePieceBPETokenizer(
        SentencePieceBPETokenizer.Options(vocab_size=60, max_sentences=3)
    )

    def lines(*rest: str):
        yield from ["a b", "", "c <unk> d", "e f"]
        yield from rest

    def unreadable():
        yield from lines()
        raise AssertionError("read past the sentences training uses")

    key = tokenizer.cache_key(unreadable())
    # what training never sees (lines past max_sentences) leaves the key alone...
    assert tokenizer.cache_key(lines("g h", "i")) == key
    # ...and any change to what it does see makes another key
    assert tokenizer.cache_key(["a b", "c <unk> d", "e g"]) != key


@pytest.mark.parametrize("cls", SENTENCEPIECE)
def test_sentencepiece_training_errors(cls: type[SentencePieceTokenizer], tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no non-blank lines"):
        fitted(cls, ["", "   ", "<unk>"], tmp_path)
    with pytest.raises(BenchError, match="training failed"):
        fitted(cls, ["many different letters here"], tmp_path, vocab_size=3)


# --------------------------------------------------------------------------- registration


def test_registered_through_plugins() -> None:
    host = load_plugins()
    expected = {
        "word": (WordTokenizer, "whitespace"),
        "char": (CharTokenizer, "character"),
        "sentencepiece-bpe": (SentencePieceBPETokenizer, "bpe"),
        "sentencepiece-unigram": (SentencePieceUnigramTokenizer, "unigram-lm"),
    }
    for name, (cls, alias) in expected.items():
        assert host.tokenizers.get(name) is cls
        assert host.tokenizers.get(alias) is cls
        assert host.tokenizers.entry(name).plugin == "standard-tokenizers"
