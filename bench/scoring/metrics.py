"""The one definition of perplexity: from a summed negative log-likelihood and unit counts.

Every model is judged by these functions. A plugin only hands over natural-log
probabilities of tokens; the sums, counts and exponentials happen here, in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.tokenization.tokens import UnitCounts

LN2 = math.log(2.0)


def perplexity(nll: float, units: int) -> float:
    """exp(NLL / units): NLL in nats summed over the split, units the normaliser; inf
    beyond float range (a diverged model's NLL above ~709 nats per unit), not an error."""
    if units <= 0:
        raise ValueError("perplexity needs at least one unit")
    try:
        return math.exp(nll / units)
    except OverflowError:
        return math.inf


def bits_per_unit(nll: float, units: int) -> float:
    """NLL converted to bits and averaged over ``units`` (bits per token, byte or char)."""
    if units <= 0:
        raise ValueError("bits per unit needs at least one unit")
    return nll / (units * LN2)


@dataclass(frozen=True)
class SplitMetrics:
    """Metrics derived from one split's NLL and counts; stored with every evaluation.

    ``ppl`` is per token (the model's own units). ``word_ppl`` normalises the same NLL by
    words + one end-of-sentence per line, so it compares across tokenizers, as does
    ``bits_per_byte``. ``ppl_no_oov`` leaves out tokens that were out of vocabulary.
    """

    nll: float
    ppl: float
    word_ppl: float
    bits_per_token: float
    bits_per_byte: float
    ppl_no_oov: float | None

    @classmethod
    def compute(cls, nll: float, counts: UnitCounts, oov_nll: float = 0.0) -> SplitMetrics:
        in_vocab = counts.tokens - counts.oov
        return cls(
            nll=nll,
            ppl=perplexity(nll, counts.tokens),
            word_ppl=perplexity(nll, counts.words),
            bits_per_token=bits_per_unit(nll, counts.tokens),
            bits_per_byte=bits_per_unit(nll, counts.bytes),
            ppl_no_oov=perplexity(nll - oov_nll, in_vocab) if counts.oov and in_vocab else None,
        )
