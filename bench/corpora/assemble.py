"""Turn the bytes of a registered corpus's files into a checked :class:`CorpusText`.

Shared by registered corpora (:mod:`bench.corpora.load`) and local folders recognised as
one (:mod:`bench.corpora.local`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.corpora.spec import SPLITS, CorpusSpec, CorpusText, SplitFile
from bench.corpora.text import combine_sha256, count_tokens, decode_lines, sha256_bytes
from bench.errors import BenchError


def _assemble(spec: CorpusSpec, contents: Iterable[tuple[SplitFile, str, bytes]], *,
              source: str) -> CorpusText:
    """Check and decode each file of ``spec`` (one at a time) and build the splits.

    Every file must match its checksum (when one is recorded) and its line/token counts
    (when given): a silently different corpus would make every perplexity incomparable.
    """
    lines: dict[str, list[str]] = {}
    digests: dict[str, list[str]] = {}
    verified = True
    for split_file, label, data in contents:
        digest = sha256_bytes(data)
        if split_file.sha256 is None:
            verified = False
        elif digest != split_file.sha256:
            raise BenchError(
                f"{label}: checksum mismatch for corpus {spec.name!r}: expected sha256 "
                f"{split_file.sha256}, got {digest}. Run `bench corpora fetch {spec.name}` "
                "to download it again."
            )
        file_lines = decode_lines(data, label)
        del data  # big shards: keep only the decoded lines alive
        _check_counts(label, file_lines, split_file.lines, split_file.tokens)
        lines.setdefault(split_file.split, []).extend(file_lines)
        digests.setdefault(split_file.split, []).append(digest)
    sha = {split: found[0] if len(found) == 1 else combine_sha256(found)
           for split, found in digests.items()}
    if spec.line_splits:
        lines, sha = _cut_line_splits(spec, lines, sha)
    _require_splits(spec, lines)
    return CorpusText(name=spec.name, spec=spec, source=source, splits=lines, sha256=sha,
                      verified=verified)


def _check_counts(label: str, lines: list[str], want_lines: int | None,
                  want_tokens: int | None) -> None:
    if want_lines is not None and len(lines) != want_lines:
        raise BenchError(f"{label}: expected {want_lines:,} lines, found {len(lines):,}; "
                         "this is not the expected version of the file")
    if want_tokens is not None:
        found = count_tokens(lines)
        if found != want_tokens:
            raise BenchError(
                f"{label}: expected {want_tokens:,} tokens (whitespace tokens + one per "
                f"line), found {found:,}; this is not the expected version of the file"
            )


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
            _check_counts(f"{spec.name} {split}", splits[split], None,
                          spec.expected_tokens[split])
    return splits, {split: sha[whole_name] for split in splits}


def _require_splits(spec: CorpusSpec, lines: dict[str, list[str]]) -> None:
    missing = [split for split in SPLITS if split not in lines]
    if missing:
        raise BenchError(f"corpus {spec.name!r} defines no {', '.join(missing)} split; "
                         f"it has {', '.join(sorted(lines))}")
