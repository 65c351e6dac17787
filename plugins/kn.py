"""The ``kn`` model plugin: interpolated modified Kneser-Ney n-grams, as KenLM's lmplz.

The count-based baseline at the top of every perplexity table (KN5 on PTB: 141.2).
Estimation and scoring live in :mod:`bench_plugins.kn_estimate` (numpy only: n-grams
are integers, tables are sorted arrays); ARPA output in :mod:`bench_plugins.kn_arpa`.

Conventions, chosen to give lmplz + query's numbers:

- every line is a sentence ``<s> w1 ... wk </s>``: context resets at each line, ``<s>``
  is never scored, ``</s>`` (bench's end-of-sentence token) is; a blank line is the one
  token ``</s>``, scored as p(``</s>`` | ``<s>``);
- ``<unk>`` is an ordinary word of bench's vocabulary: a literal ``<unk>`` in the text
  (PTB, WikiText) has its counts; a word unseen in train becomes ``<unk>`` too and is
  flagged OOV by the tokenizer, so the core reports perplexity with and without OOVs;
- the unigram level interpolates with the uniform distribution over bench's vocabulary
  (``<s>`` excluded), so probabilities sum to one over exactly the tokens bench scores.
  KenLM's uniform has one more entry when the text has a literal ``<unk>`` (its own
  ``<unk>`` is an extra, zero-count word): the difference in perplexity is below 0.001.

Usage::

    bench run --plugin kn --corpus ptb                      # KN5
    bench run --plugin kn --corpus ptb --set order=3
    bench run --plugin kn --corpus ptb --set arpa=ptb.5.arpa   # also write an ARPA file
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from bench import hookimpl
from bench.errors import BenchError
from bench.model import EvalProtocol, LanguageModel, ScoredTokens, TrainingContext
from bench.options import Options
from bench.tokens import TokenizedSplit, Vocabulary
from bench_plugins.kn_arpa import write_arpa
from bench_plugins.kn_estimate import (
    PAD,
    Discounts,
    OrderTable,
    estimate,
    score_sequence,
    with_sentence_starts,
)


class KNOptions(Options):
    order: int = Field(5, ge=1, description="n-gram order: 5 for KN5, 3 for a trigram model")
    discount_fallback: bool = Field(
        False,
        description="when an order's count-of-counts t1..t4 has a zero (tiny corpora) or "
                    "gives a discount outside [0, k], use fallback_discounts for that order "
                    "instead of failing (lmplz's --discount_fallback)",
    )
    fallback_discounts: tuple[float, float, float] = Field(
        (0.5, 1.0, 1.5),
        description="D1, D2, D3+ used by discount_fallback (lmplz's defaults); "
                    "--set fallback_discounts=0.5,1,1.5",
    )
    arpa: str | None = Field(
        None,
        description="after fitting, write the model in ARPA format (log10, for KenLM or "
                    "SRILM) to this path, and record it as the run's 'arpa' artifact",
    )

    @field_validator("fallback_discounts", mode="before")
    @classmethod
    def _split_text(cls, value: Any) -> Any:
        """Accept "0.5,1,1.5" or "0.5 1 1.5" from ``--set``."""
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split())
        return value

    @field_validator("fallback_discounts")
    @classmethod
    def _in_range(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        for k, discount in enumerate(value, start=1):
            if not 0.0 <= discount <= k:
                raise ValueError(f"D{k} must lie in [0, {k}], got {discount}")
        return value


class KNModel(LanguageModel):
    """Interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998, as KenLM lmplz)."""

    Options = KNOptions
    scoring_mode = "sentence"
    uses_torch = False  # numpy only: the core leaves torch unimported

    def __init__(self, options: KNOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: KNOptions = options
        self.bos_id = len(vocab)  # <s>: an id just past the vocabulary, never predicted
        self.tables: list[OrderTable] = []

    # ------------------------------------------------------------------ training
    def fit(self, context: TrainingContext) -> None:
        started = time.perf_counter()
        self.fit_split(context.train)
        # counting is the training of a count model: its speed is the train throughput
        context.record_train_throughput(len(context.train), time.perf_counter() - started)
        context.log_metrics(self.statistics())
        if self.options.arpa:
            path = Path(self.options.arpa).expanduser().resolve()
            self.export_arpa(path)
            context.record_artifact("arpa", path)

    def fit_split(self, train: TokenizedSplit) -> None:
        """Estimate the model from a tokenized split (what ``fit`` does, without a run)."""
        seq = with_sentence_starts(train.ids, train.line_offsets, self.bos_id)
        fallback = self.options.fallback_discounts if self.options.discount_fallback else None
        self.tables = estimate(seq, self.options.order, self.bos_id, fallback)

    @property
    def discounts(self) -> list[Discounts]:
        """D1, D2, D3+ and the count-of-counts of each order (index 0: unigrams)."""
        return [table.discounts for table in self._fitted()]

    @property
    def ngram_counts(self) -> list[int]:
        """n-grams stored per order; unigrams are the vocabulary plus ``<s>``."""
        return [len(table) for table in self._fitted()]

    def statistics(self) -> dict[str, float]:
        """n-gram counts, discounts and count-of-counts per order, as logged metrics."""
        stats: dict[str, float] = {}
        for k, table in enumerate(self._fitted(), start=1):
            d = table.discounts
            stats[f"ngrams_{k}"] = float(len(table))
            stats.update({f"discount_{k}_1": d.d1, f"discount_{k}_2": d.d2,
                          f"discount_{k}_3plus": d.d3})
            stats.update({f"count_of_counts_{k}_{j}": float(t)
                          for j, t in enumerate(d.count_of_counts, start=1)})
            if d.fallback:
                stats[f"discount_{k}_fallback"] = 1.0
        return stats

    def export_arpa(self, path: str | Path) -> None:
        """Write the model as an ARPA file (log10 probabilities and backoffs)."""
        write_arpa(Path(path), self._fitted(), self.vocab.tokens, self.vocab.eos_id)

    # ------------------------------------------------------------------- scoring
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        seq = with_sentence_starts(split.ids, split.line_offsets, self.bos_id)
        logprobs = score_sequence(self._fitted(), seq, self.bos_id)
        is_token = seq != self.bos_id  # every position but the inserted <s>
        yield ScoredTokens.of(np.arange(len(split)), logprobs[is_token])

    def next_token_logprobs(self, context: Sequence[int], *, sentence_start: bool) -> np.ndarray:
        """log p(w | context) for every vocabulary id ``w`` (``</s>`` included).

        ``context`` holds the previous token ids; with ``sentence_start`` it is the whole
        sentence so far (``<s>`` is put before it), otherwise only its last ``order - 1``
        tokens matter and what came before them is unknown.
        """
        start = [self.bos_id] if sentence_start else [PAD]
        sentence = np.array([*start, *context, 0], dtype=np.int64)
        rows = np.tile(sentence, (len(self.vocab), 1))
        rows[:, -1] = np.arange(len(self.vocab))
        logprobs = score_sequence(self._fitted(), rows.ravel(), self.bos_id)
        return logprobs.reshape(rows.shape)[:, -1]

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        return EvalProtocol(mode="sentence", batch_size=1, context=self.options.order - 1)

    def num_parameters(self) -> int:
        return sum(self.ngram_counts) if self.tables else 0

    def label(self) -> str:
        return f"KN{self.options.order} (interpolated modified Kneser-Ney)"

    def _fitted(self) -> list[OrderTable]:
        if not self.tables:
            raise BenchError("the Kneser-Ney model is used before fit()")
        return self.tables


@hookimpl
def register_models(register: Any) -> None:
    register("kn", KNModel, aliases=("kneser-ney",))
