"""One text file as a corpus: the fixed rule that cuts its lines into train, valid and test.

The rule looks at each line's number only, never at the text or at how many lines follow,
so the same file always gives the same splits, and a reader that streams a file too big
for memory can apply it line by line. Of every :data:`SPLIT_EVERY` lines, the next to last
goes to valid and the last to test: 90% / 5% / 5%, spread evenly over the file, so a sorted
list (names A to Z) or a story does not leave valid and test with only its end.
"""

from __future__ import annotations

from collections.abc import Iterable

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
        found = sum(len(part) for part in splits.values())
        raise BenchError(
            f"{label}: too short to split ({found} lines); a single-file corpus needs at "
            f"least {SPLIT_EVERY} lines (one in {SPLIT_EVERY} is test, one valid)"
        )
    return splits


def lines_sha256(lines: Iterable[str]) -> str:
    """sha256 of the lines written as a file (each followed by "\\n"): a split written
    out as ``valid.txt`` has this checksum, so it can be checked with ``sha256sum``."""
    return sha256_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
