"""The ``unigram`` model plugin: add-k smoothed word (token) frequencies from train.

A floor that every real model should beat by far, and the cheapest end-to-end check of
the harness (no torch needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field

from bench import (
    EvalProtocol,
    LanguageModel,
    Options,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
    token_counts,
)


class UnigramOptions(Options):
    smoothing: float = Field(1.0, gt=0, description="add-k pseudo-count for every vocabulary entry")


class UnigramModel(LanguageModel):
    """Unigram baseline: p(w) from add-k smoothed train counts, ignoring all context."""

    Options = UnigramOptions
    uses_torch = False  # numpy only: the core leaves torch unimported
    refit_to_restore = True  # counting again is quick and exact: no checkpoint needed

    def __init__(self, options: UnigramOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: UnigramOptions = options
        self.logprobs = np.full(len(vocab), -np.log(len(vocab)))

    def fit(self, context: TrainingContext) -> None:
        counts = token_counts(context.train.ids, len(self.vocab)) + self.options.smoothing
        self.logprobs = np.log(counts) - np.log(counts.sum())

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        yield ScoredTokens.of(np.arange(len(split)), self.logprobs[split.ids])

    def num_parameters(self) -> int:
        return len(self.vocab)

    def label(self) -> str:
        return "Unigram (add-k)"


@hookimpl
def register_models(register: Any) -> None:
    register("unigram", UnigramModel)
