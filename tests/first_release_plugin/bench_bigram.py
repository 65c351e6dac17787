"""An add-k smoothed bigram language model for bench."""

from __future__ import annotations

import numpy as np
from pydantic import Field

import bench
from bench.model import LanguageModel, ScoredTokens
from bench.options import Options


class BigramOptions(Options):
    k: float = Field(0.1, gt=0, description="add-k pseudo-count for every bigram")


class BigramModel(LanguageModel):
    """Add-k smoothed bigram model: p(w | v) = (c(v, w) + k) / (c(v) + k V)."""

    Options = BigramOptions
    scoring_mode = "stream"

    def fit(self, context):
        ids = context.train.ids
        previous = np.concatenate([[self.vocab.eos_id], ids[:-1]])
        self.pairs, self.pair_counts = np.unique(previous * len(self.vocab) + ids,
                                                 return_counts=True)
        self.context_counts = np.bincount(previous, minlength=len(self.vocab))

    def score(self, split, protocol):
        size, k = len(self.vocab), self.options.k
        previous = np.concatenate([[self.vocab.eos_id], split.ids[:-1]])
        keys = previous * size + split.ids
        where = np.clip(np.searchsorted(self.pairs, keys), 0, len(self.pairs) - 1)
        counts = np.where(self.pairs[where] == keys, self.pair_counts[where], 0)
        logprobs = np.log(counts + k) - np.log(self.context_counts[previous] + k * size)
        yield ScoredTokens.of(np.arange(len(split)), logprobs)

    def num_parameters(self):
        return len(self.pairs)

    def label(self):
        return f"Bigram (add-{self.options.k:g})"


@bench.hookimpl
def register_models(register):
    register("bigram", BigramModel)
