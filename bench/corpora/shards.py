"""A split read lazily from its files, a block of lines at a time (see :mod:`.blocks`).

Loaded whole, One Billion Word's 99 training shards (~4 GB of text, ~30M lines) would take
well over 10 GB as Python strings, and a user's own 1B-token ``train.txt`` over 100 GB. A
registered corpus with ``stream_train=True``, and every local folder's or text file's
train split, is a :class:`ShardedLines` instead of a list: loading only checksums the files
(reading them in blocks), and every pass over the lines (fitting a tokenizer, encoding)
reads and decodes them again, in order and in blocks of about
:data:`~bench.corpora.blocks.BLOCK_BYTES`, by the same line rule as an in-memory load, so
the lines are exactly the ones a list would hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from bench.corpora import blocks
from bench.corpora.single_file import split_of_line
from bench.corpora.spec import CorpusSpec, SplitFile
from bench.corpora.text import (
    check_sha256,
    check_totals,
    combine_sha256,
    count_tokens,
)


@dataclass(frozen=True)
class Shard:
    """One file of a sharded split and the counts it must have (None: not checked).

    ``span`` (start and end byte) makes the shard those bytes of the file, read in pieces
    (:func:`~bench.corpora.blocks.line_pieces`): a split of enwik8 or text8."""

    path: Path
    lines: int | None = None
    tokens: int | None = None
    span: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.span is None else self.span[1] - self.span[0]


class ShardedLines:
    """The lines of a split stored as one or more files, re-read on every iteration.

    ``for line in source`` yields every line in file order; :meth:`blocks` yields them a
    block at a time as lists, which is what encoders use. ``pick`` keeps only the lines
    that :func:`~bench.corpora.single_file.split_of_line` gives to that split (the train
    split of one text file); ``line_count``, when known, is the number of lines kept
    (otherwise there is no ``len``: counting lines would cost a full pass).
    """

    def __init__(
        self,
        shards: Sequence[Shard],
        *,
        pick: str | None = None,
        line_count: int | None = None,
        file_lines: int | None = None,
    ) -> None:
        if not shards:
            raise ValueError("a sharded split needs at least one shard")
        if pick is not None and (len(shards) != 1 or file_lines is None):
            raise ValueError("picking a split's lines needs one file and its line count")
        self._shards = tuple(shards)
        self._pick = pick
        self._file_lines = file_lines
        self.line_count = line_count

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(shard.path for shard in self._shards)

    def __iter__(self) -> Iterator[str]:
        """Every line; a line of a byte span longer than a block comes as its pieces."""
        for lines in self.blocks():
            yield from lines

    def blocks(self) -> Iterator[list[str]]:
        """Each block's lines, read when asked for; the previous block can then be freed.
        A file's line and token counts are checked once its last block is read."""
        for lines, _ in self.pieces():
            yield lines

    def pieces(self) -> Iterator[tuple[list[str], bool]]:
        """:meth:`blocks`, each with a flag saying its last line goes on in the next
        block (only in a byte span, where a long line is cut after a space): an encoder
        joins the two pieces into one line, with one end-of-line token."""
        index = 0
        for shard in self._shards:
            label = str(shard.path)
            found_lines, found_tokens = 0, 0
            for lines, goes_on in self._read(shard, label):
                found_lines += len(lines) - goes_on
                if shard.tokens is not None:
                    found_tokens += count_tokens(lines) - goes_on
                if self._pick is not None:
                    picked = enumerate(lines, index)
                    index += len(lines)
                    lines = [line for i, line in picked if split_of_line(i) == self._pick]
                yield lines, goes_on
            check_totals(label, found_lines, found_tokens, shard.lines, shard.tokens)

    @staticmethod
    def _read(shard: Shard, label: str) -> Iterator[tuple[list[str], bool]]:
        if shard.span is not None:
            return blocks.line_pieces(shard.path, label, *shard.span)
        return ((lines, False) for lines in blocks.line_blocks(shard.path, label))

    def block_estimate(self) -> int:
        """About how many blocks :meth:`blocks` yields (for a progress bar)."""
        return sum(max(1, math.ceil(shard.size / blocks.BLOCK_BYTES)) for shard in self._shards)

    def head(self, count: int) -> list[str]:
        """The first ``count`` lines (fewer if there are fewer), reading only what they need."""
        return list(islice(self, count))

    def tail(self, max_bytes: int = 1 << 16) -> list[str]:
        """Whole lines from the end of the split, read from at most the last ``max_bytes``
        of its last file (all its lines, when the split is one file that short)."""
        shard = self._shards[-1]
        lines = blocks.tail_lines(shard.path, str(shard.path), max_bytes, *(shard.span or ()))
        if self._pick is None:
            return lines
        assert self._file_lines is not None
        first = self._file_lines - len(lines)
        return [line for i, line in enumerate(lines, first) if split_of_line(i) == self._pick]

    def __repr__(self) -> str:
        return f"ShardedLines({len(self._shards)} shards, first {self._shards[0].path})"


@dataclass(frozen=True)
class StreamedSplit:
    """A split loaded as :class:`ShardedLines`, with the checksum a run records for it."""

    split: str
    lines: ShardedLines
    sha256: str
    verified: bool


def stream_split(
    spec: CorpusSpec, split: str, files: Sequence[tuple[SplitFile, Path]]
) -> StreamedSplit:
    """Checksum the files of ``split`` (in chunks, no shard held in memory) and wrap them.

    The split's checksum follows the in-memory rule: a single file's own sha256, else
    :func:`combine_sha256` of the shard checksums in order.
    """
    digests: list[str] = []
    verified = True
    for split_file, path in files:
        digest = blocks.checked_sha256(path, str(path))
        verified = check_sha256(spec.name, split_file, str(path), digest) and verified
        digests.append(digest)
    shards = [Shard(path, split_file.lines, split_file.tokens) for split_file, path in files]
    sha = digests[0] if len(digests) == 1 else combine_sha256(digests)
    return StreamedSplit(split=split, lines=ShardedLines(shards), sha256=sha, verified=verified)
