"""Scoring a split under the evaluation contract: every token scored exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from bench import interrupts
from bench.api.contract_types import EvalProtocol, ScoredTokens, SplitEvaluation
from bench.errors import ScoringError
from bench.scoring.metrics import SplitMetrics
from bench.scoring.uncertainty import LineScores
from bench.tokenization.tokens import TokenizedSplit

# log p may exceed 0 by float rounding in a softmax; anything beyond this is a bug.
LOGPROB_TOLERANCE = 1e-4


# The name this result had before bench.records (kept for code that imports it).
Evaluation = SplitEvaluation


def accumulate(split: TokenizedSplit, chunks: Iterable[ScoredTokens]) -> tuple[float, float]:
    """Collect per-token log-probabilities; return (NLL, NLL of OOV tokens) in float64.

    Raises ScoringError unless every position of the split was scored exactly once with
    a finite log-probability that is not above zero.
    """
    logprobs = collect_logprobs(split, chunks)
    return _nll(split, logprobs)


def _nll(split: TokenizedSplit, logprobs: np.ndarray) -> tuple[float, float]:
    nll = -float(np.sum(logprobs))
    oov_nll = -float(np.sum(logprobs[split.oov_mask])) if split.oov_mask is not None else 0.0
    return nll, oov_nll


def collect_logprobs(split: TokenizedSplit, chunks: Iterable[ScoredTokens]) -> np.ndarray:
    """The log-probability of every position of the split, checked as :func:`accumulate` says."""
    n = len(split)
    seen = np.zeros(n, dtype=np.int64)
    logprobs = np.zeros(n, dtype=np.float64)
    for chunk in chunks:
        interrupts.raise_if_requested()  # a Ctrl-C that a gc callback swallowed
        if not isinstance(chunk, ScoredTokens):
            raise ScoringError(
                f"score must yield ScoredTokens, but yielded a {type(chunk).__name__} ({chunk})"
            )
        if chunk.positions.shape != chunk.logprobs.shape:
            raise ScoringError(
                f"a scored chunk has {chunk.positions.size} positions but "
                f"{chunk.logprobs.size} log-probabilities"
            )
        if chunk.positions.size == 0:
            continue
        if chunk.positions.min() < 0 or chunk.positions.max() >= n:
            raise ScoringError(f"scored position out of range 0..{n - 1} of split {split.name!r}")
        bad = ~np.isfinite(chunk.logprobs) | (chunk.logprobs > LOGPROB_TOLERANCE)
        if bad.any():
            where = int(chunk.positions[bad][0])
            raise ScoringError(
                f"invalid log-probability {float(chunk.logprobs[bad][0])} at position {where} of "
                f"split {split.name!r} (must be finite and <= 0)"
            )
        # O(chunk), not O(split): a model may hand over one token at a time
        np.add.at(seen, chunk.positions, 1)
        logprobs[chunk.positions] = chunk.logprobs
    _check_exactly_once(split.name, seen)
    return logprobs


def _check_exactly_once(name: str, seen: np.ndarray) -> None:
    missing = np.flatnonzero(seen == 0)
    repeated = np.flatnonzero(seen > 1)
    if missing.size or repeated.size:
        parts = []
        if missing.size:
            parts.append(f"{missing.size} never scored (first at position {missing[0]})")
        if repeated.size:
            parts.append(f"{repeated.size} scored more than once (first at position {repeated[0]})")
        raise ScoringError(
            f"split {name!r} has {seen.size} tokens but "
            + " and ".join(parts)
            + ": every token must be scored exactly once"
        )


def evaluate(
    split: TokenizedSplit,
    protocol: EvalProtocol,
    score: Callable[[TokenizedSplit, EvalProtocol], Iterable[ScoredTokens]],
    synchronize: Callable[[], None] = lambda: None,
) -> SplitEvaluation:
    """Score ``split`` with ``score`` and derive the core metrics, timing the work."""
    if len(split) == 0:
        raise ScoringError(f"split {split.name!r} has no tokens to score")
    start = time.perf_counter()
    logprobs = collect_logprobs(split, score(split, protocol))
    synchronize()
    seconds = time.perf_counter() - start
    nll, oov_nll = _nll(split, logprobs)
    metrics = SplitMetrics.compute(nll, split.counts, oov_nll=oov_nll)
    lines = LineScores.of_split(logprobs, split.line_offsets, split.line_words, split.line_bytes)
    return SplitEvaluation(
        split=split.name,
        counts=split.counts,
        protocol=protocol,
        metrics=metrics,
        seconds=seconds,
        lines=lines,
        token_logprobs=logprobs,
    )
