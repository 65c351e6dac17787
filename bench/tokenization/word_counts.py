"""Count the words of a train split in bounded memory, and choose the vocabulary.

A ``Counter`` of every distinct word costs ~120 bytes per word type (the string, its
count and the dict slot): a text with 20M distinct tokens (a big web crawl, or text full
of numbers and URLs) needs ~2.4 GB just to count. Here at most :data:`SPILL_TYPES` types
are counted in memory; beyond that the counts so far are written to a sorted run file in
a temporary folder, and the runs are merged at the end, one line of each at a time. The
counts, and so the vocabulary, are exactly those of one ``Counter``.

What stays in memory after counting is the vocabulary itself: every type seen at least
``min_count`` times, or, with ``max_size``, a heap of the ``max_size`` most frequent ones.
So ``min_count`` (most types of a big text occur once or twice) and ``max_size`` bound the
memory of fitting, not only the size of the model.
"""

from __future__ import annotations

import heapq
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

import numpy as np

SPILL_TYPES = 1_000_000  # distinct words counted in memory (~120 MB) before spilling


def choose_vocabulary(
    lines: Iterable[str],
    min_count: int,
    max_size: int | None,
    leave_out: tuple[str, ...],
    spill_dir: Path,
) -> list[str]:
    """The words of ``lines`` seen at least ``min_count`` times, by descending count (ties
    by the word), at most ``max_size`` of them; ``leave_out`` words are never counted."""
    with tempfile.TemporaryDirectory(dir=_existing(spill_dir), prefix=".word-counts-") as temp:
        counted = _count_in_runs(lines, Path(temp))
        # in word order either way: a stable sort by count then breaks ties by the word
        pairs = sorted(counted.items()) if isinstance(counted, Counter) else _merged(counted)
        kept = (
            (word, count) for word, count in pairs if count >= min_count and word not in leave_out
        )
        if max_size is not None:  # a heap of max_size pairs, however many words pass
            chosen = heapq.nsmallest(max_size, kept, key=lambda pair: (-pair[1], pair[0]))
            return [word for word, _ in chosen]
        words: list[str] = []
        counts = array("q")  # 8 bytes a word, not a (word, count) tuple's ~70
        for word, count in kept:
            words.append(word)
            counts.append(count)
    order = np.argsort(-np.frombuffer(counts, dtype=np.int64), kind="stable")
    return [words[i] for i in order]


def _existing(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _count_in_runs(lines: Iterable[str], temp: Path) -> Counter[str] | list[Path]:
    """The counts as one Counter when they fit, else as sorted run files on disk."""
    runs: list[Path] = []
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(line.split())
        if len(counts) > SPILL_TYPES:
            runs.append(_write_run(counts, temp / f"run-{len(runs)}.tsv"))
            counts = Counter()
    if not runs:
        return counts
    runs.append(_write_run(counts, temp / f"run-{len(runs)}.tsv"))
    return runs


def _write_run(counts: Counter[str], path: Path) -> Path:
    """``word<TAB>count`` lines sorted by word: a whitespace word holds no tab or newline."""
    with path.open("w", encoding="utf-8", errors="surrogatepass") as handle:
        handle.writelines(f"{word}\t{counts[word]}\n" for word in sorted(counts))
    return path


def _read_run(path: Path) -> Iterator[tuple[str, int]]:
    with path.open(encoding="utf-8", errors="surrogatepass", newline="\n") as handle:
        for line in handle:
            word, count = line[:-1].rsplit("\t", 1)
            yield word, int(count)


def _merged(runs: list[Path]) -> Iterator[tuple[str, int]]:
    """Each word once, with its counts summed over all runs, in word order."""
    streams = [_read_run(run) for run in runs]
    for word, group in groupby(heapq.merge(*streams), key=lambda pair: pair[0]):
        yield word, sum(count for _, count in group)
