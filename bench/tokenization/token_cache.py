"""Encode a streamed split block by block into token ids on disk, and memory-map them.

One Billion Word's train split is ~800M tokens: as int64 in memory that is 6.4 GB before a
model sees it. Here its files are read a block of text at a time (see
:mod:`bench.corpora.blocks`) and encoded a block of lines at a time with the tokenizer's own ``encode`` (so the ids are exactly those of an in-memory
encode: tokenizers treat lines independently), and appended to flat files; the returned :class:`TokenizedSplit` holds read-only memory maps
of them, so its ids never sit in RAM as a whole.

A folder holds one encoded split::

    <cache_dir>/<key>/ids.int32      token ids, 4 bytes per token
                     offsets.int64   line offsets (lines + 1 entries)
                     oov.bool        OOV mask, 1 byte per token; only when there are OOVs
                     meta.json       unit counts, written last

``key`` hashes the split's text checksum, the tokenizer (class, options, vocabulary) and
the file format, so a later run with the same corpus and tokenizer reuses the files
instead of encoding again, and anything else gets its own folder. The folder is built
under a temporary name and renamed into place, so a killed run never leaves a partial one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench._moved import former_name
from bench.corpora.shards import ShardedLines
from bench.tokenization.tokenizers import Tokenizer
from bench.tokenization.tokens import TokenizedSplit, UnitCounts

FORMAT = 1  # bump when the files change, so older folders are not misread
IDS, OFFSETS, OOV_MASK, META = "ids.int32", "offsets.int64", "oov.bool", "meta.json"
ID_DTYPE = np.dtype("<i4")  # any vocabulary below 2**31 fits; half of int64's disk and cache
# Lines encoded per call: bounds the tokenizer's working memory (~64 bytes per word for
# the word tokenizer's split strings) even for a block of many short lines.
BLOCK_LINES = 1 << 16

Progress = Callable[..., Iterable[Any]]


def cache_key(tokenizer: Tokenizer, split: str, text_sha256: str) -> str:
    """sha256 naming the encoded files of ``split`` (whose text hashes to ``text_sha256``)."""
    recipe = {
        "format": FORMAT,
        "split": split,
        "text_sha256": text_sha256,
        "tokenizer": former_name(type(tokenizer)),  # the same key before and after a move
        "options": tokenizer.options.model_dump(mode="json"),
        "vocab_sha256": tokenizer.vocab.sha256(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8")).hexdigest()


def encode_to_disk(
    tokenizer: Tokenizer,
    split: str,
    lines: ShardedLines,
    text_sha256: str,
    cache_dir: Path,
    progress: Progress | None = None,
) -> TokenizedSplit:
    """The split as memory-mapped ids: read from the cache, or encoded block by block first.

    ``progress`` wraps the block iterator (a tqdm-like callable) while encoding.
    """
    folder = Path(cache_dir) / cache_key(tokenizer, split, text_sha256)
    cached = load_encoded(folder, split)
    if cached is not None:
        return cached
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        read: Iterable[tuple[list[str], bool]] = lines.pieces()
        if progress is not None:
            read = progress(
                read, total=lines.block_estimate(), desc=f"encoding {split}", unit="block"
            )
        _write_encoded(building, _encoded_parts(tokenizer, split, read))
        _publish(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    encoded = load_encoded(folder, split)
    if encoded is None:  # only if the files were damaged between two lines of this function
        raise RuntimeError(f"{folder}: encoded split could not be read back")
    return encoded


def _encoded_parts(
    tokenizer: Tokenizer, split: str, pieces: Iterable[tuple[list[str], bool]]
) -> Iterator[TokenizedSplit]:
    """Each block's lines encoded, :data:`BLOCK_LINES` at a time. A block whose last line
    goes on in the next block (a line of a byte span cut at a space) loses that line's
    end-of-line token, so the next block's first line ends it: one line, one token."""
    for block, goes_on in pieces:
        for start in range(0, len(block), BLOCK_LINES):
            part = tokenizer.encode(split, block[start : start + BLOCK_LINES])
            yield without_line_end(part) if goes_on and start + BLOCK_LINES >= len(block) else part


def without_line_end(part: TokenizedSplit) -> TokenizedSplit:
    """``part`` less the end-of-line token of its last line, which goes on elsewhere."""
    counts = part.counts
    less = UnitCounts(
        tokens=counts.tokens - 1,
        words=counts.words - 1,
        bytes=counts.bytes - 1,
        lines=counts.lines - 1,
        oov=counts.oov,
    )
    mask = None if part.oov_mask is None else part.oov_mask[:-1]
    return TokenizedSplit(part.name, part.ids[:-1], part.line_offsets[:-1], less, mask)


def load_encoded(folder: Path, split: str) -> TokenizedSplit | None:
    """The split stored in ``folder`` as read-only memory maps, or None if absent or damaged."""
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT:
        return None
    counts = UnitCounts(**meta["counts"])
    ids = _map(folder / IDS, ID_DTYPE, counts.tokens)
    offsets = _map(folder / OFFSETS, np.dtype("<i8"), counts.lines + 1)
    oov_mask = _map(folder / OOV_MASK, np.dtype(bool), counts.tokens) if counts.oov else None
    if ids is None or offsets is None or (counts.oov and oov_mask is None):
        return None
    return TokenizedSplit(
        name=split, ids=ids, line_offsets=offsets, counts=counts, oov_mask=oov_mask
    )


def _map(path: Path, dtype: np.dtype, length: int) -> np.memmap | None:
    """A read-only memory map of ``length`` items, or None unless the file has that size."""
    try:
        if path.stat().st_size != length * dtype.itemsize:
            return None
    except OSError:
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))


def _write_encoded(folder: Path, parts: Iterator[TokenizedSplit]) -> None:
    """Append each encoded part's ids, line offsets and OOV mask; sum their unit counts."""
    totals = {"tokens": 0, "words": 0, "bytes": 0, "lines": 0, "oov": 0}
    with (
        open(folder / IDS, "wb") as ids_file,
        open(folder / OFFSETS, "wb") as offsets_file,
        open(folder / OOV_MASK, "wb") as oov_file,
    ):
        np.zeros(1, dtype="<i8").tofile(offsets_file)
        for part in parts:
            if part.ids.size and (part.ids.min() < 0 or part.ids.max() > np.iinfo(ID_DTYPE).max):
                raise ValueError(f"token ids of {part.name} do not fit in {ID_DTYPE}")
            part.ids.astype(ID_DTYPE).tofile(ids_file)
            (part.line_offsets[1:] + totals["tokens"]).astype("<i8").tofile(offsets_file)
            mask = part.oov_mask if part.oov_mask is not None else np.zeros(len(part), bool)
            mask.astype(bool).tofile(oov_file)
            for name in totals:
                totals[name] += getattr(part.counts, name)
    if not totals["oov"]:  # an all-False mask changes no metric; save the disk
        (folder / OOV_MASK).unlink()
    (folder / META).write_text(json.dumps({"format": FORMAT, "counts": totals}, indent=1))


def _publish(building: Path, folder: Path) -> None:
    """Rename the finished folder into place, replacing a damaged one; when a concurrent
    run got there first with a good folder, that one is kept (the files are the same)."""
    try:
        os.rename(building, folder)
    except OSError:
        if load_encoded(folder, folder.name) is not None:
            return
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(building, folder)
