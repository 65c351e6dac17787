"""The ``kn`` model plugin: interpolated modified Kneser-Ney n-grams, as KenLM's lmplz.

The count-based baseline at the top of every perplexity table (KN5 on PTB: 141.2).
Estimation and scoring live in :mod:`bench_plugins.kn.in_memory` (numpy only: n-grams
are integers, tables are sorted arrays); ARPA output in :mod:`bench_plugins.kn.arpa`.

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
    bench run --plugin kn --corpus one-billion-word --set memory=8G  # within 8 GB, on disk

Without ``memory`` the model is estimated in memory (:mod:`bench_plugins.kn.in_memory`,
the fast path for corpora up to ~10M tokens); with it, on disk within that budget
(:mod:`bench_plugins.kn.on_disk`), giving the very same model. See docs/kneser-ney.md.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from bench import (
    BenchError,
    EvalProtocol,
    LanguageModel,
    Options,
    ScoredTokens,
    TokenizedSplit,
    TrainingContext,
    Vocabulary,
    hookimpl,
)
from bench_plugins.kn.arpa import write_arpa
from bench_plugins.kn.in_memory import (
    PAD,
    Discounts,
    OrderTable,
    estimate,
    score_sequence,
    with_sentence_starts,
)
from bench_plugins.kn.on_disk import estimate_budgeted, key_samples, score_on_disk
from bench_plugins.kn.scratch import TempSpace, format_size, parse_size


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

    memory: str | None = Field(
        None,
        description="estimate on disk within this much working memory, e.g. 8G or 512M "
        "(like lmplz's -S): for train splits too big for memory. Unset: the "
        "faster in-memory estimate. The interpreter, libraries and vocabulary "
        "come on top (see docs/kneser-ney.md)",
    )
    temp_dir: str | None = Field(
        None,
        description="folder for the temporary files of memory=... (default: tmp/kn in "
        "bench's data folder); they are removed when the run ends",
    )

    @field_validator("memory")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)  # a ValueError here is reported as a bad option
        return value

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
    refit_to_restore = True  # counting again is quick and exact: no checkpoint needed

    def __init__(self, options: KNOptions, vocab: Vocabulary, device: str) -> None:
        super().__init__(options, vocab, device)
        self.options: KNOptions = options
        self.bos_id = len(vocab)  # <s>: an id just past the vocabulary, never predicted
        self.tables: list[OrderTable] = []
        self.space: TempSpace | None = None  # the on-disk tables of memory=...
        self._key_samples: list[np.ndarray] = []  # every 512th key, to search them on disk

    # ------------------------------------------------------------------ training
    def fit(self, context: TrainingContext) -> None:
        started = time.perf_counter()
        if self.options.memory is None:
            self.fit_split(context.train)
        else:
            # the run's folder is <data folder>/runs/<database>/<run id>
            root = (
                Path(self.options.temp_dir).expanduser()
                if self.options.temp_dir
                else context.artifacts_dir.parents[2] / "tmp" / "kn"
            )
            self.fit_split(
                context.train,
                temp_root=root,
                progress=context.progress,
                on_pass=lambda name, seconds: context.log_metrics(
                    {f"pass_{name}_seconds": seconds}
                ),
            )
            assert self.space is not None
            context.log_metrics(
                {
                    "memory_budget_mb": parse_size(self.options.memory) / 2**20,
                    "temp_disk_peak_mb": self.space.peak_bytes / 2**20,
                    "temp_disk_stale_removed_mb": self.space.stale_bytes_removed / 2**20,
                }
            )
        # counting is the training of a count model: its speed is the train throughput
        context.record_train_throughput(len(context.train), time.perf_counter() - started)
        context.log_metrics(self.statistics())
        if self.options.arpa:
            path = Path(self.options.arpa).expanduser().resolve()
            self.export_arpa(path)
            context.record_artifact("arpa", path)

    def fit_split(
        self,
        train: TokenizedSplit,
        *,
        temp_root: Path | None = None,
        progress: Callable[..., Iterable[Any]] | None = None,
        on_pass: Callable[[str, float], None] | None = None,
    ) -> None:
        """Estimate the model from a tokenized split (what ``fit`` does, without a run).

        With the ``memory`` option the estimate runs on disk in a temporary folder under
        ``temp_root`` (default: the system's temporary folder), which holds the model's
        tables until this model is garbage collected or the interpreter exits; ``progress``
        (tqdm-like) shows each pass and ``on_pass(name, seconds)`` hears of each one.
        """
        fallback = self.options.fallback_discounts if self.options.discount_fallback else None
        self.close()
        if self.options.memory is None:
            check_fits_in_memory(len(train) + train.counts.lines, self.options.order)
            seq = with_sentence_starts(train.ids, train.line_offsets, self.bos_id)
            self.tables = estimate(seq, self.options.order, self.bos_id, fallback)
            return
        space = TempSpace(temp_root or Path(tempfile.gettempdir()) / "bench-kn")
        try:
            self.tables = estimate_budgeted(
                train.ids,
                train.line_offsets,
                self.options.order,
                self.bos_id,
                parse_size(self.options.memory),
                space,
                fallback,
                progress=progress or (lambda iterable, **_: iterable),
                on_pass=on_pass,
            )
        except BaseException:  # Ctrl-C included: nothing is left on disk
            space.close()
            raise
        self.space = space

    def close(self) -> None:
        """Drop the model and remove its temporary files (memory=...); fit again to use it."""
        self.tables = []
        self._key_samples = []
        if self.space is not None:
            self.space.close()
            self.space = None

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
            stats.update(
                {f"discount_{k}_1": d.d1, f"discount_{k}_2": d.d2, f"discount_{k}_3plus": d.d3}
            )
            stats.update(
                {
                    f"count_of_counts_{k}_{j}": float(t)
                    for j, t in enumerate(d.count_of_counts, start=1)
                }
            )
            if d.fallback:
                stats[f"discount_{k}_fallback"] = 1.0
        return stats

    def export_arpa(self, path: str | Path) -> None:
        """Write the model as an ARPA file (log10 probabilities and backoffs)."""
        write_arpa(Path(path), self._fitted(), self.vocab.tokens, self.vocab.eos_id)

    # ------------------------------------------------------------------- scoring
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        seq = with_sentence_starts(split.ids, split.line_offsets, self.bos_id)
        if self.space is None:
            logprobs = score_sequence(self._fitted(), seq, self.bos_id)
        else:
            if not self._key_samples:
                self._key_samples = key_samples(self._fitted())
            logprobs = score_on_disk(
                self._fitted(),
                seq,
                self.bos_id,
                parse_size(self.options.memory or 0),
                self._key_samples,
            )
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


# Peak bytes per token position of the in-memory estimate, at order k: about 24 k + 8
# (measured 12.8 GB at 100M tokens, order 5, on WikiText-2 with permuted copies).
IN_MEMORY_BYTES_PER_POSITION = (24, 8)


def available_memory() -> int | None:
    """Bytes the kernel can give without swapping (MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits_in_memory(positions: int, order: int) -> None:
    """Refuse, before starting, an in-memory estimate that cannot fit, and name a budget."""
    per_position, fixed = IN_MEMORY_BYTES_PER_POSITION
    needed = positions * (per_position * order + fixed)
    available = available_memory()
    if available is None or needed <= available:
        return
    half = min(8 * 2**30, available // 2)  # leave the other half to the page cache
    suggested = f"{half // 2**30}G" if half >= 2**30 else f"{max(1, half // 2**20)}M"
    raise BenchError(
        f"estimating a {order}-gram model in memory from {positions:,} token positions "
        f"needs about {format_size(needed)}, but only {format_size(available)} is "
        f"available; estimate it on disk within a budget instead: --set memory={suggested}"
    )


@hookimpl
def register_models(register: Any) -> None:
    register("kn", KNModel, aliases=("kneser-ney",))
