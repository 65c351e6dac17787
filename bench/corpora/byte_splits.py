"""A corpus cut out of one file by byte offsets: enwik8 and text8 (90M / 5M / 5M bytes).

The standard splits of these files are byte ranges, not lines. A byte offset can fall
inside a multi-byte UTF-8 character (enwik8 is UTF-8 XML; text8 is plain ASCII, where
nothing moves), so each cut moves forward past continuation bytes to the next character's
start: no character is split, and no byte is lost or counted twice. A file that ends
inside a character (enwik8 is the first 10^8 bytes of a dump) ends before that character.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.corpora.text import check_counts, decode_lines
from bench.errors import BenchError


def character_start(data: bytes, offset: int) -> int:
    """``offset``, moved forward past UTF-8 continuation bytes (``0b10xxxxxx``)."""
    while offset < len(data) and 0x80 <= data[offset] < 0xC0:
        offset += 1
    return offset


def whole_characters_end(data: bytes) -> int:
    """The length of ``data`` less a last UTF-8 character it cuts short (if any)."""
    lead = len(data) - 1
    while lead >= 0 and len(data) - lead < 4 and 0x80 <= data[lead] < 0xC0:
        lead -= 1
    if lead < 0 or data[lead] < 0xC0:
        return len(data)
    needed = 2 if data[lead] < 0xE0 else 3 if data[lead] < 0xF0 else 4
    return lead if len(data) - lead < needed else len(data)


def cut_byte_splits(
    name: str,
    byte_splits: Mapping[str, tuple[int, int]],
    data: bytes,
    label: str,
    expected_tokens: Mapping[str, int],
) -> dict[str, list[str]]:
    """The lines of each split of ``data`` (the corpus's one file) by its byte ranges."""
    splits: dict[str, list[str]] = {}
    for split, (start, end) in byte_splits.items():
        if not 0 <= start < end <= len(data):
            raise BenchError(
                f"corpus {name!r}: split {split} covers bytes {start:,}-{end:,} but the "
                f"file has {len(data):,} bytes; this is not the expected version of the file"
            )
        first = character_start(data, start)
        last = whole_characters_end(data) if end == len(data) else character_start(data, end)
        splits[split] = decode_lines(data[first:last], f"{label} (bytes {first:,}-{last:,})")
        if split in expected_tokens:
            check_counts(f"{name} {split}", splits[split], None, expected_tokens[split])
    return splits
