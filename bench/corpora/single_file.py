"""One text file as a corpus: the fixed rule that cuts its lines into train, valid and test.

The rule looks at each line's number only, never at the text or at how many lines follow,
so the same file always gives the same splits, and a reader that streams a file too big
for memory can apply it line by line: :func:`scan_single_file` does, keeping only valid and
test in memory. Of every :data:`SPLIT_EVERY` lines, the next to last
goes to valid and the last to test: 90% / 5% / 5%, spread evenly over the file, so a sorted
list (names A to Z) or a story does not leave valid and test with only its end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.corpora.blocks import line_blocks
from bench.corpora.spec import SPLITS
from bench.corpora.text import sha256_bytes
from bench.errors import BenchError

SPLIT_EVERY = 20


def split_of_line(index: int) -> str:
    """The split of the line at 0-based ``index``."""
    position = index % SPLIT_EVERY
    if position == SPLIT_EVERY - 2:
        return "valid"
    if position == SPLIT_EVERY - 1:
        return "test"
    return "train"


def split_single_file(lines: Iterable[str], label: str) -> dict[str, list[str]]:
    """The lines of one file cut into train/valid/test by :func:`split_of_line`.

    A file of fewer than :data:`SPLIT_EVERY` lines is refused: its test split would be empty.
    """
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    for index, line in enumerate(lines):
        splits[split_of_line(index)].append(line)
    if not splits["test"]:
        raise _too_short(label, sum(len(part) for part in splits.values()))
    return splits


def _too_short(label: str, found: int) -> BenchError:
    return BenchError(
        f"{label}: too short to split ({found} lines); a single-file corpus needs at "
        f"least {SPLIT_EVERY} lines (one in {SPLIT_EVERY} is test, one valid)"
    )


@dataclass(frozen=True)
class SingleFileScan:
    """What one pass over a text file finds: its checksum and line counts, the train
    split's checksum (as :func:`lines_sha256` gives it) and the valid and test lines."""

    file_sha256: str
    lines: int
    train_lines: int
    train_sha256: str
    valid: list[str]
    test: list[str]


def scan_single_file(path: Path, label: str) -> SingleFileScan:
    """Read ``path`` once, in blocks: keep its valid and test lines (a tenth of the file),
    checksum the rest as the train split, which is read again from the file when used."""
    file_digest, train_digest = hashlib.sha256(), hashlib.sha256()
    held: dict[str, list[str]] = {"valid": [], "test": []}
    index = train_lines = 0
    for lines in line_blocks(path, label, file_digest):
        train: list[str] = []
        for line in lines:
            split = split_of_line(index)
            (train if split == "train" else held[split]).append(line)
            index += 1
        train_lines += len(train)
        train_digest.update("".join(f"{line}\n" for line in train).encode("utf-8"))
    if not held["test"]:
        raise _too_short(label, index)
    return SingleFileScan(
        file_sha256=file_digest.hexdigest(),
        lines=index,
        train_lines=train_lines,
        train_sha256=train_digest.hexdigest(),
        valid=held["valid"],
        test=held["test"],
    )


def lines_sha256(lines: Iterable[str]) -> str:
    """sha256 of the lines written as a file (each followed by "\\n"): a split written
    out as ``valid.txt`` has this checksum, so it can be checked with ``sha256sum``."""
    return sha256_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
