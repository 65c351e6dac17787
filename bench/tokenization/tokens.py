"""Token streams: what tokenizers produce and models consume.

A split of a corpus is a list of lines. Tokenized, it becomes one flat stream of
token ids in which every line is followed by exactly one end-of-sentence token,
so a split of L lines and W whitespace words holds W + L tokens at word level.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

EOS = "<eos>"
UNK = "<unk>"
COUNT_BLOCK = 1 << 21  # tokens per bincount call: 8 MB read, 16 MB once bincount copies to int64


def token_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id occurs (int64 [vocab_size]).

    Counted a block at a time: bincount copies its input to int64, and a streamed train
    split (One Billion Word) is a memory map of ~800M ids.
    """
    counts = np.zeros(vocab_size, dtype=np.int64)
    for block in id_blocks(ids, COUNT_BLOCK):
        counts += np.bincount(block, minlength=vocab_size)
    return counts


def id_blocks(ids: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """``ids`` in blocks of ``size``. The ids of a memory-mapped file (the token cache) are
    read from the file instead of through the map: pages read through a map stay in the
    process's resident memory (300 MB for 80M ids) until the kernel needs them back."""
    path = ids.filename if isinstance(ids, np.memmap) else None
    whole_file = (
        path is not None
        and ids.offset == 0
        and ids.ndim == 1
        and ids.flags.c_contiguous
        and os.path.getsize(path) == ids.nbytes
    )
    for start in range(0, len(ids), size):
        if whole_file:
            count = min(size, len(ids) - start)
            yield np.fromfile(path, ids.dtype, count, offset=start * ids.itemsize)
        else:
            yield ids[start : start + size]


@dataclass(frozen=True)
class UnitCounts:
    """How many units a split holds, so perplexity can be normalised per token, word or byte.

    ``words`` counts whitespace-separated words plus one end-of-sentence per line (the
    usual definition behind published word-level perplexities); ``bytes`` counts the
    UTF-8 bytes of the text including one newline per line.
    """

    tokens: int
    words: int
    bytes: int
    lines: int
    oov: int = 0

    @classmethod
    def of_lines(cls, lines: Sequence[str], tokens: int, oov: int = 0) -> UnitCounts:
        """Count words and bytes of ``lines``; ``tokens`` comes from the tokenizer."""
        words = sum(len(line.split()) for line in lines) + len(lines)
        n_bytes = sum(len(line.encode("utf-8")) for line in lines) + len(lines)
        return cls(tokens=tokens, words=words, bytes=n_bytes, lines=len(lines), oov=oov)


class Vocabulary:
    """An ordered list of token strings; the id of a token is its index."""

    def __init__(self, tokens: Sequence[str], *, unk: str | None = UNK, eos: str = EOS) -> None:
        self.tokens: list[str] = list(tokens)
        self.index: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary has duplicate tokens")
        if eos not in self.index:
            raise ValueError(f"vocabulary lacks the end-of-sentence token {eos!r}")
        self.eos_id: int = self.index[eos]
        self.unk_id: int | None = self.index.get(unk) if unk is not None else None

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def sha256(self) -> str:
        """A hash that identifies this exact vocabulary (order included)."""
        return hashlib.sha256("\n".join(self.tokens).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenizedSplit:
    """One split as a flat stream of token ids, with the line structure kept.

    ``ids[line_offsets[i]:line_offsets[i + 1]]`` is line ``i``; its last id is the
    end-of-sentence token. ``oov_mask`` marks tokens that were out of vocabulary in
    the text (mapped to ``<unk>``), so perplexity can also be reported without them.
    """

    name: str
    ids: np.ndarray
    line_offsets: np.ndarray
    counts: UnitCounts
    oov_mask: np.ndarray | None = None
    # Words (+1 end-of-sentence) and UTF-8 bytes (+1 newline) of each line, where the text
    # was at hand: per-line units let a bootstrap over lines resample word and byte counts.
    line_words: np.ndarray | None = None
    line_bytes: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ids.ndim != 1:
            raise ValueError("ids must be one-dimensional")
        if len(self.line_offsets) != self.counts.lines + 1:
            raise ValueError("line_offsets must have one entry per line plus one")
        if len(self.ids) != self.counts.tokens:
            raise ValueError("counts.tokens must equal the number of ids")
        if self.oov_mask is not None and self.oov_mask.shape != self.ids.shape:
            raise ValueError("oov_mask must have one entry per token")
        for per_line in (self.line_words, self.line_bytes):
            if per_line is not None and len(per_line) != self.counts.lines:
                raise ValueError("line_words and line_bytes must have one entry per line")

    def __len__(self) -> int:
        return len(self.ids)

    def lines(self) -> list[np.ndarray]:
        """The ids of each line, each ending with end-of-sentence."""
        return np.split(self.ids, self.line_offsets[1:-1])

    @classmethod
    def from_flat(
        cls,
        name: str,
        flat_ids: np.ndarray,
        lengths: np.ndarray,
        eos_id: int,
        text_lines: Sequence[str],
        oov_flat: np.ndarray | None = None,
    ) -> TokenizedSplit:
        """Build a split from the tokens of all lines laid end to end (no eos yet).

        ``lengths[i]`` is the number of tokens of line ``i``; one end-of-sentence is put
        after each line. Vectorised: a Python loop per line costs seconds on the
        multi-million-token train splits that every run encodes.
        """
        offsets = np.zeros(len(text_lines) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lengths, dtype=np.int64) + 1, out=offsets[1:])
        is_eos = np.zeros(int(offsets[-1]), dtype=bool)
        is_eos[offsets[1:] - 1] = True
        ids = np.full(len(is_eos), eos_id, dtype=np.int64)
        ids[~is_eos] = flat_ids
        oov_mask = None
        if oov_flat is not None:
            oov_mask = np.zeros(len(ids), dtype=bool)
            oov_mask[~is_eos] = oov_flat
        oov = int(oov_mask.sum()) if oov_mask is not None else 0
        # the same counts as UnitCounts.of_lines, kept per line
        n = len(text_lines)
        words = np.fromiter((len(line.split()) + 1 for line in text_lines), np.int64, count=n)
        n_bytes = np.fromiter(
            (len(line.encode("utf-8")) + 1 for line in text_lines), np.int64, count=n
        )
        counts = UnitCounts(
            tokens=len(ids), words=int(words.sum()), bytes=int(n_bytes.sum()), lines=n, oov=oov
        )
        return cls(
            name=name,
            ids=ids,
            line_offsets=offsets,
            counts=counts,
            oov_mask=oov_mask,
            line_words=words,
            line_bytes=n_bytes,
        )

    @classmethod
    def from_lines(
        cls,
        name: str,
        line_ids: Sequence[Sequence[int]],
        eos_id: int,
        text_lines: Sequence[str],
        oov_lines: Sequence[Sequence[bool]] | None = None,
    ) -> TokenizedSplit:
        """Join per-line ids (without end-of-sentence) into a stream, adding one eos per line."""
        lengths = np.fromiter((len(ids) for ids in line_ids), dtype=np.int64, count=len(line_ids))
        flat = np.fromiter(
            (i for ids in line_ids for i in ids), dtype=np.int64, count=int(lengths.sum())
        )
        oov_flat = None
        if oov_lines is not None:
            oov_flat = np.fromiter(
                (o for line in oov_lines for o in line), dtype=bool, count=int(lengths.sum())
            )
        return cls.from_flat(name, flat, lengths, eos_id, text_lines, oov_flat)
