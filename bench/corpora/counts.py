"""Token counts of a corpus that is here, under its own default tokenizer, for
``bench corpora list``; cached in its folder so the listing stays fast.

Counting is cheap and needs no vocabulary: the word tokenizer's tokens are whitespace
words, the character tokenizer's are characters (a literal ``<unk>`` is one), each plus
one end-of-sentence per line. Files are read line by line (a multi-gigabyte shard never
sits in memory) with the line rule of :func:`bench.corpora.text.split_lines`. Other
tokenizers (subwords) learn a model first, so they are not counted here.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from bench.corpora.byte_splits import split_tokens
from bench.corpora.files import cached_path, corpus_dir, embedded_bytes, embedded_path
from bench.corpora.spec import CorpusSpec, SplitFile
from bench.tokenization.tokens import UNK

CACHE_NAME = "token-counts.json"
CACHE_VERSION = 1

# tokens of one line, end-of-sentence included, for each tokenizer counted here
LINE_TOKENS: dict[str, Callable[[str], int]] = {
    "word": lambda line: len(line.split()) + 1,
    "char": lambda line: len(line) - (len(UNK) - 1) * line.count(UNK) + 1,
}


def counted_split_tokens(spec: CorpusSpec, data_dir: Path) -> dict[str, int] | None:
    """Tokens per split under ``spec.default_tokenizer``, or None when a file is missing
    or that tokenizer is not counted here. Cached in the corpus's folder, keyed by each
    file's size and modification time, so a changed file is counted again."""
    line_tokens = LINE_TOKENS.get(spec.default_tokenizer)
    sources = _sources(spec, data_dir)
    if line_tokens is None or sources is None:
        return None
    key = {
        "version": CACHE_VERSION,
        "tokenizer": spec.default_tokenizer,
        "files": [_stamp(path) for _, path in sources],
    }
    cache = corpus_dir(spec, data_dir) / CACHE_NAME
    cached = _read_cache(cache)
    if cached is not None and cached.get("key") == key:
        return cached["counts"]
    counts: dict[str, int] = {}
    if spec.byte_splits:  # enwik8, text8: one file, read a piece of each split at a time
        ((_, path),) = sources
        counts = split_tokens(spec.name, spec.byte_splits, path, line_tokens)
        sources = []
    for split_file, path in sources:
        with _open(spec, path) as handle:
            for split, tokens in _file_counts(spec, split_file, handle, line_tokens).items():
                counts[split] = counts.get(split, 0) + tokens
    _write_cache(cache, {"key": key, "counts": counts})
    return counts


def _sources(spec: CorpusSpec, data_dir: Path) -> list[tuple[SplitFile, Path]] | None:
    if spec.embedded is not None:
        return [(split_file, embedded_path(spec)) for split_file in spec.files]
    paths = [(f, cached_path(spec, f, data_dir)) for f in spec.files]
    return paths if all(path.is_file() for _, path in paths) else None


def _stamp(path: Path) -> list[object]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _open(spec: CorpusSpec, path: Path) -> IO[bytes]:
    if spec.embedded is not None:
        return io.BytesIO(embedded_bytes(spec))
    return path.open("rb")


def _file_counts(
    spec: CorpusSpec, split_file: SplitFile, handle: IO[bytes], line_tokens: Callable[[str], int]
) -> dict[str, int]:
    """Tokens of one file, per split (a ``line_splits`` file feeds several splits)."""
    ranges = spec.line_splits or {split_file.split: (0, None)}
    counts = dict.fromkeys(ranges, 0)
    for number, line in enumerate(_lines(handle)):
        for split, (first, end) in ranges.items():
            if first <= number and (end is None or number < end):
                counts[split] += line_tokens(line)
    return counts


def _lines(handle: IO[bytes]) -> Iterator[str]:
    """The lines of a file by the rule of ``split_lines``, read one at a time: one "\\r"
    stripped per line, a leading byte-order mark dropped, and a last fragment without a
    final "\\n" kept only when it holds more than whitespace."""
    first = True
    for raw in handle:
        text = raw.decode("utf-8", errors="replace")
        if first:
            text, first = text.removeprefix("\ufeff"), False
        if text.endswith("\n"):
            yield text[:-1].removesuffix("\r")
        elif text.strip():
            yield text.removesuffix("\r")


def _read_cache(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_cache(path: Path, content: dict) -> None:
    """Write atomically; a folder that cannot be written just means counting again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(content))
        partial.replace(path)
    except OSError:
        pass
