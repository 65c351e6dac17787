"""The adjustment of the ``snm`` plugin: meta-features, held-out multinomial loss, AdaGrad.

SNM (Shazeer, Pelemans & Chelba 2015) predicts with a sparse non-negative matrix M::

    P(w | h) = sum_f M[f, w] / sum_f sum_w' M[f, w']      (f over the features active in h)
    M[f, w]  = exp(A(f, w)) * C(f, w) / C(f)               (0 where (f, w) never occurred)

The adjustment ``A(f, w)`` is a linear function of binary meta-features of the pair. Here
(unlexicalised, which Chelba & Pelemans 2016 found as good as lexicalised meta-features)
every pair falls in a *cell* given by three things:

- its feature type (n-gram length, or skip-gram (r, s, a));
- the bucket of the feature count C(f): ``floor(log2 C(f))``, capped;
- the bucket of the pair count C(f, w): ``floor(log2 C(f, w))``, capped;

and the meta-features are every conjunction of these three (a bias, each alone, each pair,
all three), so ``A = D @ theta`` with D a fixed binary [cells, meta-features] matrix: rare
cells share what the coarser conjunctions learn. Because the denominator is a sum over
features, it needs per feature only ``T[f, b] = sum of C(f, w) / C(f) over the words w
whose pair count falls in bucket b``: the loss and its gradient on held-out words are
exact and cheap (no sum over the vocabulary per word).

bench adds one thing the papers do not have: an always-active *uniform* feature with
M[u, w] = exp(theta_u) / V, its weight learned with the rest, so a word no active feature
has seen (a vocabulary entry absent from the counted text) keeps a non-zero probability.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from bench_plugins.snm.features import INACTIVE, FeatureSet, Sentences


def log2_bucket(counts: np.ndarray, buckets: int) -> np.ndarray:
    """``floor(log2 c)`` for counts c >= 1, capped at ``buckets - 1`` (exact for integers)."""
    return np.minimum(np.frexp(np.asarray(counts, dtype=np.float64))[1] - 1, buckets - 1)


@dataclass
class Adjustment:
    """theta of the adjustment model over ``types x feature_buckets x pair_buckets`` cells."""

    types: int
    feature_buckets: int
    pair_buckets: int
    theta: np.ndarray = field(default=None)  # type: ignore[assignment]
    uniform_theta: float = 0.0
    _design: sp.csr_matrix | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.theta is None:
            self.theta = np.zeros(self.design.shape[1])

    @property
    def cells(self) -> int:
        return self.types * self.feature_buckets * self.pair_buckets

    def cell_base(self, type_index: int, feature_totals: np.ndarray) -> np.ndarray:
        """First cell of each feature (add the pair bucket to get the pair's cell)."""
        fb = log2_bucket(feature_totals, self.feature_buckets)
        return (type_index * self.feature_buckets + fb) * self.pair_buckets

    @property
    def design(self) -> sp.csr_matrix:
        """D [cells, meta-features]: one column per value of every conjunction of
        (type, feature-count bucket, pair-count bucket), the empty conjunction a bias."""
        if self._design is None:
            dims = (self.types, self.feature_buckets, self.pair_buckets)
            grid = np.indices(dims).reshape(3, -1)  # the coordinates of every cell
            rows, columns, offset = [], [], 0
            for size in range(4):
                for subset in itertools.combinations(range(3), size):
                    sub_dims = [dims[d] for d in subset]
                    index = (
                        np.ravel_multi_index([grid[d] for d in subset], sub_dims)
                        if subset
                        else np.zeros(self.cells, dtype=np.int64)
                    )
                    rows.append(np.arange(self.cells))
                    columns.append(offset + index)
                    offset += int(np.prod(sub_dims)) if subset else 1
            rows_all, columns_all = np.concatenate(rows), np.concatenate(columns)
            self._design = sp.csr_matrix(
                (np.ones(len(rows_all)), (rows_all, columns_all)), shape=(self.cells, offset)
            )
        return self._design

    def cell_weights(self) -> np.ndarray:
        """exp(A) for every cell."""
        return np.exp(self.design @ self.theta)

    @property
    def uniform_weight(self) -> float:
        return float(np.exp(self.uniform_theta))

    def parameters(self) -> int:
        return len(self.theta) + 1


@dataclass
class HeldoutData:
    """What the held-out loss needs, gathered once from the counts.

    One *activation* per (held-out word, active feature): its word, its unique-feature
    index, the cell of the pair (INACTIVE if the pair was never counted) and
    C(f, w) / C(f). Per unique feature: its first cell; and the triples
    (unique feature, pair bucket, T[f, bucket]) of its normaliser.
    """

    words: int
    vocab_size: int
    act_word: np.ndarray
    act_feature: np.ndarray
    act_cell: np.ndarray
    act_ratio: np.ndarray
    feature_cell_base: np.ndarray
    tri_feature: np.ndarray
    tri_bucket: np.ndarray
    tri_value: np.ndarray


def gather_heldout(
    features: FeatureSet, sentences: Sentences, adjustment: Adjustment
) -> HeldoutData:
    """Look the held-out words' features up in the counts (see :class:`HeldoutData`)."""
    words = sentences.seq[sentences.targets].astype(np.int64)
    parts: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "word",
            "feature",
            "cell",
            "ratio",
            "base",
            "tri_feature",
            "tri_bucket",
            "tri_value",
        )
    }
    n_unique = 0
    for type_index, (table, rows) in enumerate(features.active_rows(sentences)):
        active = np.flatnonzero(rows != INACTIVE)
        unique_rows, inverse = np.unique(rows[active], return_inverse=True)
        totals = table.totals[unique_rows]
        base = adjustment.cell_base(type_index, totals)
        pair = table.pair_counts(rows[active], words[active])
        seen = pair > 0
        cell = np.full(len(active), INACTIVE, dtype=np.int64)
        cell[seen] = base[inverse[seen]] + log2_bucket(pair[seen], adjustment.pair_buckets)
        parts["word"].append(active)
        parts["feature"].append(n_unique + inverse)
        parts["cell"].append(cell)
        parts["ratio"].append(pair / table.totals[rows[active]])
        parts["base"].append(base)
        # T[f, b]: the feature's row of counts, summed per pair bucket
        sub = table.pairs[unique_rows]
        row_of = np.repeat(np.arange(len(unique_rows)), np.diff(sub.indptr))
        key = row_of * adjustment.pair_buckets + log2_bucket(sub.data, adjustment.pair_buckets)
        key, where = np.unique(key, return_inverse=True)
        mass = np.bincount(where, weights=sub.data, minlength=len(key))
        tri_row = key // adjustment.pair_buckets
        parts["tri_feature"].append(n_unique + tri_row)
        parts["tri_bucket"].append(key - tri_row * adjustment.pair_buckets)
        parts["tri_value"].append(mass / totals[tri_row])
        n_unique += len(unique_rows)
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    return HeldoutData(
        words=len(words),
        vocab_size=features.vocab_size,
        act_word=joined["word"].astype(np.int64),
        act_feature=joined["feature"].astype(np.int64),
        act_cell=joined["cell"].astype(np.int64),
        act_ratio=joined["ratio"],
        feature_cell_base=joined["base"].astype(np.int64),
        tri_feature=joined["tri_feature"].astype(np.int64),
        tri_bucket=joined["tri_bucket"].astype(np.int64),
        tri_value=joined["tri_value"],
    )


def loss_and_gradient(
    adjustment: Adjustment,
    data: HeldoutData,
    words: np.ndarray | None = None,
    acts: np.ndarray | None = None,
) -> tuple[float, int, np.ndarray, float]:
    """Summed -log P over held-out words (all, or ``words`` whose activations are ``acts``),
    how many words that is, and the gradients for theta and theta_u.

    Only the normaliser triples of the features active in the batch are touched, so a step
    costs in proportion to its batch, not to the whole held-out set."""
    weights = adjustment.cell_weights()
    uniform = adjustment.uniform_weight
    if words is None or acts is None:
        words, acts = np.arange(data.words), np.arange(len(data.act_word))
    local = np.full(data.words, INACTIVE, dtype=np.int64)
    local[words] = np.arange(len(words))
    act_local = local[data.act_word[acts]]
    cells = data.act_cell[acts]
    seen = cells != INACTIVE
    numerator = np.zeros(len(acts))
    numerator[seen] = weights[cells[seen]] * data.act_ratio[acts][seen]
    y = np.bincount(act_local, weights=numerator, minlength=len(words)) + uniform / data.vocab_size
    batch_features, features = np.unique(data.act_feature[acts], return_inverse=True)
    triples, tri_local = _triples_of(data, batch_features)
    tri_cell = data.feature_cell_base[data.tri_feature[triples]] + data.tri_bucket[triples]
    tri_mass = weights[tri_cell] * data.tri_value[triples]
    feature_norm = np.bincount(tri_local, weights=tri_mass, minlength=len(batch_features))
    z = np.bincount(act_local, weights=feature_norm[features], minlength=len(words)) + uniform
    loss = float(np.sum(np.log(z) - np.log(y)))

    grad_cells = np.bincount(
        cells[seen], weights=-numerator[seen] / y[act_local[seen]], minlength=adjustment.cells
    )
    d_norm = np.bincount(features, weights=1.0 / z[act_local], minlength=len(batch_features))
    grad_cells += np.bincount(
        tri_cell, weights=tri_mass * d_norm[tri_local], minlength=adjustment.cells
    )
    grad_uniform = float(np.sum(uniform / z - uniform / data.vocab_size / y))
    return loss, len(words), adjustment.design.T @ grad_cells, grad_uniform


def _triples_of(data: HeldoutData, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The triples of ``features`` (sorted unique ids) and the index of each one's feature
    in ``features``: triples are stored grouped by feature, in increasing order."""
    starts = np.searchsorted(data.tri_feature, features, side="left")
    lengths = np.searchsorted(data.tri_feature, features, side="right") - starts
    local = np.repeat(np.arange(len(features)), lengths)
    first = np.cumsum(lengths) - lengths
    return np.repeat(starts - first, lengths) + np.arange(int(lengths.sum())), local


def train_adjustment(
    adjustment: Adjustment,
    data: HeldoutData,
    *,
    epochs: int,
    lr: float,
    batch_words: int,
    rng: np.random.Generator,
    on_epoch: Callable[[int, float], None] = lambda epoch, loss: None,
    progress: Callable[[Iterator[int]], Iterator[int]] = lambda it: it,
) -> list[float]:
    """AdaGrad on the mean held-out loss over mini-batches of words; returns the mean loss
    per word before training and after each epoch."""

    def mean_loss() -> float:
        loss, words, _, _ = loss_and_gradient(adjustment, data)
        return loss / max(words, 1)

    losses = [mean_loss()]
    squares = np.zeros_like(adjustment.theta)
    uniform_square = 0.0
    batches = max(1, -(-data.words // batch_words))
    for epoch in range(1, epochs + 1):
        batch_of_word = rng.permutation(data.words) % batches
        word_order = np.argsort(batch_of_word, kind="stable")
        act_order = np.argsort(batch_of_word[data.act_word], kind="stable")
        word_bounds = np.searchsorted(batch_of_word[word_order], np.arange(batches + 1))
        act_bounds = np.searchsorted(
            batch_of_word[data.act_word][act_order], np.arange(batches + 1)
        )
        for batch in progress(iter(range(batches))):
            _, words, grad, grad_u = loss_and_gradient(
                adjustment,
                data,
                word_order[word_bounds[batch] : word_bounds[batch + 1]],
                act_order[act_bounds[batch] : act_bounds[batch + 1]],
            )
            if words == 0:
                continue
            grad, grad_u = grad / words, grad_u / words
            squares += grad * grad
            uniform_square += grad_u * grad_u
            adjustment.theta = adjustment.theta - lr * grad / (np.sqrt(squares) + 1e-12)
            adjustment.uniform_theta -= lr * grad_u / (np.sqrt(uniform_square) + 1e-12)
        losses.append(mean_loss())
        on_epoch(epoch, losses[-1])
    return losses
