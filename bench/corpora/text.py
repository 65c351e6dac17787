"""Text and checksums: the one line rule, decoding, token counts and sha256 helpers.

Every file is turned into lines by one rule, :func:`split_lines`, so token counts are the
same whichever way the text arrived (embedded, downloaded or a local folder).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from bench.corpora.spec import SplitFile
from bench.errors import BenchError

CHUNK = 1 << 20  # bytes per read while downloading, hashing and extracting


# --------------------------------------------------------------------------- lines


def split_lines(text: str) -> list[str]:
    """Split decoded text into lines, by the one rule every corpus goes through.

    Split on "\\n"; strip one trailing "\\r" per line (CRLF files give the same lines);
    drop the final fragment after the last "\\n" when it is whitespace-only: "" for a file
    ending in a newline, " " for the ptb-char files, which end in "\\n ". A blank line in
    the middle stays: it is a line with zero words and still gets its end-of-sentence.
    A leading UTF-8 byte-order mark is dropped so it cannot glue itself to the first word.
    """
    return split_block_lines(text.removeprefix("\ufeff"))


def split_block_lines(text: str) -> list[str]:
    """:func:`split_lines` of a block of a file that is not its start (no byte-order mark
    is dropped). A file cut into blocks just after newlines gives, block after block,
    exactly the lines of the whole file: each block's last fragment is then "" (dropped)."""
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return lines


def decode_lines(data: bytes, label: str) -> list[str]:
    """Decode a file's bytes as UTF-8 text and split them with :func:`split_lines`.

    Raises BenchError naming ``label`` for binary data (NUL bytes), bytes that are not
    UTF-8, and text that is empty or only whitespace, since any of those would otherwise
    surface much later as a baffling tokenizer or perplexity error.
    """
    text = decode_text(data, label)
    if not text.strip():
        raise BenchError(empty_split_message(label))
    return split_lines(text)


def decode_text(data: bytes, label: str, offset: int = 0) -> str:
    """``data`` (the bytes of ``label`` from byte ``offset`` on) decoded as UTF-8; NUL
    bytes or bytes that are not UTF-8 are a BenchError naming the file and offset."""
    if b"\x00" in data:
        raise BenchError(f"{label}: not a text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BenchError(
            f"{label}: not a text file (not UTF-8: byte 0x{data[error.start]:02x} "
            f"at offset {offset + error.start})"
        ) from None


def empty_split_message(label: str) -> str:
    return f"{label}: split is empty (no text in the file)"


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 text file, by the rule of :func:`split_lines`.

    Raises BenchError with the path for a missing file, a directory, an empty (or
    whitespace-only) file and a file that is not UTF-8 text.
    """
    return decode_lines(read_file(Path(path)), str(path))


def count_tokens(lines: Iterable[str]) -> int:
    """Whitespace tokens plus one end-of-sentence per line (the published convention)."""
    total = 0
    for line in lines:
        total += len(line.split()) + 1
    return total


def check_counts(
    label: str, lines: list[str], want_lines: int | None, want_tokens: int | None
) -> None:
    """Fail when a file's line or token count differs from the recorded one (if any)."""
    found_tokens = count_tokens(lines) if want_tokens is not None else None
    check_totals(label, len(lines), found_tokens, want_lines, want_tokens)


def check_totals(
    label: str,
    found_lines: int,
    found_tokens: int | None,
    want_lines: int | None,
    want_tokens: int | None,
) -> None:
    """:func:`check_counts` of counts summed over a file read in blocks."""
    if want_lines is not None and found_lines != want_lines:
        raise BenchError(
            f"{label}: expected {want_lines:,} lines, found {found_lines:,}; "
            "this is not the expected version of the file"
        )
    if want_tokens is not None and found_tokens != want_tokens:
        raise BenchError(
            f"{label}: expected {want_tokens:,} tokens (whitespace tokens + one per "
            f"line), found {found_tokens:,}; this is not the expected version of the file"
        )


def read_file(path: Path) -> bytes:
    """The bytes of a file; a folder, a missing or an unreadable file is a BenchError naming it."""
    if path.is_dir():
        raise BenchError(f"{path}: is a folder, not a text file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BenchError(f"{path}: no such file") from None
    except OSError as error:
        raise BenchError(f"{path}: cannot read it ({error.strerror or error})") from None


# --------------------------------------------------------------------------- checksums


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in chunks so multi-gigabyte shards need no memory."""
    return file_digest(path, "sha256")


def file_digest(path: Path, kind: str) -> str:
    """The ``kind`` checksum of a file (sha256, sha1, md5, or git-blob: git's blob id),
    read in chunks."""
    if kind == "git-blob":
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode("ascii"))
    else:
        digest = hashlib.new(kind)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(corpus: str, split_file: SplitFile, label: str, digest: str) -> bool:
    """Whether ``digest`` is verified: True when it matches the recorded checksum, False
    when none is recorded; a mismatch raises, since a silently different file would make
    every perplexity incomparable."""
    if split_file.sha256 is None:
        return False
    if digest != split_file.sha256:
        raise BenchError(
            f"{label}: checksum mismatch for corpus {corpus!r}: expected sha256 "
            f"{split_file.sha256}, got {digest}. Run `bench corpora fetch {corpus}` "
            "to download it again."
        )
    return True


def combine_sha256(digests: Iterable[str]) -> str:
    """One checksum for a sharded split: sha256 of each shard's hex digest plus "\\n", in order.

    A single-file split keeps its own file checksum instead, so it can be compared with
    ``sha256sum`` output directly.
    """
    return sha256_bytes("".join(f"{digest}\n" for digest in digests).encode("ascii"))
