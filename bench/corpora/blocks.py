"""A text file read in blocks of about :data:`BLOCK_BYTES`, each cut just after a newline.

A split read whole costs about 117 bytes per token as Python strings (a 20M-token
``train.txt`` of 157 MB took 2.35 GB), so a big split is never read whole: its bytes come
in blocks cut just after a ``"\\n"`` (a cut there never splits a UTF-8 character), and each
block becomes lines by the one line rule (:func:`bench.corpora.text.split_lines`), so the
lines of all blocks are exactly those of the whole file. Memory is one block plus its
lines, whatever the file's size; only a single line longer than a block is held whole.

A byte range of a file (a split of enwik8 or text8, cut by byte offsets) is read in
*pieces* instead (:func:`line_pieces`): blocks cut after a newline where the block has
one, else just after its last space, so a line longer than a block (text8 is one line of
10^8 characters) comes as several pieces, each flagged when its last line goes on in the
next piece. A space is one byte that never sits inside a UTF-8 character or a word, so
the words and characters of the pieces are those of the whole line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from bench.corpora.text import (
    decode_text,
    empty_split_message,
    split_block_lines,
    split_lines,
)
from bench.errors import BenchError

BLOCK_BYTES = 4 << 20  # ~4 MB of text: ~0.5M words, a few tens of MB once tokenized


@contextmanager
def open_text_file(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading; a folder, a missing or unreadable file is a BenchError."""
    if path.is_dir():
        raise BenchError(f"{path}: is a folder, not a text file")
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise BenchError(f"{path}: no such file") from None
    except OSError as error:
        raise BenchError(f"{path}: cannot read it ({error.strerror or error})") from None
    with handle:
        yield handle


def byte_blocks(path: Path) -> Iterator[bytes]:
    """The bytes of ``path`` in blocks of about :data:`BLOCK_BYTES` (at most twice that,
    unless one line is longer), each ending just after a newline (all but the last block,
    when the file does not end in one)."""
    with open_text_file(path) as handle:
        pending: list[bytes] = []  # pieces of a line longer than a block, joined once
        while chunk := handle.read(BLOCK_BYTES):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pending.append(chunk)
                continue
            yield b"".join([*pending, chunk[:cut]])
            pending = [chunk[cut:]] if cut < len(chunk) else []
        if pending:
            yield b"".join(pending)


def byte_pieces(path: Path, start: int, end: int) -> Iterator[tuple[bytes, bool]]:
    """Bytes ``start`` to ``end`` of ``path`` in blocks of about :data:`BLOCK_BYTES`, each
    cut just after its last newline or, when it has none, just after its last space; the
    flag says the block ends inside a line (cut at a space), which goes on in the next."""
    with open_text_file(path) as handle:
        handle.seek(start)
        left = end - start
        pending: list[bytes] = []  # a stretch with neither newline nor space, joined once
        while left > 0 and (chunk := handle.read(min(BLOCK_BYTES, left))):
            left -= len(chunk)
            cut, inside = chunk.rfind(b"\n") + 1, False
            if cut == 0:
                cut, inside = chunk.rfind(b" ") + 1, True
            if cut == 0:
                pending.append(chunk)
                continue
            yield b"".join([*pending, chunk[:cut]]), inside and (left > 0 or cut < len(chunk))
            pending = [chunk[cut:]] if cut < len(chunk) else []
        if pending:
            yield b"".join(pending), False


def line_pieces(path: Path, label: str, start: int, end: int) -> Iterator[tuple[list[str], bool]]:
    """The lines of bytes ``start`` to ``end`` of ``path``, a piece at a time (see
    :func:`byte_pieces`), by the line rule; a line cut at a space is the last line of its
    piece, flagged, and goes on as the first line of the next."""
    offset, going_on = start, False
    for block, inside in byte_pieces(path, start, end):
        text = decode_text(block, label, offset)
        if offset == 0:
            text = text.removeprefix("\ufeff")  # as split_lines does at a file's start
        # a piece cut inside a line keeps its last fragment, even one of spaces only, and
        # so does the last piece of a line begun before it (that line has text)
        whole = inside or (going_on and "\n" not in text)
        yield split_block_lines(text + "\n" if whole else text), inside
        offset, going_on = offset + len(block), inside


def line_blocks(path: Path, label: str, digest: Any = None) -> Iterator[list[str]]:
    """The lines of ``path``, a block at a time: together exactly
    ``decode_lines(path.read_bytes(), label)``, with the same errors (NUL bytes, not
    UTF-8, no text at all), raised when the block holding the problem is read.
    ``digest`` (a hashlib object), when given, is fed the file's bytes on the way."""
    offset = 0
    has_text = False
    for block in byte_blocks(path):
        if digest is not None:
            digest.update(block)
        text = decode_text(block, label, offset)
        has_text = has_text or bool(text.strip())
        yield split_lines(text) if offset == 0 else split_block_lines(text)
        offset += len(block)
    if not has_text:
        raise BenchError(empty_split_message(label))


def checked_sha256(path: Path, label: str) -> str:
    """sha256 of ``path``, read a block at a time, checking on the way that it is text
    (UTF-8, no NUL bytes, not only whitespace): a bad file is refused when the corpus is
    loaded, as it would be if it were read whole, not halfway through fitting."""
    digest = hashlib.sha256()
    offset = 0
    has_text = False
    for block in byte_blocks(path):
        digest.update(block)
        text = decode_text(block, label, offset)  # every block: it refuses what is not text
        has_text = has_text or bool(text.strip())
        offset += len(block)
    if not has_text:
        raise BenchError(empty_split_message(label))
    return digest.hexdigest()


def tail_lines(
    path: Path, label: str, max_bytes: int, start: int = 0, end: int | None = None
) -> list[str]:
    """The whole lines among the last ``max_bytes`` bytes of ``path`` (by the line rule):
    all its lines when the file is no longer than that. With ``end``, the lines of bytes
    ``start`` to ``end`` instead, the first one possibly a piece (cut after a space) when
    the last ``max_bytes`` hold no newline (text8 has none)."""
    with open_text_file(path) as handle:
        size = handle.seek(0, 2) if end is None else end
        first = max(start, size - max_bytes)
        handle.seek(first)
        data = handle.read(size - first)
    if first == start:
        text = decode_text(data, label, first)
        return split_lines(text) if start == 0 else split_block_lines(text)
    cut = data.find(b"\n")  # drop the line the cut fell into (maybe mid-character)
    if cut < 0 and end is not None:
        cut = data.find(b" ")
    if cut < 0:
        return []
    return split_block_lines(decode_text(data[cut + 1 :], label, first))
