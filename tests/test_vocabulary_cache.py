"""A tokenizer is fitted once per train text: later processes read the kept vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.corpora import CorpusText, ShardedLines
from bench.corpora import blocks as blocks_module
from bench.corpora.shards import Shard
from bench.tokenization.sentencepiece_tokenizers import (
    SentencePieceBPETokenizer,
    SentencePieceOptions,
)
from bench.tokenization.tokenizers import (
    CharOptions,
    CharTokenizer,
    Tokenizer,
    WordOptions,
    WordTokenizer,
)
from bench.tokenization.vocabulary_cache import FOLDER, fit_tokenizer, vocabulary_path

TRAIN = ["the cat sat on the mat", "a dog ran <unk> to the park", "", "the dog sat"]


def corpus_of(train: list[str] | ShardedLines, sha256: str = "a" * 64) -> CorpusText:
    return CorpusText(
        name="local:tiny",
        spec=None,
        source="test",
        splits={"train": train, "test": ["the cat ran"]},
        sha256={"train": sha256, "test": "b" * 64},
        verified=False,
    )


def refuse_to_fit(monkeypatch: pytest.MonkeyPatch, cls: type[Tokenizer]) -> None:
    def fit(self: Tokenizer, train_lines: object, cache_dir: Path) -> None:
        raise AssertionError("fit ran although the vocabulary was kept")

    monkeypatch.setattr(cls, "fit", fit)


def test_word_vocabulary_is_fitted_once_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = corpus_of(TRAIN)
    first = WordTokenizer(WordOptions())
    fit_tokenizer(first, corpus, tmp_path)
    assert len(list((tmp_path / FOLDER).glob("*.json"))) == 1

    refuse_to_fit(monkeypatch, WordTokenizer)
    second = WordTokenizer(WordOptions())
    fit_tokenizer(second, corpus, tmp_path)
    assert second.vocab.tokens == first.vocab.tokens
    assert second.vocab.sha256() == first.vocab.sha256()
    encoded = second.encode("test", corpus.splits["test"])
    assert list(encoded.ids) == list(first.encode("test", corpus.splits["test"]).ids)


def test_other_options_or_other_text_fit_again(tmp_path: Path) -> None:
    fitted = []

    class CountingWords(WordTokenizer):
        def fit(self, train_lines, cache_dir):  # type: ignore[no-untyped-def]
            fitted.append(self.options)
            super().fit(train_lines, cache_dir)

    fit_tokenizer(CountingWords(WordOptions()), corpus_of(TRAIN), tmp_path)
    fit_tokenizer(CountingWords(WordOptions()), corpus_of(TRAIN), tmp_path)
    assert len(fitted) == 1
    pruned = CountingWords(WordOptions(min_count=2))
    fit_tokenizer(pruned, corpus_of(TRAIN), tmp_path)
    assert len(fitted) == 2 and "cat" not in pruned.vocab
    changed = CountingWords(WordOptions())
    fit_tokenizer(changed, corpus_of([*TRAIN, "zebra"], sha256="c" * 64), tmp_path)
    assert len(fitted) == 3 and "zebra" in changed.vocab
    assert len(list((tmp_path / FOLDER).glob("*.json"))) == 3


@pytest.mark.parametrize(
    "damage",
    [
        b'{"format": 1, "tokens": ["<eos>", "<unk>", "the"',  # cut short by a crash
        b'{"format": 1, "tokens": ["the", "cat"]}',  # no end-of-sentence
        b'{"format": 1, "tokens": ["<eos>", "<eos>"]}',  # duplicates
        b'{"format": 1, "tokens": ["<eos>", 7]}',
        b'{"format": 999, "tokens": ["<eos>", "<unk>"]}',  # another file format
        b'["<eos>", "<unk>"]',
        b"\xff\xfe not text",
    ],
)
def test_a_damaged_file_is_fitted_again_and_replaced(tmp_path: Path, damage: bytes) -> None:
    corpus = corpus_of(TRAIN)
    expected = WordTokenizer(WordOptions())
    fit_tokenizer(expected, corpus, tmp_path)
    path = vocabulary_path(expected, corpus, tmp_path)
    path.write_bytes(damage)

    again = WordTokenizer(WordOptions())
    fit_tokenizer(again, corpus, tmp_path)
    assert again.vocab.tokens == expected.vocab.tokens
    assert json.loads(path.read_text())["tokens"] == expected.vocab.tokens


def test_characters_are_indexed_when_the_vocabulary_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = corpus_of(["héllo wörld <unk>", "naïve 🙂"])
    first = CharTokenizer(CharOptions())
    fit_tokenizer(first, corpus, tmp_path)
    refuse_to_fit(monkeypatch, CharTokenizer)
    second = CharTokenizer(CharOptions())
    fit_tokenizer(second, corpus, tmp_path)
    lines = ["wörld 🙂 <unk> x"]  # the x is not in the vocabulary
    a, b = first.encode("test", lines), second.encode("test", lines)
    assert list(a.ids) == list(b.ids) and list(a.oov_mask) == list(b.oov_mask)


def test_a_tokenizer_that_trains_a_model_keeps_no_vocabulary_here(tmp_path: Path) -> None:
    corpus = corpus_of([f"line {i} of some words to learn pieces from" for i in range(50)])
    tokenizer = SentencePieceBPETokenizer(SentencePieceOptions(vocab_size=40))
    fit_tokenizer(tokenizer, corpus, tmp_path)
    assert not (tmp_path / FOLDER).exists()
    with pytest.raises(TypeError, match="learns more than a vocabulary"):
        tokenizer.adopt_vocabulary(tokenizer.vocab)


def test_a_streamed_train_split_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i, lines in enumerate((TRAIN[:2], TRAIN[2:])):
        paths.append(tmp_path / f"shard-{i}.txt")
        paths[-1].write_text("\n".join(lines) + "\n")
    corpus = corpus_of(ShardedLines([Shard(p) for p in paths]))
    heard: list[str] = []
    fit_tokenizer(WordTokenizer(WordOptions()), corpus, tmp_path / "cache", heard.append)
    assert heard == [
        "local:tiny: fitting the tokenizer on the train split of 2 files, read in blocks"
    ]

    reads: list[Path] = []
    original = blocks_module.line_blocks
    monkeypatch.setattr(
        blocks_module, "line_blocks", lambda p, *a: reads.append(p) or original(p, *a)
    )
    heard.clear()
    kept = WordTokenizer(WordOptions())
    fit_tokenizer(kept, corpus, tmp_path / "cache", heard.append)
    assert reads == []
    assert len(heard) == 1 and "vocabulary of 12 tokens fitted earlier" in heard[0]
    direct = WordTokenizer(WordOptions())
    direct.fit(TRAIN, tmp_path)
    assert kept.vocab.tokens == direct.vocab.tokens
