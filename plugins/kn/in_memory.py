"""Interpolated modified Kneser-Ney estimation and scoring, vectorised with numpy.

This module reproduces what KenLM's ``lmplz`` estimates (Chen & Goodman 1998, as
Heafield et al. 2013 implement it), without a Python dict in sight: every n-gram is an
integer and every table is a sorted numpy array.

Encoding. Sentences are laid end to end as ``<s> w1 ... wk </s> <s> ...`` in one array
(``seq``). The n-grams of order ``k`` are numbered densely, in sorted order, and the
k-gram ending at a position is encoded as::

    key = (id of the (k-1)-gram ending one position earlier) * base + word

with ``base = V + 1`` (the vocabulary plus ``<s>``). The id of a prefix is at most the
number of distinct (k-1)-grams, so keys stay far inside int64 for any order (a plain
base-(V+1) number would overflow at order 5 with a 10,000-word vocabulary). One
``np.unique`` per order counts the n-grams and numbers them for the next order; the
order of the keys is the lexicographic order of the n-grams.

Arrays that hold one entry per position are kept in int32 while the counts allow it,
which halves the memory of the big passes (100M-token corpora).

The model. ``a(g)`` is the adjusted count: the raw count at the highest order and for
n-grams starting with ``<s>``, otherwise the number of distinct words seen to the left
of ``g``. With ``D(a)`` the discount (0, D1, D2 or D3+) of an adjusted count::

    p(w | h) = (a(hw) - D(a(hw))) / sum_x a(hx)  +  gamma(h) * p(w | h')
    gamma(h) = sum_x D(a(hx)) / sum_x a(hx)

where ``h'`` drops the first word of ``h``; the unigram level interpolates with the
uniform distribution over the vocabulary (``<s>`` excluded). For an unseen context the
model backs off without a factor, which is exactly what an ARPA file says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bench.errors import BenchError

INT32_MAX = np.iinfo(np.int32).max
INT64_MAX = np.iinfo(np.int64).max
# Marks a position that holds no word at all (before a context that does not start a
# sentence); nothing is ever looked up through it.
PAD = -1
NO_BACKOFF = np.empty(0)  # the highest order's n-grams are never contexts


@dataclass(frozen=True)
class Discounts:
    """The three discounts of one order and the count-of-counts they come from."""

    d1: float
    d2: float
    d3: float
    count_of_counts: tuple[int, int, int, int]
    fallback: bool = False

    def table(self) -> np.ndarray:
        """D(a) for a = 0, 1, 2, 3+ (index with ``min(a, 3)``)."""
        return np.array([0.0, self.d1, self.d2, self.d3])


@dataclass
class OrderTable:
    """Everything stored for the n-grams of one order, in the sorted order of ``keys``.

    ``keys``: prefix id * base + last word (for unigrams: the word id itself, all
    ``base`` ids present). ``logprob``: natural log of the interpolated p(w | h).
    ``backoff``: natural log of gamma of this n-gram used as a context (0 where it never
    is one), filled in by the order above; empty at the highest order.
    """

    keys: np.ndarray
    logprob: np.ndarray
    backoff: np.ndarray
    discounts: Discounts

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class _Counts:
    """Counting results of one order before probabilities are attached."""

    keys: np.ndarray
    raw: np.ndarray
    starts_with_bos: np.ndarray
    suffix: np.ndarray | None = None  # id of the (k-1)-gram that ends this one
    adjusted: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))


def index_dtype(size: int) -> type:
    """int32 for ids and positions while they fit (half the memory), int64 beyond."""
    return np.int32 if size < INT32_MAX else np.int64


def with_sentence_starts(ids: np.ndarray, line_offsets: np.ndarray, bos: int) -> np.ndarray:
    """Insert ``<s>`` before every line of a flat id stream (each line ends with ``</s>``)."""
    lines = len(line_offsets) - 1
    starts = line_offsets[:-1] + np.arange(lines)
    seq = np.empty(len(ids) + lines, dtype=index_dtype(bos + 1))
    is_word = np.ones(len(seq), dtype=bool)
    is_word[starts] = False
    seq[starts] = bos
    seq[is_word] = ids
    return seq


def _unique(
    keys: np.ndarray, key_bound: int, id_dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct keys, the id of each input key, and how often each occurs.

    What ``np.unique(keys, return_inverse=True, return_counts=True)`` returns, about
    twice as fast and with a third of its memory: while a key (< ``key_bound``) and its
    position fit in 63 bits together, they are packed into one int64 and sorted in
    place, which is much faster than an argsort. ``keys`` is consumed.
    """
    n = len(keys)
    if n == 0:  # no sentence is long enough for this order
        return keys, np.empty(0, dtype=id_dtype), np.empty(0, dtype=np.int32)
    position_bits = max(1, (n - 1).bit_length())
    if (key_bound - 1).bit_length() + position_bits <= 63:
        keys <<= position_bits
        keys |= np.arange(n, dtype=np.int64)
        keys.sort()
        order = np.empty(n, dtype=index_dtype(n))
        np.bitwise_and(keys, (1 << position_bits) - 1, out=order, casting="unsafe")
        keys >>= position_bits
        ordered = keys
    else:  # too wide to pack (billions of tokens): the general, slower path
        order = np.argsort(keys)
        ordered = keys[order]
        del keys
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    uniq = ordered[starts]
    del ordered
    inverse = np.empty(n, dtype=id_dtype)
    inverse[order] = np.cumsum(new, dtype=id_dtype) - 1
    del order, new
    counts = np.empty(len(starts), dtype=index_dtype(n + 1))
    np.subtract(starts[1:], starts[:-1], out=counts[:-1], casting="unsafe")
    counts[-1] = n - starts[-1]
    return uniq, inverse, counts


def count_ngrams(seq: np.ndarray, order: int, bos: int) -> list[_Counts]:
    """Raw counts of every n-gram of orders 1..order inside sentences of ``seq``.

    An n-gram may start with ``<s>`` but never runs past it into the previous sentence;
    ``<s>`` is never the word an n-gram predicts, so orders >= 2 never end in it.
    """
    base = bos + 1
    unigram_ids = np.arange(base)
    counts = [
        _Counts(
            keys=unigram_ids,
            raw=np.bincount(seq, minlength=base),
            starts_with_bos=unigram_ids == bos,
        )
    ]
    ids_prev = seq  # the id of the unigram ending at each position is the word itself
    for k in range(2, order + 1):
        previous = counts[-1]
        _check_key_range(len(previous.keys), base, k)
        word = seq[1:]
        valid = (ids_prev[:-1] >= 0) & (word != bos)
        keys = ids_prev[:-1][valid].astype(np.int64)
        keys *= base  # in place: each temporary is 8 bytes per token
        keys += word[valid]
        id_dtype = index_dtype(len(keys) + 1)
        uniq, inverse, raw = _unique(keys, len(previous.keys) * base, id_dtype)
        del keys
        ids = np.full(len(seq), -1, dtype=id_dtype)
        ids[1:][valid] = inverse
        # the k-gram ending at p has the (k-1)-gram ending at p as its suffix
        suffix = np.empty(len(uniq), dtype=index_dtype(len(previous.keys) + 1))
        suffix[inverse] = ids_prev[1:][valid]
        del inverse, valid
        starts_with_bos = previous.starts_with_bos[uniq // base]
        counts.append(_Counts(keys=uniq, raw=raw, starts_with_bos=starts_with_bos, suffix=suffix))
        ids_prev = ids
    return counts


def _check_key_range(n_prefixes: int, base: int, k: int) -> None:
    if n_prefixes * base >= INT64_MAX:
        raise BenchError(
            f"{k}-gram keys overflow int64 ({n_prefixes:,} distinct "
            f"{k - 1}-grams x {base:,} words): the corpus is too large for "
            "this encoding"
        )


def adjust_counts(counts: list[_Counts], bos: int) -> None:
    """Kneser-Ney adjusted counts, in place: raw at the top order and after ``<s>``,
    the number of distinct left extensions otherwise. ``<s>`` itself counts 0: it is
    only ever a context."""
    for k, level in enumerate(counts, start=1):
        if k == len(counts):
            adjusted = level.raw.copy()
        else:
            extensions = np.bincount(counts[k].suffix, minlength=len(level.keys))
            adjusted = np.where(level.starts_with_bos, level.raw, extensions)
            adjusted = adjusted.astype(level.raw.dtype, copy=False)  # int32 when it fits
        if k == 1:
            adjusted[bos] = 0
        level.adjusted = adjusted


def count_of_counts(adjusted: np.ndarray) -> tuple[int, int, int, int]:
    """t1..t4: how many n-grams have adjusted count 1, 2, 3 and 4."""
    t = np.bincount(np.minimum(adjusted, 5), minlength=6)
    return int(t[1]), int(t[2]), int(t[3]), int(t[4])


def compute_discounts(
    order: int, t: tuple[int, int, int, int], fallback: tuple[float, float, float] | None
) -> Discounts:
    """Chen & Goodman's estimate: Y = t1/(t1+2 t2), D_k = k - (k+1) Y t_{k+1}/t_k.

    Tiny or artificial corpora lack some count-of-counts (or give a discount outside
    [0, k]); like lmplz, fail with a clear message unless fallback discounts are given.
    """
    # t4 only scales D3+ (3 - 4 Y t4/t3): with no n-gram of adjusted count 4, D3+ = 3, a
    # valid discount that lmplz estimates too; t1..t3 divide, so they must not be zero
    if 0 in t[:3]:
        missing = t.index(0) + 1
        problem = (
            f"no {order}-gram has adjusted count {missing} (count-of-counts "
            f"t1..t4 = {', '.join(map(str, t))}), so modified Kneser-Ney discounts "
            "cannot be estimated"
        )
        return _fallback_or_fail(problem, t, fallback)
    t1, t2, t3, t4 = t
    y = t1 / (t1 + 2 * t2)
    d = [k - (k + 1) * y * t[k] / t[k - 1] for k in (1, 2, 3)]
    for k, value in enumerate(d, start=1):
        if not 0.0 <= value <= k:
            problem = (
                f"the {order}-gram discount D{k} = {value:.4f} is outside [0, {k}] "
                f"(count-of-counts t1..t4 = {t1}, {t2}, {t3}, {t4})"
            )
            return _fallback_or_fail(problem, t, fallback)
    return Discounts(d[0], d[1], d[2], t)


def _fallback_or_fail(
    problem: str, t: tuple[int, int, int, int], fallback: tuple[float, float, float] | None
) -> Discounts:
    if fallback is None:
        raise BenchError(
            f"{problem}. The corpus is too small or artificial; rerun with "
            "--set discount_fallback=true to use fixed discounts "
            "(lmplz's --discount_fallback: D1=0.5, D2=1, D3+=1.5)."
        )
    return Discounts(*fallback, count_of_counts=t, fallback=True)


def estimate(
    seq: np.ndarray, order: int, bos: int, fallback: tuple[float, float, float] | None = None
) -> list[OrderTable]:
    """Count, adjust, discount and interpolate: the tables of an order-``order`` model.

    ``seq`` holds the training sentences with ``<s>`` (id ``bos``) before each; the
    vocabulary is ids ``0..bos-1`` and every one of them gets a probability.
    """
    if order < 1:
        raise BenchError(f"the n-gram order must be at least 1, got {order}")
    if not np.any(seq != bos):
        raise BenchError("the train split holds no tokens to estimate an n-gram model from")
    counts = count_ngrams(seq, order, bos)
    adjust_counts(counts, bos)
    tables: list[OrderTable] = []
    while counts:  # lowest order first; each order's counts are dropped once used
        level = counts.pop(0)
        k = len(tables) + 1
        discounts = compute_discounts(k, count_of_counts(level.adjusted), fallback)
        if k == 1:
            tables.append(_unigram_table(level, discounts, bos))
        else:
            tables.append(_interpolated_table(level, discounts, tables[-1], bos + 1))
        del level
    return tables


def _unigram_table(level: _Counts, discounts: Discounts, bos: int) -> OrderTable:
    """p(w) = (a(w) - D(a(w))) / sum a + gamma * 1/|V|, |V| excluding ``<s>``."""
    adjusted = level.adjusted
    discount = discounts.table()[np.minimum(adjusted, 3)]
    total = float(adjusted.sum())
    gamma = float(discount.sum()) / total
    prob = (adjusted - discount) / total + gamma / bos
    prob[bos] = 1.0  # <s> is never predicted; log 0 here, set to -inf below
    logprob = np.log(prob)
    logprob[bos] = -np.inf
    return OrderTable(keys=level.keys, logprob=logprob, backoff=NO_BACKOFF, discounts=discounts)


def _interpolated_table(
    level: _Counts, discounts: Discounts, lower: OrderTable, base: int
) -> OrderTable:
    """Discounted counts plus gamma(context) times the lower order's interpolated p.

    Also fills in ``lower.backoff``: the contexts of this order are the n-grams of the
    order below. Written in place where it can be: on 100M-token corpora each
    temporary here is gigabytes.
    """
    adjusted = level.adjusted
    context = level.keys // base
    total = np.bincount(context, weights=adjusted, minlength=len(lower))
    discount = discounts.table()[np.minimum(adjusted, 3)]
    discounted_mass = np.bincount(context, weights=discount, minlength=len(lower))
    is_context = total > 0
    gamma = np.ones(len(lower))  # 1 (log 0) where an n-gram is never a context
    np.divide(discounted_mass, total, out=gamma, where=is_context)
    del discounted_mass
    # p = (a - D(a)) / total(h) + gamma(h) * p_lower(h'w), h = context, h'w = suffix
    prob = lower.logprob[level.suffix]
    np.exp(prob, out=prob)
    prob *= gamma[context]
    np.subtract(adjusted, discount, out=discount)
    discount /= total[context]
    prob += discount
    del discount, context
    np.log(prob, out=prob)
    np.log(gamma, out=gamma)
    lower.backoff = gamma
    return OrderTable(keys=level.keys, logprob=prob, backoff=NO_BACKOFF, discounts=discounts)


# ----------------------------------------------------------------------------- scoring


def lookup(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query in the sorted ``keys``, or -1 where it is absent."""
    if len(keys) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    where = np.searchsorted(keys, queries)
    np.minimum(where, len(keys) - 1, out=where)
    return np.where(keys[where] == queries, where, -1)


def score_sequence(
    tables: list[OrderTable],
    seq: np.ndarray,
    bos: int,
    find: list[Callable[[np.ndarray], np.ndarray]] | None = None,
    take: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Natural-log p(word | up to order-1 previous words) at every word position of ``seq``.

    ``seq`` is laid out like the training sequence (``<s>`` before each sentence); a
    :data:`PAD` entry stands for "some earlier word" and ends every context. Positions
    holding ``<s>`` or :data:`PAD` get NaN.

    The longest stored n-gram ending at a position gives its interpolated probability;
    every stored context longer than it multiplies in its backoff (gamma), which is the
    interpolated Kneser-Ney probability itself (an unseen context has no factor).
    ``find[k - 1]``, when given, replaces :func:`lookup` in the keys of order k, and
    ``take(values, index)`` replaces ``values[index]`` (tables on disk read in order).
    """
    take = take or _take
    base = bos + 1
    is_word = (seq >= 0) & (seq != bos)
    words = np.where(seq >= 0, seq, 0)
    logprob = take(tables[0].logprob, words)
    pending_backoff = np.zeros(len(seq))
    ids_prev = np.where(seq >= 0, seq, -1).astype(np.int64)  # unigram ids, <s> included
    for k in range(2, len(tables) + 1):
        table, lower = tables[k - 1], tables[k - 2]
        context = ids_prev[:-1]  # the (k-1)-gram ending just before each position
        has_context = (context >= 0) & is_word[1:]
        ids = np.full(len(seq), -1, dtype=np.int64)
        where = np.flatnonzero(has_context)
        queries = context[where] * base + words[1:][where]
        found = find[k - 1](queries) if find else lookup(table.keys, queries)
        ids[1:][where] = found
        hit = where[found >= 0] + 1
        miss = where[found < 0] + 1
        logprob[hit] = take(table.logprob, ids[hit])
        pending_backoff[hit] = 0.0
        pending_backoff[miss] += take(lower.backoff, ids_prev[miss - 1])
        ids_prev = ids
    result = logprob + pending_backoff
    result[~is_word] = np.nan
    return result


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return values[index]
