"""The ``snm`` model plugin: Sparse Non-negative Matrix language modelling on the CPU.

SNM (Shazeer, Pelemans & Chelba 2015, "Sparse Non-negative Matrix Language Modeling for
Skip-grams"; Pelemans, Shazeer & Chelba 2016, TACL) predicts the next word from the
n-gram and skip-gram features of its context::

    P(w | h) = sum_f M[f, w] / sum_f sum_w' M[f, w']     (f over the features active in h)
    M[f, w]  = exp(A(f, w)) * C(f, w) / C(f)

a relative frequency scaled by an adjustment learned from meta-features. The adjustment is
trained as in Chelba & Pelemans 2016 ("Multinomial Loss on Held-out Data for the Sparse
Non-negative Matrix Language Model"): counts come from the training text, and the
meta-feature weights minimise the multinomial loss (-log P) on held-out text, with AdaGrad.

What follows the papers:

- the model above, the exact normaliser as a sum over active features, M = 0 for pairs
  never counted;
- n-gram features of every length below ``order`` (the empty one included) and skip-gram
  features (r remote words, s skipped, a adjacent; bench's options bound r, s, a and r + a);
- unlexicalised meta-features: feature type, log2 bucket of the feature count, log2 bucket
  of the (feature, word) count, and their conjunctions (Chelba & Pelemans 2016 report
  these as good as lexicalised ones);
- held-out multinomial loss, AdaGrad, no leave-one-out.

What is bench's choice (not from the papers):

- held-out data: by default a random ``heldout_fraction`` of the *train* lines (at most
  ``heldout_max_tokens`` tokens), chosen with the seed; the counts of the first stage come
  from the other train lines. The test split is never used; ``heldout=valid`` uses the
  valid split instead (then the valid perplexity is no longer a fair held-out figure).
  With ``recount`` (the default) the counts are taken again on the whole train split once
  the adjustment is learnt, so no training text is lost to the held-out slice;
- a uniform feature, always active, whose weight is learned: a vocabulary entry that no
  active feature has seen keeps a non-zero probability (see ``snm_adjustment``);
- no count smoothing of the bucket meta-features, no tied long skips, no sentence-crossing
  features, no pruning; sentences are scored one by one, like ``kn``.

Usage::

    bench run --plugin snm --corpus ptb                              # 5-gram features
    bench run --plugin snm --corpus ptb --set skip_remote_max=3      # with skip-grams
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from bench import hookimpl
from bench.api.model import EvalProtocol, LanguageModel, ScoredTokens, TrainingContext
from bench.configuration.options import Options
from bench.errors import BenchError
from bench.tokenization.tokens import TokenizedSplit, Vocabulary
from bench_plugins.snm.adjustment import (
    Adjustment,
    gather_heldout,
    log2_bucket,
    train_adjustment,
)
from bench_plugins.snm.features import (
    INACTIVE,
    FeatureSet,
    Sentences,
    count_all,
    feature_types,
    select_lines,
)

SCORE_CHUNK_TOKENS = 1 << 20  # tokens scored at once: bounds the memory of scoring


class SNMOptions(Options):
    order: int = Field(
        5,
        ge=1,
        description="n-gram features of every context length 0..order-1 (5: as a 5-gram model)",
    )
    skip_remote_max: int = Field(
        0,
        ge=0,
        description="skip-grams: at most this many remote "
        "words r before the skip; 0 turns skip-grams off",
    )
    skip_length_max: int = Field(5, ge=1, description="skip-grams: skip lengths s = 1..this")
    skip_adjacent_max: int = Field(
        3,
        ge=0,
        description="skip-grams: adjacent words a = "
        "0..this between the skip and the predicted word",
    )
    skip_context_max: int = Field(
        4, ge=1, description="skip-grams: at most this many words in all (r + a)"
    )
    feature_count_buckets: int = Field(
        24,
        ge=1,
        le=64,
        description="log2 buckets of the feature count C(f) (the last one open-ended)",
    )
    pair_count_buckets: int = Field(
        16,
        ge=1,
        le=64,
        description="log2 buckets of the (feature, word) count C(f, w) (the last one open-ended)",
    )
    heldout: Literal["train", "valid"] = Field(
        "train",
        description="where the adjustment is trained: 'train' holds out random train "
        "lines (never the test split); 'valid' uses the valid split",
    )
    heldout_fraction: float = Field(
        0.05, gt=0, lt=1, description="share of the train lines held out (heldout=train)"
    )
    heldout_max_tokens: int = Field(
        100_000,
        ge=1,
        description="at most this many held-out tokens (Chelba & Pelemans: 30-70k words suffice)",
    )
    recount: bool = Field(
        True,
        description="after learning the adjustment, count again on the "
        "whole train split (heldout=train)",
    )
    lr: float = Field(0.1, gt=0, description="AdaGrad learning rate")
    epochs: int = Field(
        5,
        ge=0,
        description="AdaGrad passes over the held-out words "
        "(0: no adjustment, plain relative frequencies)",
    )
    batch_words: int = Field(1000, ge=1, description="held-out words per AdaGrad step")
    seed: int | None = Field(
        None,
        description="seed of the held-out choice and the batch order (default: the run's seed)",
    )

    @model_validator(mode="after")
    def _skip_grams_fit(self) -> SNMOptions:
        if self.skip_remote_max > self.skip_context_max:
            raise ValueError(
                f"skip_remote_max ({self.skip_remote_max}) cannot exceed "
                f"skip_context_max ({self.skip_context_max}): no skip-gram "
                "would have that many remote words"
            )
        return self


class SNMModel(LanguageModel):
    """Sparse Non-negative Matrix LM (Shazeer et al. 2015): n-gram and skip-gram features."""

    Options = SNMOptions
    scoring_mode = "sentence"
    uses_torch = False  # numpy and scipy only: the core leaves torch unimported

    def __init__(self, options: SNMOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: SNMOptions = options
        self.bos_id = len(vocab)  # <s>: an id just past the vocabulary, never predicted
        self.types = feature_types(
            options.order,
            options.skip_remote_max,
            options.skip_length_max,
            options.skip_adjacent_max,
            options.skip_context_max,
        )
        self.adjustment = Adjustment(
            len(self.types), options.feature_count_buckets, options.pair_count_buckets
        )
        self.features: FeatureSet | None = None
        self.norms: list[np.ndarray] = []
        self.heldout_losses: list[float] = []

    # ------------------------------------------------------------------ training
    def fit(self, context: TrainingContext) -> None:
        started = time.perf_counter()
        seed = context.seed if self.options.seed is None else self.options.seed
        self.fit_split(
            context.train,
            context.valid,
            seed=seed,
            log=lambda metrics, epoch=None: context.log_metrics(metrics, epoch=epoch),
        )
        context.record_train_throughput(len(context.train), time.perf_counter() - started)
        context.log_metrics(self.statistics())

    def fit_split(
        self,
        train: TokenizedSplit,
        valid: TokenizedSplit | None = None,
        *,
        seed: int = 0,
        log: Any = lambda metrics, epoch=None: None,
    ) -> None:
        """Count, learn the adjustment on held-out text, and recount (``fit`` without a run)."""
        rng = np.random.default_rng(seed)
        options = self.options
        if options.heldout == "valid":
            if valid is None or len(valid) == 0:
                raise BenchError("snm: heldout=valid needs a non-empty valid split")
            counted_ids, counted_offsets = train.ids, train.line_offsets
            heldout_ids, heldout_offsets = valid.ids, valid.line_offsets
        else:
            keep = self._heldout_lines(train, rng)
            counted_ids, counted_offsets = select_lines(train.ids, train.line_offsets, ~keep)
            heldout_ids, heldout_offsets = select_lines(train.ids, train.line_offsets, keep)
        self.features = count_all(
            Sentences.of(counted_ids, counted_offsets, self.bos_id), self.types, len(self.vocab)
        )
        if options.epochs:
            data = gather_heldout(
                self.features,
                Sentences.of(heldout_ids, heldout_offsets, self.bos_id),
                self.adjustment,
            )
            self.heldout_losses = train_adjustment(
                self.adjustment,
                data,
                epochs=options.epochs,
                lr=options.lr,
                batch_words=options.batch_words,
                rng=rng,
                on_epoch=lambda epoch, loss: log({"heldout_loss": loss}, epoch=epoch),
            )
            del data
        if options.heldout == "train" and options.recount:
            self.features = None  # free the first counts before counting again
            self.features = count_all(
                Sentences.of(train.ids, train.line_offsets, self.bos_id),
                self.types,
                len(self.vocab),
            )
        self.norms = self._normalisers()

    def _heldout_lines(self, train: TokenizedSplit, rng: np.random.Generator) -> np.ndarray:
        """Random train lines, about ``heldout_fraction`` of them, within the token cap."""
        lines = len(train.line_offsets) - 1
        if lines < 2:
            raise BenchError("snm: heldout=train needs at least two train lines")
        order = rng.permutation(lines)
        lengths = np.diff(train.line_offsets)[order]
        wanted = max(1, round(self.options.heldout_fraction * lines))
        within_cap = np.cumsum(lengths) <= self.options.heldout_max_tokens
        chosen = order[: max(1, min(wanted, int(within_cap.sum()), lines - 1))]
        keep = np.zeros(lines, dtype=bool)
        keep[chosen] = True
        return keep

    def _normalisers(self) -> list[np.ndarray]:
        """sum_w M[f, w] for every feature of every type, with the learned adjustment."""
        weights = self.adjustment.cell_weights()
        norms = []
        for type_index, table in enumerate(self._fitted().tables):
            base = self.adjustment.cell_base(type_index, table.totals)
            row_of = np.repeat(np.arange(len(table), dtype=np.int64), np.diff(table.pairs.indptr))
            cells = base[row_of] + log2_bucket(table.pairs.data, self.adjustment.pair_buckets)
            del row_of
            mass = (
                np.add.reduceat(weights[cells] * table.pairs.data, table.pairs.indptr[:-1])
                if table.pairs.nnz
                else np.zeros(len(table))
            )
            norms.append(mass / table.totals)
        return norms

    def statistics(self) -> dict[str, float]:
        """Features and pairs per type, memory, and the held-out loss before and after."""
        features = self._fitted()
        stats: dict[str, float] = {
            "features": float(features.feature_total()),
            "pairs": float(features.pair_total()),
            "model_bytes": float(features.nbytes() + sum(n.nbytes for n in self.norms)),
            "feature_types": float(len(self.types)),
        }
        if self.heldout_losses:
            stats["heldout_loss_initial"] = self.heldout_losses[0]
            stats["heldout_loss_final"] = self.heldout_losses[-1]
        stats["uniform_weight"] = self.adjustment.uniform_weight
        return stats

    # ------------------------------------------------------------------- scoring
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        offsets = split.line_offsets
        first_line = 0
        while first_line < len(offsets) - 1:
            # whole lines, about SCORE_CHUNK_TOKENS tokens at a time
            last_line = (
                int(
                    np.searchsorted(offsets, offsets[first_line] + SCORE_CHUNK_TOKENS, side="right")
                )
                - 1
            )
            last_line = min(max(last_line, first_line + 1), len(offsets) - 1)
            start, stop = int(offsets[first_line]), int(offsets[last_line])
            sentences = Sentences.of(
                split.ids[start:stop], offsets[first_line : last_line + 1] - start, self.bos_id
            )
            yield ScoredTokens.of(np.arange(start, stop), self._logprobs(sentences))
            first_line = last_line

    def _logprobs(self, sentences: Sentences) -> np.ndarray:
        """log P of the word at every target position of ``sentences``."""
        weights = self.adjustment.cell_weights()
        uniform = self.adjustment.uniform_weight
        words = sentences.seq[sentences.targets].astype(np.int64)
        y = np.full(len(words), uniform / len(self.vocab))
        z = np.full(len(words), uniform)
        for type_index, (table, rows) in enumerate(self._fitted().active_rows(sentences)):
            active = np.flatnonzero(rows != INACTIVE)
            rows = rows[active]
            z[active] += self.norms[type_index][rows]
            pair = table.pair_counts(rows, words[active])
            seen = pair > 0
            totals = table.totals[rows[seen]]
            cells = self.adjustment.cell_base(type_index, totals) + log2_bucket(
                pair[seen], self.adjustment.pair_buckets
            )
            y[active[seen]] += weights[cells] * pair[seen] / totals
        return np.log(y) - np.log(z)

    def next_token_logprobs(
        self,
        context: Sequence[int],
        *,
        sentence_start: bool = True,
    ) -> np.ndarray:
        """log P(w | context) for every vocabulary id ``w``: the whole distribution, summed
        feature by feature (a check of the normaliser, not a fast path). ``context`` is the
        sentence so far; without ``sentence_start`` no feature reaches past its start."""
        features = self._fitted()
        weights = self.adjustment.cell_weights()
        uniform = self.adjustment.uniform_weight
        ids = np.array([*context, self.vocab.eos_id], dtype=np.int64)
        sentences = Sentences.of(ids, np.array([0, len(ids)]), self.bos_id)
        if not sentence_start:  # drop the <s>: start the sentence at an unknown place
            sentences.offset[:] = np.arange(len(sentences.offset)) - 1
        last = len(sentences.targets) - 1
        y = np.full(len(self.vocab), uniform / len(self.vocab))
        z = uniform
        for type_index, (table, rows) in enumerate(features.active_rows(sentences)):
            row = int(rows[last])
            if row == INACTIVE:
                continue
            z += self.norms[type_index][row]
            lo, hi = table.pairs.indptr[row], table.pairs.indptr[row + 1]
            counts = table.pairs.data[lo:hi].astype(np.float64)
            cells = self.adjustment.cell_base(type_index, table.totals[row : row + 1])[
                0
            ] + log2_bucket(counts, self.adjustment.pair_buckets)
            np.add.at(y, table.pairs.indices[lo:hi], weights[cells] * counts / table.totals[row])
        return np.log(y) - np.log(z)

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        return EvalProtocol(
            mode="sentence", batch_size=1, context=max(kind.span for kind in self.types)
        )

    def num_parameters(self) -> int:
        """Non-zero entries of M (counted (feature, word) pairs) and the adjustment's theta."""
        if self.features is None:
            return 0
        return self.features.pair_total() + self.adjustment.parameters()

    def label(self) -> str:
        skip = " + skip-grams" if self.options.skip_remote_max else ""
        return f"SNM {self.options.order}-gram{skip}"

    def _fitted(self) -> FeatureSet:
        if self.features is None:
            raise BenchError("the SNM model is used before fit()")
        return self.features


@hookimpl
def register_models(register: Any) -> None:
    register("snm", SNMModel, aliases=("sparse-non-negative-matrix",))
