"""Turn the bytes of a registered corpus's files into a checked :class:`CorpusText`.

Shared by registered corpora (:mod:`bench.corpora.load`) and local folders recognised as
one (:mod:`bench.corpora.local`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.corpora.shards import ShardedLines, StreamedSplit
from bench.corpora.spec import SPLITS, CorpusSpec, CorpusText, SplitFile
from bench.corpora.text import (
    check_counts,
    check_sha256,
    combine_sha256,
    decode_lines,
    sha256_bytes,
)
from bench.errors import BenchError


def _assemble(spec: CorpusSpec, contents: Iterable[tuple[SplitFile, str, bytes]], *,
              source: str, streamed: StreamedSplit | None = None) -> CorpusText:
    """Check and decode each file of ``spec`` (one at a time) and build the splits.

    Every file must match its checksum (when one is recorded) and its line/token counts
    (when given): a silently different corpus would make every perplexity incomparable.
    ``streamed`` is a split already checksummed and left on disk (its files are not in
    ``contents``); its lines are checked against their counts as they are read.
    """
    lines: dict[str, list[str]] = {}
    digests: dict[str, list[str]] = {}
    verified = streamed is None or streamed.verified
    for split_file, label, data in contents:
        digest = sha256_bytes(data)
        verified = check_sha256(spec.name, split_file, label, digest) and verified
        file_lines = decode_lines(data, label)
        del data  # big shards: keep only the decoded lines alive
        check_counts(label, file_lines, split_file.lines, split_file.tokens)
        lines.setdefault(split_file.split, []).extend(file_lines)
        digests.setdefault(split_file.split, []).append(digest)
    sha = {split: found[0] if len(found) == 1 else combine_sha256(found)
           for split, found in digests.items()}
    if spec.line_splits:
        lines, sha = _cut_line_splits(spec, lines, sha)
    splits: dict[str, list[str] | ShardedLines] = dict(lines)
    if streamed is not None:
        splits[streamed.split] = streamed.lines
        sha[streamed.split] = streamed.sha256
    _require_splits(spec, splits)
    return CorpusText(name=spec.name, spec=spec, source=source, splits=splits, sha256=sha,
                      verified=verified)


def _cut_line_splits(spec: CorpusSpec, lines: dict[str, list[str]],
                     sha: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Cut the one file of a single-file corpus into splits by ``spec.line_splits``."""
    assert spec.line_splits is not None
    if len(lines) != 1:
        raise BenchError(f"corpus {spec.name!r}: line_splits needs exactly one source split, "
                         f"got {sorted(lines)}")
    (whole_name, whole), = lines.items()
    splits: dict[str, list[str]] = {}
    for split, (start, end) in spec.line_splits.items():
        if not 0 <= start < end <= len(whole):
            raise BenchError(f"corpus {spec.name!r}: split {split} covers lines {start}-{end} "
                             f"but the file has {len(whole):,} lines")
        splits[split] = whole[start:end]
        if split in spec.expected_tokens:
            check_counts(f"{spec.name} {split}", splits[split], None,
                         spec.expected_tokens[split])
    return splits, {split: sha[whole_name] for split in splits}


def _require_splits(spec: CorpusSpec, lines: dict[str, list[str] | ShardedLines]) -> None:
    missing = [split for split in SPLITS if split not in lines]
    if missing:
        raise BenchError(f"corpus {spec.name!r} defines no {', '.join(missing)} split; "
                         f"it has {', '.join(sorted(lines))}")
