"""Tokenizers: learn a vocabulary from train only, turn splits into token streams.

Three families ship with bench (registered by ``bench_plugins.standard_tokenizers``):

- :class:`WordTokenizer`: whitespace words, the unit of the classic PTB / WikiText tables;
- :class:`CharTokenizer`: every character is a token, for bits-per-character tables;
- ``SentencePieceTokenizer`` (BPE or unigram LM): subwords learned with sentencepiece, in
  :mod:`bench.tokenization.sentencepiece_tokenizers`.

Rules they share, because every number downstream depends on them:

- the vocabulary is learned from the train lines only, and its order is deterministic;
- each line becomes its tokens followed by exactly one ``<eos>`` (a blank line is one token);
- a token missing from the vocabulary becomes ``<unk>`` and is flagged in ``oov_mask``;
- a literal ``<unk>`` in the text (PTB and WikiText contain it) is the corpus's own
  unknown-word token: it becomes the ``<unk>`` id as one token but is *not* an OOV, since
  the corpus authors already replaced that word before any model saw it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from bench.configuration.options import Options
from bench.errors import BenchError
from bench.tokenization.tokens import EOS, UNK, TokenizedSplit, Vocabulary
from bench.tokenization.word_counts import choose_vocabulary

# Marks a token that is not in the vocabulary while a stream is assembled: it becomes
# ``<unk>`` and is flagged in ``oov_mask``. Real ids are never negative.
OOV = -1


class Tokenizer(ABC):
    """Base class of tokenizers.

    ``fit`` learns the vocabulary from the train lines only (``cache_dir`` may hold
    trained models, keyed by a hash of the data and options). It must only iterate over
    them, possibly more than once: a streamed train split (One Billion Word) is re-read
    from disk on each pass and is never a list. ``encode`` turns the lines of any split
    into a :class:`TokenizedSplit` with one end-of-sentence per line; it must treat each
    line on its own, so that a big split encoded shard by shard gives the same ids.
    """

    Options: ClassVar[type[Options]] = Options
    description: ClassVar[str] = ""
    # True when fit() learns the vocabulary and nothing else: a vocabulary fitted earlier
    # on the same train text with the same options can then stand in for fitting again
    # (bench.tokenization.vocabulary_cache keeps them). A tokenizer that trains a model keeps its own.
    fit_is_vocabulary: ClassVar[bool] = False

    def __init__(self, options: Options) -> None:
        self.options = options
        self._vocab: Vocabulary | None = None

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            raise RuntimeError("tokenizer used before fit()")
        return self._vocab

    @abstractmethod
    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        """Learn the vocabulary (and any model) from the train split only, by iterating."""

    @abstractmethod
    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        """Tokenize ``lines`` of split ``name`` into a stream with one eos per line."""

    def adopt_vocabulary(self, vocab: Vocabulary) -> None:
        """Take ``vocab`` as what fit() learned (only where :attr:`fit_is_vocabulary`)."""
        if not self.fit_is_vocabulary:
            raise TypeError(f"{type(self).__name__}.fit learns more than a vocabulary")
        self._vocab = vocab

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Turn a stream of ids back into text lines, one per end-of-sentence.

        Meant for inspection and tests (samples, round trips); ids after the last
        end-of-sentence form a final, unterminated line.
        """
        vocab = self.vocab
        lines: list[str] = []
        current: list[str] = []
        for token_id in ids:
            if token_id == vocab.eos_id:
                lines.append(self.join_tokens(current))
                current = []
            else:
                current.append(vocab.tokens[token_id])
        if current:
            lines.append(self.join_tokens(current))
        return lines

    def join_tokens(self, tokens: list[str]) -> str:
        """The text of one line's tokens; word-level by default, subclasses refine it."""
        return " ".join(tokens)


def assemble_split(
    name: str,
    flat_ids: np.ndarray,
    lengths: np.ndarray,
    vocab: Vocabulary,
    lines: Sequence[str],
) -> TokenizedSplit:
    """Build a split from the tokens of all lines laid end to end (no eos yet).

    ``lengths[i]`` is the number of tokens of line ``i``; ids equal to :data:`OOV` become
    ``<unk>`` and are flagged in ``oov_mask``.
    """
    flat_ids = np.asarray(flat_ids, dtype=np.int64)
    oov_flat = flat_ids == OOV
    if oov_flat.any():
        if vocab.unk_id is None:
            raise BenchError("text holds unknown tokens but the vocabulary has no <unk>")
        flat_ids = np.where(oov_flat, vocab.unk_id, flat_ids)
    return TokenizedSplit.from_flat(name, flat_ids, lengths, vocab.eos_id, lines, oov_flat)


# --------------------------------------------------------------------------- words


class WordOptions(Options):
    max_size: int | None = Field(
        default=None,
        ge=2,
        description="Largest vocabulary, <eos> and <unk> included; the most frequent train "
        "words are kept (ties broken by the word's string). None keeps all. Also bounds "
        "the memory of fitting: only this many words are held once counted.",
    )
    min_count: int = Field(
        default=1,
        ge=1,
        description="Train words seen fewer times than this map to <unk>. Also bounds the "
        "memory of fitting: words seen fewer times are dropped once counted (counting "
        "itself spills to disk past a million distinct words).",
    )


class WordTokenizer(Tokenizer):
    """Whitespace words (``line.split()``), the unit of published word-level perplexities.

    Vocabulary: ``<eos>``, ``<unk>``, then train words by descending count, ties by string.
    On PTB (whose train already contains ``<unk>``) that gives exactly 10,000 entries.
    """

    Options = WordOptions
    description = "whitespace-separated words; vocabulary from train by frequency"
    fit_is_vocabulary = True

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        options: WordOptions = self.options  # type: ignore[assignment]
        kept = choose_vocabulary(  # in bounded memory, however many distinct words
            train_lines,
            options.min_count,
            None if options.max_size is None else options.max_size - 2,
            leave_out=(EOS, UNK),  # fixed at the front, never ranked among words
            spill_dir=Path(cache_dir),
        )
        self.adopt_vocabulary(Vocabulary([EOS, UNK, *kept]))

    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        vocab = self.vocab
        words = [line.split() for line in lines]
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        # map() with two iterables runs dict.get in C: ~10x faster than a generator.
        flat = np.fromiter(
            map(vocab.index.get, chain.from_iterable(words), repeat(OOV)),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        return assemble_split(name, flat, lengths, vocab, lines)


# --------------------------------------------------------------------------- characters


class CharOptions(Options):
    """The character tokenizer has no options: its vocabulary is the train characters."""


class CharTokenizer(Tokenizer):
    """Every character of a line is a token, spaces included; the line break is ``<eos>``.

    Vocabulary: ``<eos>``, ``<unk>``, then the train characters by code point. A literal
    ``<unk>`` stays one token, as for the other tokenizers, so it is never spelled out.
    """

    Options = CharOptions
    description = "characters (spaces included); vocabulary = train characters"
    fit_is_vocabulary = True

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # Sorted code points of the single-character tokens and their ids, for a
        # vectorised lookup of whole splits (a dict lookup per character is ~10x slower).
        self._codes = np.zeros(0, dtype=np.uint32)
        self._code_ids = np.zeros(0, dtype=np.int64)

    def fit(self, train_lines: Iterable[str], cache_dir: Path) -> None:
        chars: set[str] = set()
        for line in train_lines:
            chars.update(line.replace(UNK, ""))
        self.adopt_vocabulary(Vocabulary([EOS, UNK, *sorted(chars)]))

    def adopt_vocabulary(self, vocab: Vocabulary) -> None:
        super().adopt_vocabulary(vocab)
        self._index_codes()

    def _index_codes(self) -> None:
        singles = [(ord(token), i) for i, token in enumerate(self.vocab.tokens) if len(token) == 1]
        singles.sort()
        self._codes = np.array([code for code, _ in singles], dtype=np.uint32)
        self._code_ids = np.array([i for _, i in singles], dtype=np.int64)

    def _lookup(self, codes: np.ndarray) -> np.ndarray:
        """Ids of an array of code points; :data:`OOV` where the character is unknown."""
        if len(self._codes) == 0:
            return np.full(len(codes), OOV, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        return np.where(self._codes[pos] == codes, self._code_ids[pos], OOV)

    def encode(self, name: str, lines: Sequence[str]) -> TokenizedSplit:
        vocab = self.vocab
        # One separator after each line keeps a literal <unk> from matching across lines;
        # separators are found by position (not by value), so a "\n" inside a line is
        # still an ordinary character.
        text = "".join(line + "\n" for line in lines)
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._lookup(codes)
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        line_ends = np.cumsum(lengths + 1) - 1
        keep = np.ones(len(ids), dtype=bool)
        keep[line_ends] = False
        if UNK in text:
            starts = np.array(
                [m.start() for m in re.finditer(re.escape(UNK), text)], dtype=np.int64
            )
            ids[starts] = vocab.unk_id
            for k in range(1, len(UNK)):
                keep[starts + k] = False
            per_line = np.bincount(np.searchsorted(line_ends, starts), minlength=len(lines))
            lengths = lengths - (len(UNK) - 1) * per_line
        return assemble_split(name, ids[keep], lengths, vocab, lines)

    def join_tokens(self, tokens: list[str]) -> str:
        return "".join(tokens)
