"""A corpus cut out of one file by byte offsets: enwik8 and text8 (90M / 5M / 5M bytes).

The standard splits of these files are byte ranges, not lines. A byte offset can fall
inside a multi-byte UTF-8 character (enwik8 is UTF-8 XML; text8 is plain ASCII, where
nothing moves), so each cut moves forward past continuation bytes to the next character's
start: no character is split, and no byte is lost or counted twice. A file that ends
inside a character (enwik8 is the first 10^8 bytes of a dump) ends before that character.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from bench.corpora.blocks import line_pieces
from bench.corpora.shards import Shard, ShardedLines
from bench.corpora.text import check_counts, decode_lines
from bench.errors import BenchError

LineTokens = Callable[[str], int]  # the tokens of one line, its end-of-line token included


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


def split_spans(
    name: str, byte_splits: Mapping[str, tuple[int, int]], path: Path
) -> dict[str, tuple[int, int]]:
    """Each split's bytes of ``path`` (the corpus's one file): its byte range with both
    ends moved to whole characters, reading only a few bytes at each end."""
    size = path.stat().st_size
    spans: dict[str, tuple[int, int]] = {}
    with path.open("rb") as handle:

        def at(offset: int, count: int) -> bytes:
            handle.seek(offset)
            return handle.read(count)

        for split, (start, end) in byte_splits.items():
            if not 0 <= start < end <= size:
                raise BenchError(
                    f"corpus {name!r}: split {split} covers bytes {start:,}-{end:,} but the "
                    f"file has {size:,} bytes; this is not the expected version of the file"
                )
            first = start + character_start(at(start, 4), 0)
            if end == size:
                tail = max(0, size - 8)
                last = tail + whole_characters_end(at(tail, size - tail))
            else:
                last = end + character_start(at(end, 4), 0)
            spans[split] = (first, last)
    return spans


def load_byte_splits(
    name: str,
    byte_splits: Mapping[str, tuple[int, int]],
    path: Path,
    expected_tokens: Mapping[str, int],
) -> dict[str, list[str] | ShardedLines]:
    """The splits of ``path`` by ``byte_splits``: train left on disk as a
    :class:`ShardedLines` over its bytes (read in pieces when used, so memory does not
    grow with its size), valid and test read into memory (5 MB each in enwik8, text8)."""
    splits: dict[str, list[str] | ShardedLines] = {}
    for split, span in split_spans(name, byte_splits, path).items():
        label = f"{path} (bytes {span[0]:,}-{span[1]:,})"
        if split == "train":
            splits[split] = ShardedLines(
                [Shard(path, tokens=expected_tokens.get(split), span=span)]
            )
            continue
        lines = decode_lines(read_span(path, span), label)
        if split in expected_tokens:
            check_counts(f"{name} {split}", lines, None, expected_tokens[split])
        splits[split] = lines
    return splits


def split_tokens(
    name: str, byte_splits: Mapping[str, tuple[int, int]], path: Path, line_tokens: LineTokens
) -> dict[str, int]:
    """Tokens of each split (``line_tokens`` of each line), read in pieces: a line cut
    into pieces has one end-of-line token, not one per piece."""
    counts: dict[str, int] = {}
    for split, span in split_spans(name, byte_splits, path).items():
        pieces = line_pieces(path, f"{path} (bytes {span[0]:,}-{span[1]:,})", *span)
        counts[split] = sum(sum(map(line_tokens, lines)) - goes_on for lines, goes_on in pieces)
    return counts


def read_span(path: Path, span: tuple[int, int]) -> bytes:
    with path.open("rb") as handle:
        handle.seek(span[0])
        return handle.read(span[1] - span[0])
