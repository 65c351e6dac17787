"""Context features of the ``snm`` plugin: n-grams and skip-grams, counted against the next word.

A feature is a pattern over the words before the predicted one, of one of these types:

- ``n-gram`` of length ``L`` (0 <= L < order): the last ``L`` words; ``L = 0`` is the empty
  context, always active, whose counts are the unigram counts;
- ``skip-gram (r, s, a)``: ``r`` remote words, then ``s`` skipped words (any words), then
  ``a`` adjacent words right before the predicted one (Shazeer et al. 2015's notation).

Sentences are laid end to end as ``<s> w1 ... wk </s> <s> ...`` (``seq``), as for Kneser-Ney;
a feature is active for the word at position ``i`` only when its whole span lies inside
the sentence (``<s>`` included), so no feature crosses a sentence start.

Encoding, with numpy only (no Python dict): the m-grams ending at every position are
numbered densely, one order at a time, by ``np.unique`` of ``(id of the (m-1)-gram ending
one position earlier) * base + word``; a feature of a type is then one integer key (the
id of its n-gram, or ``remote id * (number of a-grams) + adjacent id``). Keys of each
type are numbered again by ``np.unique``, and the (feature, word) pairs counted into one
``scipy.sparse`` CSR matrix per type: row = feature, column = word, value = count. Held-out
or test text is looked up in the sorted train keys with ``np.searchsorted``; a pattern
never seen in train is simply not active.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

INACTIVE = -1


@dataclass(frozen=True)
class FeatureType:
    """One family of features: ``remote`` words, ``skip`` skipped, ``adjacent`` words."""

    remote: int
    skip: int
    adjacent: int

    @classmethod
    def ngram(cls, length: int) -> FeatureType:
        return cls(0, 0, length)

    @property
    def is_ngram(self) -> bool:
        return self.skip == 0

    @property
    def span(self) -> int:
        """How many positions before the predicted word the feature looks at."""
        return self.remote + self.skip + self.adjacent

    @property
    def name(self) -> str:
        if self.is_ngram:
            return f"{self.adjacent + 1}-gram"
        return f"skip r{self.remote} s{self.skip} a{self.adjacent}"


def feature_types(
    order: int, remote_max: int, skip_max: int, adjacent_max: int, skip_context_max: int
) -> list[FeatureType]:
    """The n-gram types of contexts 0..order-1, then every skip-gram (r, s, a) with
    1 <= r <= remote_max, 1 <= s <= skip_max, 0 <= a <= adjacent_max, r + a <= skip_context_max."""
    types = [FeatureType.ngram(length) for length in range(order)]
    for remote in range(1, remote_max + 1):
        for skip in range(1, skip_max + 1):
            for adjacent in range(adjacent_max + 1):
                if remote + adjacent <= skip_context_max:
                    types.append(FeatureType(remote, skip, adjacent))
    return types


@dataclass
class Sentences:
    """A split laid out as ``<s> w1 ... </s> <s> ...`` with each position's place in its sentence.

    ``seq``: token ids, ``<s>`` being ``bos``; ``offset[p]``: how many positions after its
    sentence's ``<s>`` position ``p`` lies (0 at ``<s>``); ``targets``: the positions of
    predicted words (all but the ``<s>``), in the split's token order.
    """

    seq: np.ndarray
    offset: np.ndarray
    targets: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray, line_offsets: np.ndarray, bos: int) -> Sentences:
        lengths = np.diff(line_offsets)
        lines = len(lengths)
        starts = line_offsets[:-1] + np.arange(lines)  # where each <s> lands
        seq = np.empty(len(ids) + lines, dtype=np.int32 if bos < 2**31 - 1 else np.int64)
        is_word = np.ones(len(seq), dtype=bool)
        is_word[starts] = False
        seq[starts] = bos
        seq[is_word] = ids
        offset = np.arange(len(seq), dtype=np.int64) - np.repeat(starts, lengths + 1)
        return cls(seq=seq, offset=offset.astype(np.int32), targets=np.flatnonzero(is_word))


def select_lines(
    ids: np.ndarray, line_offsets: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ids and line offsets of the lines where ``keep`` is True."""
    lengths = np.diff(line_offsets)
    token_keep = np.repeat(keep, lengths)
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[keep], out=offsets[1:])
    return ids[token_keep], offsets


@dataclass
class GramTables:
    """Sorted keys of the m-grams of train for m = 2..max_order (unigrams are the ids)."""

    base: int
    keys: list[np.ndarray]  # keys[m - 2] for m-grams

    def count(self, m: int) -> int:
        """How many distinct m-grams train holds (m = 0: the one empty gram)."""
        if m == 0:
            return 1
        return self.base if m == 1 else len(self.keys[m - 2])


def build_gram_ids(
    sentences: Sentences, max_order: int, base: int
) -> tuple[GramTables, list[np.ndarray]]:
    """Number the m-grams of train (m <= max_order); ``ids[m]`` gives, for every position,
    the id of the m-gram ending there, or INACTIVE where it would cross a sentence start."""
    ids: list[np.ndarray] = [np.zeros(len(sentences.seq), dtype=np.int32), sentences.seq]
    keys: list[np.ndarray] = []
    for m in range(2, max_order + 1):
        key, valid = _gram_keys(sentences, ids[m - 1], m, base)
        unique, inverse = np.unique(key[valid], return_inverse=True)
        del key
        # int32 ids while they fit: one array per order, each as long as the corpus
        current = np.full(len(valid), INACTIVE, dtype=_id_dtype(len(unique)))
        current[valid] = inverse
        keys.append(unique)
        ids.append(current)
    return GramTables(base=base, keys=keys), ids


def lookup_gram_ids(sentences: Sentences, tables: GramTables, max_order: int) -> list[np.ndarray]:
    """What :func:`build_gram_ids` gives for held-out text, with train's numbering; an
    m-gram train never saw is INACTIVE."""
    ids: list[np.ndarray] = [np.zeros(len(sentences.seq), dtype=np.int32), sentences.seq]
    for m in range(2, max_order + 1):
        key, valid = _gram_keys(sentences, ids[m - 1], m, tables.base)
        valid &= key >= 0
        ids.append(_find(tables.keys[m - 2], key, valid).astype(_id_dtype(len(tables.keys[m - 2]))))
    return ids


def _id_dtype(count: int) -> type:
    return np.int32 if count < np.iinfo(np.int32).max else np.int64


def _gram_keys(
    sentences: Sentences, lower: np.ndarray, m: int, base: int
) -> tuple[np.ndarray, np.ndarray]:
    key = np.full(len(sentences.seq), INACTIVE, dtype=np.int64)
    key[1:] = lower[:-1].astype(np.int64) * base + sentences.seq[1:]
    valid = sentences.offset >= m - 1
    valid &= np.concatenate([[False], lower[:-1] != INACTIVE])
    return key, valid


def _find(sorted_keys: np.ndarray, queries: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Index of each valid query in ``sorted_keys``, INACTIVE where absent or not valid."""
    found = np.full(len(queries), INACTIVE, dtype=np.int64)
    if len(sorted_keys) == 0:
        return found
    where = np.flatnonzero(valid)
    index = np.searchsorted(sorted_keys, queries[where])
    index = np.minimum(index, len(sorted_keys) - 1)
    hit = sorted_keys[index] == queries[where]
    found[where[hit]] = index[hit]
    return found


def feature_keys(
    kind: FeatureType, sentences: Sentences, gram_ids: list[np.ndarray], gram_counts: GramTables
) -> np.ndarray:
    """The key of ``kind``'s feature active for each target position (INACTIVE if none)."""
    targets = sentences.targets
    keys = np.full(len(targets), INACTIVE, dtype=np.int64)
    valid = sentences.offset[targets] >= kind.span
    positions = targets[valid]
    adjacent = (
        gram_ids[kind.adjacent][positions - 1].astype(np.int64)
        if kind.adjacent
        else np.zeros(len(positions), dtype=np.int64)
    )
    if kind.is_ngram:
        keys[valid] = adjacent
        return keys
    remote = gram_ids[kind.remote][positions - kind.adjacent - kind.skip - 1].astype(np.int64)
    key = remote * gram_counts.count(kind.adjacent) + adjacent
    key[(remote == INACTIVE) | (adjacent == INACTIVE)] = INACTIVE
    keys[valid] = key
    return keys


@dataclass
class FeatureTable:
    """The features of one type seen in train and their (feature, word) counts.

    ``keys``: sorted feature keys (row ``j`` is feature ``keys[j]``); ``pairs``: CSR
    [features, vocabulary] of int32 counts C(f, w); ``totals``: C(f) = sum_w C(f, w).
    """

    kind: FeatureType
    keys: np.ndarray
    pairs: sp.csr_matrix
    totals: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, INACTIVE for an INACTIVE key or a feature train never saw."""
        return _find(self.keys, keys, keys != INACTIVE)

    def pair_counts(self, rows: np.ndarray, words: np.ndarray) -> np.ndarray:
        """C(f, w) for each (row, word), 0 where the pair never occurred in train."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.pairs[rows, words]).ravel().astype(np.int64)

    def nbytes(self) -> int:
        return (
            self.keys.nbytes
            + self.totals.nbytes
            + self.pairs.data.nbytes
            + self.pairs.indices.nbytes
            + self.pairs.indptr.nbytes
        )


def count_features(
    kind: FeatureType, keys: np.ndarray, words: np.ndarray, vocab_size: int
) -> FeatureTable:
    """Count each active feature of ``kind`` with the word it precedes."""
    active = keys != INACTIVE
    unique, rows = np.unique(keys[active], return_inverse=True)
    pair = rows.astype(np.int64) * vocab_size + words[active]
    del rows
    pair, counts = np.unique(pair, return_counts=True)
    pair_rows = pair // vocab_size
    columns = (pair - pair_rows * vocab_size).astype(np.int32)
    del pair
    indptr = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_rows, minlength=len(unique)), out=indptr[1:])
    index_dtype = np.int32 if len(counts) < 2**31 - 1 else np.int64
    matrix = sp.csr_matrix(
        (
            counts.astype(np.int32),
            columns.astype(index_dtype, copy=False),
            indptr.astype(index_dtype),
        ),
        shape=(len(unique), vocab_size),
    )
    totals = np.bincount(pair_rows, weights=counts, minlength=len(unique))
    totals = totals.astype(_id_dtype(int(counts.sum())))  # every C(f) is below the sum
    return FeatureTable(kind=kind, keys=unique, pairs=matrix, totals=totals)


@dataclass
class FeatureSet:
    """Everything counted from train: the m-gram numbering and one table per feature type."""

    grams: GramTables
    tables: list[FeatureTable]
    vocab_size: int

    @property
    def max_gram(self) -> int:
        return max(max(t.kind.remote, t.kind.adjacent) for t in self.tables)

    def pair_total(self) -> int:
        return sum(table.pairs.nnz for table in self.tables)

    def feature_total(self) -> int:
        return sum(len(table) for table in self.tables)

    def nbytes(self) -> int:
        return sum(t.nbytes() for t in self.tables) + sum(k.nbytes for k in self.grams.keys)

    def active_rows(self, sentences: Sentences) -> Iterator[tuple[FeatureTable, np.ndarray]]:
        """For each type, the row of its feature active at every target (INACTIVE if none)."""
        gram_ids = lookup_gram_ids(sentences, self.grams, self.max_gram)
        for table in self.tables:
            yield table, table.rows(feature_keys(table.kind, sentences, gram_ids, self.grams))


def count_all(sentences: Sentences, types: list[FeatureType], vocab_size: int) -> FeatureSet:
    """Count every feature type over ``sentences`` (train)."""
    max_gram = max(max(kind.remote, kind.adjacent) for kind in types)
    grams, gram_ids = build_gram_ids(sentences, max_gram, base=vocab_size + 1)
    words = sentences.seq[sentences.targets].astype(np.int64)
    tables = [
        count_features(kind, feature_keys(kind, sentences, gram_ids, grams), words, vocab_size)
        for kind in types
    ]
    return FeatureSet(grams=grams, tables=tables, vocab_size=vocab_size)
