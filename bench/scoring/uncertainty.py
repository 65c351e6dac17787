"""How sure a perplexity is: per-line scores and a bootstrap over the lines of a split.

A test set is a sample of text; another sample of the same kind would give another
perplexity. The bootstrap estimates that spread from the split itself: draw as many lines
as the split holds, with replacement, recompute perplexity, repeat; the middle 95% of the
recomputed values is the interval. A line is resampled whole, its tokens and their
log-probabilities together, because tokens within a line are not independent.

What is resampled are the per-line NLL sums the model produced. In stream scoring a
line's NLL depends on the state left by the lines before it; resampling does not
re-score, so a resampled line keeps the NLL it had in its original context. The interval
is about the choice of test text, not about training randomness (that is what seeds are
for, :mod:`bench.scoring.seeds`).

Perplexity is a ratio, exp(sum of NLL / sum of units), so each resample sums both over the
same drawn lines (lines differ in length). All of it is vectorised: a resample is a row of
line counts (a bincount of drawn indices), and every statistic needed is one matrix product
of those counts with the per-line columns.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000  # enough for stable 2.5% / 97.5% percentiles (50 draws beyond each)
SEED = 0
LEVEL = 0.95
# bound the count matrix of a block of resamples (elements), ~32 MB of float64
BLOCK_ELEMENTS = 1 << 22
BLOB_FORMAT = "npz-v1"


@dataclass(frozen=True)
class LineScores:
    """One evaluation, line by line: the NLL (nats) of each line and its units.

    ``tokens`` always; ``words`` and ``bytes`` where the text was at hand when the split was
    tokenized (a split streamed from disk keeps only token counts).
    """

    nll: np.ndarray
    tokens: np.ndarray
    words: np.ndarray | None = None
    bytes: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("tokens", "words", "bytes"):
            units = getattr(self, name)
            if units is not None and units.shape != self.nll.shape:
                raise ValueError(f"{name} must have one entry per line, like nll")

    def __len__(self) -> int:
        return len(self.nll)

    def units(self, unit: str) -> np.ndarray:
        """Per-line counts of ``unit`` ("tokens", "words" or "bytes")."""
        values = getattr(self, unit)
        if values is None:
            raise ValueError(f"per-line {unit} were not recorded for this evaluation")
        return values

    def to_bytes(self) -> bytes:
        """A compressed .npz blob (stored in the database with the evaluation)."""
        arrays = {"nll": self.nll.astype(np.float64), "tokens": self.tokens.astype(np.int64)}
        for name in ("words", "bytes"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name).astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LineScores:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return cls(
                nll=data["nll"],
                tokens=data["tokens"],
                words=data.get("words"),
                bytes=data.get("bytes"),
            )

    @classmethod
    def of_split(
        cls,
        logprobs: np.ndarray,
        line_offsets: np.ndarray,
        words: np.ndarray | None = None,
        n_bytes: np.ndarray | None = None,
    ) -> LineScores:
        """Per-line sums of per-token log-probabilities (``line_offsets`` as in TokenizedSplit).

        Every line holds at least its end-of-sentence token, so no segment is empty.
        """
        offsets = np.asarray(line_offsets, dtype=np.int64)
        nll = -np.add.reduceat(np.asarray(logprobs, dtype=np.float64), offsets[:-1])
        return cls(nll=nll, tokens=np.diff(offsets), words=words, bytes=n_bytes)


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval for a perplexity, with how it was computed."""

    low: float
    high: float
    level: float = LEVEL
    resamples: int = RESAMPLES
    seed: int = SEED

    def describe(self, digits: int = 1) -> str:
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


def resampled_sums(columns: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Sums of each column over ``resamples`` bootstrap draws of the rows.

    ``columns`` is [lines, k]; the result [resamples, k]. Row ``r`` draws as many lines as
    there are, uniformly with replacement, and sums each column over the drawn lines; every
    column sees the same draws (a paired bootstrap when the columns are two models).
    """
    columns = np.asarray(columns, dtype=np.float64)
    if columns.ndim != 2 or columns.shape[0] == 0:
        raise ValueError("columns must be [lines, k] with at least one line")
    return np.concatenate(list(_blocks(columns, resamples, seed)), axis=0)


def _blocks(columns: np.ndarray, resamples: int, seed: int) -> Iterator[np.ndarray]:
    n = columns.shape[0]
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, resamples, per_block):
        size = min(per_block, resamples - start)
        drawn = rng.integers(0, n, size=(size, n))
        drawn += np.arange(size)[:, None] * n  # row r's draws land in row r's counts
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
        yield counts.astype(np.float64) @ columns


def perplexity_interval(
    scores: LineScores,
    unit: str = "tokens",
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Interval:
    """The percentile bootstrap interval of exp(NLL / units) over the lines of a split."""
    sums = resampled_sums(np.column_stack([scores.nll, scores.units(unit)]), resamples, seed)
    values = np.exp(sums[:, 0] / sums[:, 1])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), level, resamples, seed)


def bits_interval(
    scores: LineScores,
    unit: str = "bytes",
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Interval:
    """The same bootstrap for bits per ``unit`` (NLL / (units · ln 2))."""
    sums = resampled_sums(np.column_stack([scores.nll, scores.units(unit)]), resamples, seed)
    values = sums[:, 0] / (sums[:, 1] * math.log(2.0))
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), level, resamples, seed)
