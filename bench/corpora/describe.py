"""What ``bench corpora list`` shows for each corpus."""

from __future__ import annotations

from pathlib import Path

from bench.corpora.files import cached_path, corpus_dir
from bench.corpora.spec import CorpusSpec


def describe(spec: CorpusSpec, data_dir: Path) -> dict[str, object]:
    """What ``bench corpora list`` shows for one corpus; cheap: checks presence, not checksums.

    ``status`` is "embedded", "cached" (every file present) or "not downloaded".
    ``tokens`` maps each split to its expected token count (whitespace tokens + one per
    line), or None when unknown.
    """
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "tokens": expected_split_tokens(spec),
        "license": spec.license,
        "citation": spec.citation,
        "default_tokenizer": spec.default_tokenizer,
        "status": _status(spec, data_dir),
        "location": "embedded" if spec.embedded else str(corpus_dir(spec, data_dir)),
        "reference_names": list(spec.reference_names),
        "notes": spec.notes,
    }


def expected_split_tokens(spec: CorpusSpec) -> dict[str, int | None]:
    """Expected tokens per split: from ``expected_tokens``, else summed over its files."""
    if spec.line_splits:
        return {split: spec.expected_tokens.get(split) for split in spec.line_splits}
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
