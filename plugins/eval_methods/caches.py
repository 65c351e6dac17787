"""Cache models: the unigram cache (any model) and the continuous cache pointer.

Both interpolate the model's probability of each token with a cache distribution built
from the tokens *before* it, p(w) = (1 - lambda) p_model(w) + lambda p_cache(w), and both
only need the probability of the token that occurs, so they work from the model's
per-token log-probabilities (and, for the pointer, its hidden states).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
from pydantic import Field

from bench import EvalMethod, EvalProtocol, Options, ScoredTokens, TokenizedSplit


class UnigramCacheOptions(Options):
    window: int = Field(500, ge=1, description="the cache holds the last WINDOW tokens")
    weight: float = Field(
        0.1, gt=0.0, lt=1.0, description="lambda: the cache's share of the interpolation"
    )


class UnigramCache(EvalMethod):
    """Unigram cache (Kuhn & De Mori 1990): p_cache(w) is w's frequency among the last
    ``window`` tokens, interpolated with the model's probability with weight ``weight``."""

    Options = UnigramCacheOptions
    description = "unigram cache of the last WINDOW tokens, mixed with any model's probabilities"
    shown_as = "unigram cache"
    search: ClassVar[dict[str, list[float | int]]] = {
        "window": [100, 200, 500, 1000, 2000],
        "weight": [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2],
    }

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        options: UnigramCacheOptions = self.options  # type: ignore[assignment]
        model = self.base.logprobs(split)
        in_cache, size = window_counts(np.asarray(split.ids), options.window)
        yield ScoredTokens.of(np.arange(len(split)), mix(model, in_cache, size, options.weight))


def window_counts(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For each position t: how often ids[t] occurs among ids[t-window : t] (the tokens
    before it, never itself), and how many tokens that window holds (min(t, window))."""
    n = ids.size
    positions = np.arange(n, dtype=np.int64)
    # one sorted key per position, (token id, position): the occurrences of a token before
    # t and after t - window are those between two keys of the same token
    keys = ids.astype(np.int64) * (n + 1) + positions
    ordered = np.sort(keys)
    start = ids.astype(np.int64) * (n + 1) + np.maximum(positions - window, 0)
    counts = np.searchsorted(ordered, keys) - np.searchsorted(ordered, start)
    return counts, np.minimum(positions, window)


def mix(model: np.ndarray, hits: np.ndarray, size: np.ndarray, weight: float) -> np.ndarray:
    """log((1 - weight) p_model + weight p_cache), p_cache = hits / size; while the cache is
    empty (the first token) the model alone."""
    p_cache = np.divide(hits, size, out=np.zeros(hits.shape, dtype=np.float64), where=size > 0)
    w = np.where(size > 0, weight, 0.0)
    return np.logaddexp(np.log1p(-w) + model, np.log(w * p_cache + 1e-300))


class NeuralCacheOptions(Options):
    window: int = Field(500, ge=1, description="the cache holds the last WINDOW hidden states")
    theta: float = Field(
        0.3, gt=0.0, description="flatness: the cache weighs a past state by exp(theta h.h_i)"
    )
    weight: float = Field(
        0.1, gt=0.0, lt=1.0, description="lambda: the cache's share of the interpolation"
    )
    block: int = Field(
        256, ge=1, description="positions per block of the dot products (memory and speed)"
    )


class NeuralCache(EvalMethod):
    """Continuous cache pointer (Grave et al. 2017): the hidden states of the last ``window``
    positions, each with the token it predicted, vote for that token with weight
    exp(``theta`` h_t . h_i); interpolated with the model with weight ``weight``."""

    Options = NeuralCacheOptions
    description = "continuous cache pointer over the last WINDOW hidden states (Grave et al.)"
    shown_as = "neural cache"
    requires = ("score_with_hidden",)
    search: ClassVar[dict[str, list[float | int]]] = {
        "window": [100, 500, 2000],
        "theta": [0.1, 0.2, 0.3, 0.5, 0.8],
        "weight": [0.05, 0.1, 0.15, 0.2, 0.3],
    }

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.eval_methods.pointer import pointer_logprobs

        options: NeuralCacheOptions = self.options  # type: ignore[assignment]
        model, hidden = self.base.hidden_states(split)
        cache = pointer_logprobs(
            hidden, np.asarray(split.ids), options.window, options.theta, options.block
        )
        w = np.where(np.arange(len(split)) > 0, options.weight, 0.0)
        mixed = np.logaddexp(np.log1p(-w) + model, np.log(w + 1e-300) + cache)
        yield ScoredTokens.of(np.arange(len(split)), mixed)
