"""What ``bench corpora list`` shows for each corpus."""

from __future__ import annotations

from pathlib import Path

from bench.corpora.counts import counted_split_tokens
from bench.corpora.files import cached_path, corpus_dir
from bench.corpora.spec import CorpusSpec


def describe(spec: CorpusSpec, data_dir: Path) -> dict[str, object]:
    """What ``bench corpora list`` shows for one corpus; cheap: checks presence, not checksums.

    ``status`` is "embedded", "cached" (every file present) or "not downloaded".
    ``tokens`` maps each split to its token count, or None when unknown, and
    ``tokens_source`` says where they come from: "counted" (the files here, under the
    corpus's default tokenizer; cached, see :mod:`bench.corpora.counts`), "registered"
    (the corpus's metadata: whitespace tokens + one per line) or None (nothing known).
    """
    counted = counted_split_tokens(spec, data_dir)
    registered = expected_split_tokens(spec)
    known = any(count is not None for count in registered.values())
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "tokens": counted if counted is not None else registered,
        "tokens_source": "counted" if counted is not None else "registered" if known else None,
        "license": spec.license,
        "citation": spec.citation,
        "default_tokenizer": spec.default_tokenizer,
        "status": _status(spec, data_dir),
        "location": "embedded" if spec.embedded else str(corpus_dir(spec, data_dir)),
        "reference_names": list(spec.reference_names),
        "notes": spec.notes,
        "checksums": published_checksums(spec),
        "unverified_files": sum(
            f.published is None and f.url not in spec.archive_checksums for f in spec.files
        ),
    }


def published_checksums(spec: CorpusSpec) -> list[str]:
    """The published checksums a corpus's files are checked against, one "kind: source"
    per source, in file order (an archive's checksum covers every file taken from it)."""
    found: list[str] = []
    for split_file in spec.files:
        checksum = split_file.published or spec.archive_checksums.get(split_file.url)
        if checksum is not None:
            what = "archive " if split_file.published is None else ""
            line = f"{what}{checksum.kind} from {checksum.source}"
            if line not in found:
                found.append(line)
    return found


def expected_split_tokens(spec: CorpusSpec) -> dict[str, int | None]:
    """Expected tokens per split: from ``expected_tokens``, else summed over its files."""
    cut = spec.line_splits or spec.byte_splits
    if cut:
        return {split: spec.expected_tokens.get(split) for split in cut}
    counts: dict[str, int | None] = {}
    for split_file in spec.files:
        known = counts.get(split_file.split, 0)
        counts[split_file.split] = (
            None if known is None or split_file.tokens is None else known + split_file.tokens
        )
    counts.update(spec.expected_tokens)
    return counts


def _status(spec: CorpusSpec, data_dir: Path) -> str:
    if spec.embedded is not None:
        return "embedded"
    present = all(cached_path(spec, f, data_dir).is_file() for f in spec.files)
    return "cached" if present else "not downloaded"
