"""Kneser-Ney estimation within a memory budget: sorted runs on disk, streaming passes.

The in-memory estimator (:mod:`bench_plugins.kn.in_memory`) holds one array entry per
token position and per n-gram at once: ~130 bytes per token at order 5, so about 100 GB
for One Billion Word. This module computes the very same tables (the same n-gram
numbering, the same float operations in the same order, so every probability and
backoff is equal) while holding at most ``budget`` bytes of working arrays, as KenLM's
``lmplz -S`` does.

The passes (each one's name and time is reported to ``on_pass``):

``sequence``
    The train ids are read a block of lines at a time (a streamed split is a memory map
    of the encoded shards; it is read with ``read()``, never mapped into the resident
    set), ``<s>`` is put before each line, and the result is written to one int32 file;
    unigram counts are summed on the way.
``count_k`` (k = 2 .. order)
    The positions are cut into fixed blocks of ``B`` positions (``B`` from the budget).
    For each block, the k-gram key of every position (id of the (k-1)-gram ending one
    position earlier * base + word, as in memory) is computed, and the block's distinct
    keys with their counts and suffix ids are written out as one *sorted run*; each
    position's index into its run is written too. The (k-1)-gram ids a block needs come
    from the previous order's run index and map, so no per-position id file is kept.
``merge_k``
    The runs are merged into the global sorted table of k-grams (key, raw count, suffix
    id), streamed to disk; the merge also writes, for each run, the global id of each of
    its entries (the *map* the next order's count pass reads). Global ids are ranks in
    key order, exactly the in-memory numbering. Vectorised k-way merge: read a chunk of
    every run, take everything up to the smallest last key among the chunks, sort that
    (timsort on a concatenation of sorted pieces), aggregate, repeat.
``adjust_k``
    Adjusted counts: raw for the top order and for n-grams starting with ``<s>`` (a range
    of the highest ids at every order, so a threshold), otherwise the number of distinct
    left extensions, a ``bincount`` of the order above's suffix ids. When the counters do
    not fit in the budget, it is done in several passes over id ranges.
    Count-of-counts are summed on the way; discounts are computed as in memory.
``interpolate_k``
    One pass over the k-grams in key order. Their contexts (the key's prefix id) come in
    ascending order, so each context's total and discounted mass are sums over a
    contiguous group: gamma, the interpolated probability, and the backoffs of the order
    below (written in id order) are produced group by group. The lower order's
    probability of each k-gram's suffix is a gather from the order below's table: at
    once when that table fits in the budget, else in passes over id ranges.

The result is a list of :class:`~bench_plugins.kn.in_memory.OrderTable` whose arrays are
read-only memory maps of files in the temporary folder. Bulk readers never touch them
through the map: scoring (:func:`score_on_disk`) sorts its lookups and reads the tables
in order, a chunk at a time, and the ARPA writer reads them in chunks.

Why numpy and sorted runs rather than DuckDB. ``benchmarks/kn_counting_duckdb.py``
counts the trigrams of 10M Zipfian tokens both ways on this project's 2-core machine
(shared with other jobs, load 11-13): numpy's sort-and-diff on one core 5.9 s, DuckDB's
``GROUP BY`` on both cores 6.3 s (1.06x), 8.9 s (1.50x) with the ``ORDER BY`` that the
later passes need (on a quieter moment, load 1.6: 0.73 s, 0.99 s and 1.57 s). Beyond
counting, DuckDB would need large joins (each n-gram's suffix probability), whose memory
use is harder to bound than a numpy block sized by hand, and its floating-point sums
would have to be arranged to reproduce the in-memory model to 1e-9. The n-gram numbering
here (dense ranks) also lets every pass except two gathers read its inputs in order,
which is what makes a disk-based estimator fast.

Memory accounting. ``budget`` bounds the arrays this module allocates: counting blocks
use about :data:`BYTES_PER_POSITION` per position, the merge about
:data:`BYTES_PER_MERGE_ITEM` per buffered run entry, the streaming passes about
:data:`BYTES_PER_STREAM_ITEM` per n-gram of a chunk. What the process held before
(interpreter, libraries, the vocabulary, the core's copy of small splits) comes on top.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from bench import BenchError, interrupts
from bench_plugins.kn.in_memory import (
    NO_BACKOFF,
    Discounts,
    OrderTable,
    _Counts,
    _unigram_table,
    _unique,
    compute_discounts,
    index_dtype,
    score_sequence,
    with_sentence_starts,
)
from bench_plugins.kn.scratch import (
    DiskArray,
    TempSpace,
    format_size,
    read_range,
)

# Working bytes per item of each pass, measured (peak RSS above the process's base, per
# pass, at 256 MB to 4 GB budgets) and rounded up.
BYTES_PER_POSITION = 80  # counting: ids, words, keys, the sort's packed keys and order, ...
BYTES_PER_MERGE_ITEM = 160  # merge: 3 buffered columns, their concatenation, sort, ids
BYTES_PER_STREAM_ITEM = 320  # interpolate: ~16 float64/int64 temporaries per n-gram of a
# chunk (half the budget), beside a lower-order table held whole (a quarter)
BYTES_PER_COUNTER = 96  # adjust: counters, the bincount, raw counts, the result, masks
MIN_BLOCK = 1 << 16  # positions per counting block below which runs get too many
MIN_MERGE_CHUNK = 1 << 12  # run entries read at a time by the merge
PAGE_KEYS = 512  # keys per sample taken for scoring (one 4 KB page of int64)
BYTES_PER_SCORED_KEY = 32  # scoring reads chunks of a quarter of the budget (int64)

Progress = Callable[..., Iterable[Any]]
OnPass = Callable[[str, float], None]


def _no_progress(iterable: Iterable[Any], **_: Any) -> Iterable[Any]:
    return iterable


@dataclass(frozen=True)
class Plan:
    """How a budget is spent on a train split of ``positions`` (tokens plus one ``<s>``
    per line)."""

    budget: int
    positions: int
    vocab_positions: int  # unigram table entries (vocabulary + <s>)

    @property
    def block(self) -> int:
        """Positions per counting block."""
        return max(1, self.budget // BYTES_PER_POSITION)

    @property
    def runs(self) -> int:
        return max(1, math.ceil(self.positions / self.block))

    @property
    def merge_chunk(self) -> int:
        """Entries read from each run at a time while merging."""
        return self.budget // (BYTES_PER_MERGE_ITEM * self.runs)

    @property
    def stream_chunk(self) -> int:
        """n-grams per chunk of the streaming passes."""
        return max(1, self.budget // BYTES_PER_STREAM_ITEM)

    @property
    def table_items(self) -> int:
        """float64 entries of a lower-order table held whole while interpolating."""
        return max(1, self.budget // 4 // 8)

    @property
    def counter_items(self) -> int:
        """Extension counters held at once while adjusting counts."""
        return max(1, self.budget // BYTES_PER_COUNTER)

    def minimum_budget(self) -> int:
        """The least budget for which :meth:`check` passes, for this split."""
        low, high = 1 << 20, 1 << 50
        while low < high:  # the conditions are monotone in the budget
            middle = (low + high) // 2
            if Plan(middle, self.positions, self.vocab_positions).problem() is None:
                high = middle
            else:
                low = middle + 1
        return low

    def problem(self) -> str | None:
        if self.block < min(MIN_BLOCK, self.positions):
            return f"counting blocks of {self.block:,} positions (at least {MIN_BLOCK:,})"
        if self.runs > 1 and self.merge_chunk < MIN_MERGE_CHUNK:
            return (
                f"a merge of {self.runs:,} sorted runs reading {self.merge_chunk:,} "
                f"entries of each at a time (at least {MIN_MERGE_CHUNK:,})"
            )
        if self.vocab_positions * BYTES_PER_STREAM_ITEM > self.budget:
            return f"the unigram table of {self.vocab_positions:,} words"
        return None

    def check(self, order: int) -> None:
        problem = self.problem()
        if problem:
            need = self.minimum_budget()
            raise BenchError(
                f"memory={format_size(self.budget)} is too small to estimate a {order}-gram "
                f"model from {self.positions:,} token positions: it allows only {problem}. "
                f"Give at least --set memory={math.ceil(need / 2**20)}M."
            )


def estimate_budgeted(
    ids: np.ndarray,
    line_offsets: np.ndarray,
    order: int,
    bos: int,
    budget: int,
    space: TempSpace,
    fallback: tuple[float, float, float] | None = None,
    progress: Progress = _no_progress,
    on_pass: OnPass | None = None,
) -> list[OrderTable]:
    """The tables :func:`~bench_plugins.kn.in_memory.estimate` gives, within ``budget`` bytes.

    ``ids`` and ``line_offsets`` are a tokenized train split (each line ends with
    end-of-sentence; ids may be a memory map); ``bos`` is the id of ``<s>`` (one past the
    vocabulary). Scratch files and the returned tables live in ``space``.
    """
    if order < 1:
        raise BenchError(f"the n-gram order must be at least 1, got {order}")
    plan = Plan(budget, len(ids) + len(line_offsets) - 1, bos + 1)
    plan.check(order)
    return _Estimator(
        ids,
        line_offsets,
        order,
        bos,
        plan,
        space,
        fallback,
        progress,
        on_pass or (lambda name, seconds: None),
    ).run()


@dataclass
class _Level:
    """One order's files while estimating."""

    keys: DiskArray
    raw: DiskArray
    suffix: DiskArray | None  # id of the (k-1)-gram ending each k-gram (k >= 2)
    bos_start: int  # n-grams with ids from here on start with <s>
    run_index: list[DiskArray] | None = None  # per block: each position's run entry
    run_map: list[DiskArray] | None = None  # per block: global id of each run entry
    adjusted: DiskArray | None = None

    def __len__(self) -> int:
        return len(self.keys)


class _Estimator:
    def __init__(
        self,
        ids: np.ndarray,
        line_offsets: np.ndarray,
        order: int,
        bos: int,
        plan: Plan,
        space: TempSpace,
        fallback: tuple[float, float, float] | None,
        progress: Progress,
        on_pass: OnPass,
    ) -> None:
        self.ids, self.line_offsets = ids, line_offsets
        self.order, self.bos, self.base = order, bos, bos + 1
        self.plan, self.space, self.fallback = plan, space, fallback
        self.progress, self.on_pass = progress, on_pass
        self.id_dtype = index_dtype(plan.positions + 1)  # any order's ids fit

    def run(self) -> list[OrderTable]:
        seq = self._timed("sequence", self._write_sequence)
        levels = [self._unigram_level(seq)]
        for k in range(2, self.order + 1):
            levels.append(self._count(k, seq, levels[-1]))
        seq.delete()
        for k in range(1, self.order + 1):
            upper = levels[k] if k < self.order else None
            self._timed(
                f"adjust_{k}", lambda k=k, upper=upper: self._adjust(k, levels[k - 1], upper)
            )
        discounts = [
            compute_discounts(k, self._count_of_counts(level), self.fallback)
            for k, level in enumerate(levels, start=1)
        ]
        tables = [self._unigram_table(levels[0], discounts[0])]
        for k in range(2, self.order + 1):
            tables.append(
                self._timed(
                    f"interpolate_{k}",
                    lambda k=k: self._interpolate(levels[k - 1], discounts[k - 1], tables[-1], k),
                )
            )
        return tables

    # ---------------------------------------------------------------- utilities
    def _timed(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        self.space.measure()
        self.on_pass(name, time.perf_counter() - started)
        return result

    def _array(self, name: str, dtype: Any) -> DiskArray:
        return DiskArray(self.space.file(name), dtype)

    def _blocks(self, desc: str) -> Iterator[tuple[int, int, int]]:
        """``(block number, start, stop)`` of the counting blocks."""
        block = self.plan.block
        starts = range(0, self.plan.positions, block)
        for r, start in enumerate(
            self.progress(starts, total=len(starts), desc=desc, unit="block")
        ):
            interrupts.raise_if_requested()
            yield r, start, min(start + block, self.plan.positions)

    def _stream(self, arrays: list[DiskArray], desc: str) -> Iterator[list[np.ndarray]]:
        """Aligned chunks of several arrays of one length."""
        chunk = self.plan.stream_chunk
        starts = range(0, len(arrays[0]), chunk)
        for start in self.progress(starts, total=len(starts), desc=desc, unit="chunk"):
            interrupts.raise_if_requested()
            yield [array.read(start, start + chunk) for array in arrays]

    # ---------------------------------------------------------------- sequence
    def _write_sequence(self) -> DiskArray:
        """``<s> w1 .. </s> <s> ...`` as int32 on disk, a block of lines at a time."""
        seq = self._array("sequence.i32", np.int32 if self.base < 2**31 else np.int64)
        offsets = self.line_offsets
        self.unigram_raw = np.zeros(self.base, dtype=np.int64)
        blocks = _line_blocks(offsets, max(1, self.plan.block // 2))
        for first, last in self.progress(
            blocks, total=len(blocks), desc="reading train", unit="block"
        ):
            interrupts.raise_if_requested()
            start, stop = int(offsets[first]), int(offsets[last])
            block_offsets = read_range(offsets, first, last + 1) - start
            block = with_sentence_starts(read_range(self.ids, start, stop), block_offsets, self.bos)
            self.unigram_raw += np.bincount(block, minlength=self.base)
            seq.append(block)
        return seq.finish()

    def _unigram_level(self, seq: DiskArray) -> _Level:
        keys = self._array("keys_1.i64", np.int64)
        keys.append(np.arange(self.base))
        raw = self._array("raw_1.i64", np.int64)
        raw.append(self.unigram_raw)
        return _Level(keys.finish(), raw.finish(), None, bos_start=self.bos)

    # ---------------------------------------------------------------- counting
    def _count(self, k: int, seq: DiskArray, lower: _Level) -> _Level:
        """Sorted runs of k-grams per block (``count_k``), merged (``merge_k``)."""
        started = time.perf_counter()
        runs: list[tuple[DiskArray, DiskArray, DiskArray]] = []
        run_index: list[DiskArray] = []
        keep_index = k < self.order  # the top order's ids are never needed
        carry = -1  # id of the (k-1)-gram ending just before the block
        n_lower = len(lower)
        for r, start, stop in self._blocks(f"counting {k}-grams"):
            lower_ids = self._lower_ids(k, seq, lower, r, start, stop)
            prev = np.concatenate([np.array([carry], dtype=lower_ids.dtype), lower_ids])
            carry = int(lower_ids[-1])
            word = seq.read(start, stop)
            valid = (prev[:-1] >= 0) & (word != self.bos)
            keys = prev[:-1][valid].astype(np.int64)
            keys *= self.base
            keys += word[valid]
            del word
            uniq, inverse, counts = _unique(keys, n_lower * self.base, np.int32)
            del keys
            suffix = np.empty(len(uniq), dtype=lower_ids.dtype)
            suffix[inverse] = prev[1:][valid]
            del prev
            run = (
                self._array(f"run_{k}_{r}.keys", np.int64),
                self._array(f"run_{k}_{r}.counts", np.int64),
                self._array(f"run_{k}_{r}.suffix", self.id_dtype),
            )
            for array, values in zip(run, (uniq, counts, suffix), strict=True):
                array.append(values)
                array.finish()
            runs.append(run)
            del uniq, counts, suffix
            if keep_index:
                index = np.full(stop - start, -1, dtype=np.int32)
                index[valid] = inverse
                run_index.append(self._array(f"index_{k}_{r}.i32", np.int32))
                run_index[-1].append(index)
                run_index[-1].finish()
            del inverse, valid
        self.space.measure()
        self.on_pass(f"count_{k}", time.perf_counter() - started)
        # the (k-1)-gram ids are not needed any more: the merge makes the k-gram ones
        for array in (lower.run_index or []) + (lower.run_map or []):
            array.delete()
        lower.run_index = lower.run_map = None
        level = self._timed(f"merge_{k}", lambda: self._merge(k, runs, lower.bos_start))
        level.run_index = run_index if keep_index else None
        if not keep_index:
            for array in level.run_map or []:
                array.delete()
            level.run_map = None
        return level

    def _lower_ids(
        self, k: int, seq: DiskArray, lower: _Level, r: int, start: int, stop: int
    ) -> np.ndarray:
        """Id of the (k-1)-gram ending at each position of the block (-1: none)."""
        if k == 2:
            return seq.read(start, stop)  # a unigram's id is its word
        assert lower.run_index is not None and lower.run_map is not None
        index = lower.run_index[r].read(0, stop - start)
        mapping = lower.run_map[r].read(0, len(lower.run_map[r]))
        ids = np.full(len(index), -1, dtype=self.id_dtype)
        found = index >= 0
        ids[found] = mapping[index[found]]
        return ids

    def _merge(
        self, k: int, runs: list[tuple[DiskArray, DiskArray, DiskArray]], lower_bos_start: int
    ) -> _Level:
        keys_out = self._array(f"keys_{k}.i64", np.int64)
        raw_out = self._array(f"raw_{k}.i64", np.int64)
        suffix_out = self._array(f"suffix_{k}", self.id_dtype)
        maps = [self._array(f"map_{k}_{r}", self.id_dtype) for r in range(len(runs))]
        chunk = max(self.plan.merge_chunk, MIN_MERGE_CHUNK)
        lengths = [len(run[0]) for run in runs]
        loaded = [0] * len(runs)
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, self.id_dtype))
        buffers = [empty] * len(runs)
        next_id = 0
        bos_bound = lower_bos_start * self.base  # keys from here on start with <s>
        bos_start = None
        steps = self.progress(itertools.count(), desc=f"merging {k}-grams", unit="step")
        for _ in steps:
            interrupts.raise_if_requested()
            for r, run in enumerate(runs):
                if len(buffers[r][0]) == 0 and loaded[r] < lengths[r]:
                    buffers[r] = tuple(a.read(loaded[r], loaded[r] + chunk) for a in run)
                    loaded[r] += len(buffers[r][0])
            live = [r for r in range(len(runs)) if len(buffers[r][0])]
            if not live:
                break
            # everything up to the smallest last key of a run not wholly read is final
            limits = [int(buffers[r][0][-1]) for r in live if loaded[r] < lengths[r]]
            taken: list[tuple[int, int]] = []
            pieces: list[tuple[np.ndarray, ...]] = []
            for r in live:
                keys = buffers[r][0]
                m = len(keys) if not limits else int(np.searchsorted(keys, min(limits), "right"))
                if m:
                    taken.append((r, m))
                    pieces.append(tuple(column[:m] for column in buffers[r]))
                    buffers[r] = tuple(column[m:] for column in buffers[r])
            keys = np.concatenate([p[0] for p in pieces])
            counts = np.concatenate([p[1] for p in pieces])
            suffix = np.concatenate([p[2] for p in pieces])
            del pieces
            order = np.argsort(keys, kind="stable")  # timsort: a few sorted pieces
            keys = keys[order]
            new = np.empty(len(keys), dtype=bool)
            new[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            uniq = keys[starts]
            del keys
            keys_out.append(uniq)
            raw_out.append(np.add.reduceat(counts[order], starts))
            suffix_out.append(suffix[order][starts])
            if bos_start is None and uniq[-1] >= bos_bound:
                bos_start = next_id + int(np.searchsorted(uniq, bos_bound))
            ranks = np.cumsum(new, dtype=self.id_dtype)
            del new, counts, suffix
            ranks += next_id - 1  # in place: every temporary here is per buffered entry
            ids = np.empty(len(order), dtype=self.id_dtype)
            ids[order] = ranks
            del order, ranks
            offset = 0
            for r, m in taken:
                maps[r].append(ids[offset : offset + m])
                offset += m
            next_id += len(uniq)
            del ids, uniq
        for run in runs:
            for array in run:
                array.delete()
        return _Level(
            keys_out.finish(),
            raw_out.finish(),
            suffix_out.finish(),
            bos_start=next_id if bos_start is None else bos_start,
            run_map=[m.finish() for m in maps],
        )

    # ---------------------------------------------------------------- adjusting
    def _adjust(self, k: int, level: _Level, upper: _Level | None) -> None:
        """Adjusted counts of the k-grams ``level``: raw at the top order and after ``<s>``,
        else the distinct left extensions, counted from ``upper``'s suffix ids."""
        n = len(level)
        adjusted = self._array(f"adjusted_{k}.i64", np.int64)
        span = self.plan.counter_items
        for low in range(0, n, span):
            high = min(n, low + span)
            raw = level.raw.read(low, high)
            if upper is None:
                result = raw
            else:
                assert upper.suffix is not None
                extensions = np.zeros(high - low, dtype=np.int64)
                for (suffix,) in self._stream([upper.suffix], f"extensions of {k}-grams"):
                    if low > 0 or high < n:
                        suffix = suffix[(suffix >= low) & (suffix < high)] - low
                    counted = np.bincount(suffix)
                    extensions[: len(counted)] += counted
                result = np.where(np.arange(low, high) >= level.bos_start, raw, extensions)
            if k == 1 and low <= self.bos < high:
                result[self.bos - low] = 0  # <s> is only ever a context
            adjusted.append(result)
        level.raw.delete()
        level.adjusted = adjusted.finish()

    def _count_of_counts(self, level: _Level) -> tuple[int, int, int, int]:
        assert level.adjusted is not None
        t = np.zeros(6, dtype=np.int64)
        for (adjusted,) in self._stream([level.adjusted], "count-of-counts"):
            t += np.bincount(np.minimum(adjusted, 5), minlength=6)
        return int(t[1]), int(t[2]), int(t[3]), int(t[4])

    # ---------------------------------------------------------------- probabilities
    def _unigram_table(self, level: _Level, discounts: Discounts) -> OrderTable:
        assert level.adjusted is not None
        adjusted = level.adjusted.read(0, self.base)
        counts = _Counts(
            keys=np.arange(self.base),
            raw=adjusted,
            starts_with_bos=np.arange(self.base) == self.bos,
            adjusted=adjusted,
        )
        level.adjusted.delete()
        return _unigram_table(counts, discounts, self.bos)

    def _interpolate(
        self, level: _Level, discounts: Discounts, lower: OrderTable, k: int
    ) -> OrderTable:
        """p(w | h) of every k-gram, and gamma(h) as the backoff of the order below."""
        assert level.adjusted is not None and level.suffix is not None
        n_lower = len(lower)
        lower_logprob = self._lower_logprob(level, lower, k)
        columns = [level.keys, level.adjusted] + ([level.suffix] if lower_logprob is None else [])
        if lower_logprob is not None:
            columns.append(lower_logprob)
        logprob = self._array(f"logprob_{k}.f64", np.float64)
        backoff = self._array(f"backoff_{k - 1}.f64", np.float64)
        # held for this pass only: the table keeps its memory map
        in_memory = read_range(lower.logprob, 0, n_lower) if lower_logprob is None else None
        written = 0  # (k-1)-grams whose backoff is written
        table = discounts.table()
        carry: list[np.ndarray] | None = None
        chunks = self._stream(columns, f"interpolating {k}-grams")
        pending = next(chunks, None)
        while pending is not None:
            following = next(chunks, None)
            if carry is not None:
                pending = [np.concatenate([c, p]) for c, p in zip(carry, pending, strict=True)]
                carry = None
            context = pending[0] // self.base
            if following is not None:  # the last context may go on in the next chunk
                cut = int(np.searchsorted(context, context[-1], "left"))
                carry = [column[cut:] for column in pending]
                pending = [column[:cut] for column in pending]
                context = context[:cut]
            if len(context):
                if in_memory is not None:
                    lower_values = np.array(in_memory[pending[2]])
                else:
                    lower_values = pending[2]
                first = int(context[0])
                gamma, prob = _interpolate_group(context - first, pending[1], lower_values, table)
                logprob.append(prob)
                _write_gap(backoff, written, first)
                np.log(gamma, out=gamma)
                backoff.append(gamma)
                written = first + len(gamma)
            pending = following
        if carry is not None and len(carry[0]):
            raise AssertionError("unprocessed k-grams at the end of interpolation")
        _write_gap(backoff, written, n_lower)
        if lower_logprob is not None:
            lower_logprob.delete()
        level.adjusted.delete()
        level.suffix.delete()
        lower.backoff = _load(backoff.finish(), k - 1 == 1)
        top = k == self.order
        return OrderTable(
            keys=level.keys.memmap(),
            logprob=logprob.finish().memmap(),
            backoff=NO_BACKOFF if top else np.empty(0),
            discounts=discounts,
        )

    def _lower_logprob(self, level: _Level, lower: OrderTable, k: int) -> DiskArray | None:
        """None when the lower table fits the budget (gathered in the interpolation pass);
        else ``lower.logprob[suffix]`` for every k-gram, gathered over id ranges."""
        if len(lower) <= self.plan.table_items:
            return None
        assert level.suffix is not None
        out = self._array(f"lower_logprob_{k}.f64", np.float64)
        span = self.plan.table_items
        for low in range(0, len(lower), span):
            values = read_range(lower.logprob, low, low + span)
            position = 0
            for (suffix,) in self._stream([level.suffix], f"gathering {k - 1}-gram p"):
                inside = (suffix >= low) & (suffix < low + len(values))
                result = (
                    np.full(len(suffix), np.nan)
                    if low == 0
                    else out.read(position, position + len(suffix))
                )
                result[inside] = values[suffix[inside] - low]
                if low == 0:
                    out.append(result)
                else:
                    out.write_at(position, result)
                position += len(suffix)
        return out.finish()


def score_on_disk(
    tables: list[OrderTable], seq: np.ndarray, bos: int, budget: int, samples: list[np.ndarray]
) -> np.ndarray:
    """:func:`~bench_plugins.kn.in_memory.score_sequence` on tables kept on disk.

    Searching memory maps would be simplest, but every page a lookup faults in counts in
    the resident set, and the kernel maps far more than the page around each fault (a
    1000 random reads of a mapped 400 MB table showed 390 MB resident here). So each
    order's lookups are sorted and answered in one ordered sweep over the table's file,
    reading only the chunks that hold a queried n-gram (``samples``, every
    :data:`PAGE_KEYS`-th key, from :func:`key_samples`, tells which), a chunk at a time.
    """
    chunk = max(PAGE_KEYS, budget // BYTES_PER_SCORED_KEY // PAGE_KEYS * PAGE_KEYS)
    find = [
        partial(_find_in_order, table.keys, sample, chunk)
        for table, sample in zip(tables, samples, strict=True)
    ]
    return score_sequence(tables, seq, bos, find, partial(_take_in_order, chunk=chunk))


def key_samples(tables: list[OrderTable]) -> list[np.ndarray]:
    """Every :data:`PAGE_KEYS`-th key of each table (read in chunks, not mapped)."""
    chunk = PAGE_KEYS << 12
    return [
        np.concatenate(
            [
                read_range(table.keys, start, start + chunk)[::PAGE_KEYS]
                for start in range(0, len(table.keys), chunk)
            ]
            or [np.empty(0, np.int64)]
        )
        for table in tables
    ]


def _find_in_order(
    keys: np.ndarray, sample: np.ndarray, chunk: int, queries: np.ndarray
) -> np.ndarray:
    """Index of each query in the sorted ``keys`` (on disk), or -1."""
    result = np.full(len(queries), -1, dtype=np.int64)
    if len(keys) == 0 or len(queries) == 0:
        return result
    order = np.argsort(queries, kind="stable")
    wanted = queries[order]
    found = np.full(len(wanted), -1, dtype=np.int64)
    per_chunk = chunk // PAGE_KEYS
    # the chunk that can hold each query, from the sampled first keys of the pages
    page = np.maximum(np.searchsorted(sample, wanted, side="right") - 1, 0)
    first_of_chunk = np.searchsorted(
        page // per_chunk, np.arange(0, len(sample), per_chunk) // per_chunk
    )
    bounds = np.append(first_of_chunk, len(wanted))
    for c in range(len(first_of_chunk)):
        low, high = int(bounds[c]), int(bounds[c + 1])
        if low == high:
            continue
        start = c * chunk
        values = read_range(keys, start, start + chunk)
        where = np.minimum(np.searchsorted(values, wanted[low:high]), len(values) - 1)
        hit = values[where] == wanted[low:high]
        found[low:high] = np.where(hit, start + where, -1)
    result[order] = found
    return result


def _take_in_order(values: np.ndarray, index: np.ndarray, chunk: int) -> np.ndarray:
    """``values[index]``, read from disk in order, a chunk at a time."""
    if not isinstance(values, np.memmap):
        return values[index]
    order = np.argsort(index, kind="stable")
    wanted = index[order]
    taken = np.empty(len(wanted), dtype=values.dtype)
    edges = np.searchsorted(wanted, np.arange(0, len(values) + chunk, chunk))
    for c in range(len(edges) - 1):
        low, high = int(edges[c]), int(edges[c + 1])
        if low < high:
            start = c * chunk
            taken[low:high] = read_range(values, start, start + chunk)[wanted[low:high] - start]
    result = np.empty_like(taken)
    result[order] = taken
    return result


def _interpolate_group(
    context: np.ndarray, adjusted: np.ndarray, lower_logprob: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """gamma of each context (ids 0..) and log p of each n-gram, with the very float
    operations of :func:`bench_plugins.kn.in_memory._interpolated_table`."""
    total = np.bincount(context, weights=adjusted)
    discount = table[np.minimum(adjusted, 3)]
    discounted_mass = np.bincount(context, weights=discount)
    is_context = total > 0
    gamma = np.ones(len(total))
    np.divide(discounted_mass, total, out=gamma, where=is_context)
    del discounted_mass
    prob = np.array(lower_logprob, dtype=np.float64)
    np.exp(prob, out=prob)
    prob *= gamma[context]
    np.subtract(adjusted, discount, out=discount)
    discount /= total[context]
    prob += discount
    np.log(prob, out=prob)
    return gamma, prob


def _write_gap(backoff: DiskArray, start: int, stop: int, piece: int = 1 << 20) -> None:
    """Backoff log 1 = 0 for the (k-1)-grams ``start..stop-1``, which are no context."""
    for low in range(start, stop, piece):
        backoff.append(np.zeros(min(piece, stop - low)))


def _load(array: DiskArray, small: bool) -> np.ndarray:
    return array.read(0, len(array)) if small else array.memmap()


def _line_blocks(offsets: np.ndarray, tokens: int) -> list[tuple[int, int]]:
    """``(first, last)`` line ranges of about ``tokens`` tokens each (at least one line)."""
    lines = len(offsets) - 1
    blocks, first = [], 0
    while first < lines:
        target = int(offsets[first]) + tokens
        last = int(np.searchsorted(offsets, target, side="right")) - 1
        last = min(max(last, first + 1), lines)
        blocks.append((first, last))
        first = last
    return blocks
