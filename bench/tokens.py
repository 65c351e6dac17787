"""Token streams: what tokenizers produce and models consume.

A split of a corpus is a list of lines. Tokenized, it becomes one flat stream of
token ids in which every line is followed by exactly one end-of-sentence token,
so a split of L lines and W whitespace words holds W + L tokens at word level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EOS = "<eos>"
UNK = "<unk>"


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

    def __post_init__(self) -> None:
        if self.ids.ndim != 1:
            raise ValueError("ids must be one-dimensional")
        if len(self.line_offsets) != self.counts.lines + 1:
            raise ValueError("line_offsets must have one entry per line plus one")
        if len(self.ids) != self.counts.tokens:
            raise ValueError("counts.tokens must equal the number of ids")
        if self.oov_mask is not None and self.oov_mask.shape != self.ids.shape:
            raise ValueError("oov_mask must have one entry per token")

    def __len__(self) -> int:
        return len(self.ids)

    def lines(self) -> list[np.ndarray]:
        """The ids of each line, each ending with end-of-sentence."""
        return np.split(self.ids, self.line_offsets[1:-1])

    @classmethod
    def from_lines(
        cls, name: str, line_ids: Sequence[Sequence[int]], eos_id: int, text_lines: Sequence[str],
        oov_lines: Sequence[Sequence[bool]] | None = None,
    ) -> TokenizedSplit:
        """Join per-line ids (without end-of-sentence) into a stream, adding one eos per line."""
        lengths = np.fromiter((len(ids) + 1 for ids in line_ids), dtype=np.int64, count=len(line_ids))
        offsets = np.zeros(len(line_ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.full(int(offsets[-1]), eos_id, dtype=np.int64)
        oov_mask = np.zeros(len(ids), dtype=bool) if oov_lines is not None else None
        for i, line in enumerate(line_ids):
            start = offsets[i]
            ids[start : start + len(line)] = line
            if oov_mask is not None:
                oov_mask[start : start + len(line)] = oov_lines[i]
        oov = int(oov_mask.sum()) if oov_mask is not None else 0
        counts = UnitCounts.of_lines(text_lines, tokens=len(ids), oov=oov)
        return cls(name=name, ids=ids, line_offsets=offsets, counts=counts, oov_mask=oov_mask)
