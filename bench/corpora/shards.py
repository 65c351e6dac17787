"""A sharded split read lazily, one shard in memory at a time (One Billion Word's train).

Loaded whole, One Billion Word's 99 training shards (~4 GB of text, ~30M lines) would take
well over 10 GB as Python strings. A corpus registered with ``stream_train=True`` gets a
:class:`ShardedLines` as its train split instead of a list: loading only checksums the
shard files (reading them in chunks), and every pass over the lines (fitting a tokenizer,
encoding) reads and decodes the shards again, in order, by the same line rule as an
in-memory load, so the lines are exactly the ones a list would hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.corpora.spec import CorpusSpec, SplitFile
from bench.corpora.text import (
    check_counts,
    check_sha256,
    combine_sha256,
    decode_lines,
    read_file,
    sha256_file,
)


@dataclass(frozen=True)
class Shard:
    """One file of a sharded split and the counts it must have (None: not checked)."""

    path: Path
    lines: int | None = None
    tokens: int | None = None


class ShardedLines:
    """The lines of a split stored as several files, re-read on every iteration.

    ``for line in source`` yields every line in shard order; :meth:`shards` yields each
    shard's lines as a list, which is what encoders use (one shard's text in memory at a
    time). There is no ``len``: counting lines would cost a full pass.
    """

    def __init__(self, shards: Sequence[Shard]) -> None:
        if not shards:
            raise ValueError("a sharded split needs at least one shard")
        self._shards = tuple(shards)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(shard.path for shard in self._shards)

    def __iter__(self) -> Iterator[str]:
        for lines in self.shards():
            yield from lines

    def shards(self) -> Iterator[list[str]]:
        """Each shard's lines, read when asked for; the previous shard can then be freed."""
        for shard in self._shards:
            label = str(shard.path)
            lines = decode_lines(read_file(shard.path), label)
            check_counts(label, lines, shard.lines, shard.tokens)
            yield lines

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
        digest = sha256_file(path)
        verified = check_sha256(spec.name, split_file, str(path), digest) and verified
        digests.append(digest)
    shards = [Shard(path, split_file.lines, split_file.tokens) for split_file, path in files]
    sha = digests[0] if len(digests) == 1 else combine_sha256(digests)
    return StreamedSplit(split=split, lines=ShardedLines(shards), sha256=sha, verified=verified)
