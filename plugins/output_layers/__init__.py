"""The built-in output layers: full, sampled, nce, blackout, adaptive and class softmax.

Registered through the ``register_output_layers`` hook like any plugin's. This module
holds only the light classes (options, descriptions, labels) so that ``bench
output-layers`` stays instant; each ``build`` imports its torch module lazily from
``bench_plugins.output_layers.softmax``, ``output_sampling`` or ``output_factored``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from bench import BenchError, Options, OutputLayer, hookimpl

# Adaptive softmax cutoffs when none are given: a head of the 2,000 most frequent words
# and tail clusters about 5x larger each (Grave et al. 2017 use a small head of frequent
# words and a few clusters of rarer ones), kept below the vocabulary size.
DEFAULT_CUTOFF_LADDER = (2_000, 10_000, 50_000, 250_000)


def eval_chunk_field() -> Any:
    """The option of every layer scored by the full softmax over its weights."""
    return Field(
        16_384,
        ge=1,
        description="vocabulary rows per chunk of the exact softmax "
        "when scoring (memory only; the result is the same)",
    )


class FullOptions(Options):
    eval_chunk: int = eval_chunk_field()


class SampledOptions(Options):
    samples: int = Field(
        1024,
        ge=1,
        description="proposal draws per batch, shared by every position (duplicates merged)",
    )
    proposal: Literal["log-uniform", "unigram"] = Field(
        "log-uniform",
        description="log-uniform (Zipfian) over train frequency ranks, or the "
        "train unigram raised to alpha",
    )
    alpha: float = Field(
        0.75,
        ge=0,
        le=1,
        description="unigram power for proposal=unigram (0.75 as in word2vec, Mikolov et al. 2013)",
    )
    remove_accidental_hits: bool = Field(
        True,
        description="drop a sampled word from the negatives of the positions whose target it is",
    )
    eval_chunk: int = eval_chunk_field()


class NCEOptions(Options):
    samples: int = Field(
        256,
        ge=1,
        description="noise words k drawn from the train unigram per "
        "batch, shared by every position",
    )
    eval_chunk: int = eval_chunk_field()


class BlackOutOptions(Options):
    samples: int = Field(
        256,
        ge=1,
        description="words K drawn from unigram^alpha per batch, "
        "shared by every position (duplicates merged, the target excluded)",
    )
    alpha: float = Field(
        0.75,
        ge=0,
        le=1,
        description="unigram power of the sampling distribution (0: uniform, 1: unigram)",
    )
    eval_chunk: int = eval_chunk_field()


class AdaptiveOptions(Options):
    cutoffs: list[int] | None = Field(
        None,
        description="frequency ranks where the head and each tail cluster end, "
        "e.g. 2000,10000 [default: 2000, 10000, 50000, 250000 below the vocabulary size; a "
        "quarter of it for vocabularies of 2000 words or fewer]",
    )
    div_value: float = Field(
        4.0,
        ge=1,
        description="each tail cluster's projection is this many times smaller than the "
        "previous one's (1: every cluster as wide as the head, as Transformer-XL's "
        "WikiText-103 base model)",
    )

    @field_validator("cutoffs", mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        """--set output.cutoffs=2000,10000 (or [2000, 10000]) arrives as a string."""
        if isinstance(value, str):
            return [part for part in re.split(r"[\s,\[\]]+", value) if part]
        return value

    @field_validator("cutoffs")
    @classmethod
    def _increasing(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (
            not value or value[0] < 1 or any(b <= a for a, b in itertools.pairwise(value))
        ):
            raise ValueError("cutoffs must be positive and strictly increasing")
        return value


class ClassOptions(Options):
    classes: int | None = Field(
        None,
        ge=1,
        description="word classes [default: the square root "
        "of the vocabulary size, Mikolov et al. 2011]",
    )
    binning: Literal["frequency", "sqrt"] = Field(
        "frequency",
        description="classes of equal unigram mass (frequency) or of equal "
        "sqrt-unigram mass (sqrt, smaller rare-word classes)",
    )


class FullSoftmax(OutputLayer):
    """Exact softmax over the whole vocabulary (scored in vocabulary chunks)."""

    Options = FullOptions
    exact = True
    tieable = True

    @classmethod
    def build(
        cls, hidden_size: int, vocab_size: int, counts: Sequence[float] | None, options: Any
    ) -> Any:
        from bench_plugins.output_layers.softmax import FullSoftmaxModule

        return FullSoftmaxModule(hidden_size, vocab_size, options.eval_chunk)

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        return "full softmax"


class _SamplingLayer(OutputLayer):
    """A layer trained on a sample of the vocabulary and scored by the full softmax over
    its weights; its torch module lives in ``bench_plugins.output_layers.sampling``."""

    exact = False
    tieable = True
    module: ClassVar[str]

    @classmethod
    def build(
        cls, hidden_size: int, vocab_size: int, counts: Sequence[float] | None, options: Any
    ) -> Any:
        from bench_plugins.output_layers import sampling as output_sampling

        return getattr(output_sampling, cls.module)(hidden_size, vocab_size, counts, options)


class SampledSoftmax(_SamplingLayer):
    """Sampled softmax (Jean et al. 2015): shared negatives, log-inclusion correction."""

    Options = SampledOptions
    module = "SampledSoftmaxModule"

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        proposal = (
            "log-uniform" if options.proposal == "log-uniform" else f"unigram^{options.alpha:g}"
        )
        return f"sampled softmax {options.samples} {proposal}"


class NoiseContrastive(_SamplingLayer):
    """Noise-contrastive estimation (Mnih & Teh 2012), k noise words from the unigram."""

    Options = NCEOptions
    module = "NCEModule"

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        return f"NCE {options.samples}"


class BlackOut(_SamplingLayer):
    """BlackOut (Ji et al. 2015): weighted sampling with a discriminative objective."""

    Options = BlackOutOptions
    module = "BlackOutModule"

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        return f"BlackOut {options.samples} unigram^{options.alpha:g}"


class AdaptiveSoftmax(OutputLayer):
    """Adaptive softmax (Grave et al. 2017): frequency-sorted clusters, exact probabilities."""

    Options = AdaptiveOptions
    exact = True
    tieable = False

    @classmethod
    def build(
        cls, hidden_size: int, vocab_size: int, counts: Sequence[float] | None, options: Any
    ) -> Any:
        from bench_plugins.output_layers.factored import AdaptiveSoftmaxModule

        cutoffs = adaptive_cutoffs(options, vocab_size)
        check_tail_projections(hidden_size, cutoffs, options.div_value)
        return AdaptiveSoftmaxModule(hidden_size, vocab_size, cutoffs, options.div_value, counts)

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        cutoffs = "/".join(str(c) for c in adaptive_cutoffs(options, vocab_size))
        return f"adaptive softmax {cutoffs}"


class ClassSoftmax(OutputLayer):
    """Class-based softmax (Mikolov et al. 2011): P(class) x P(word | class), exact."""

    Options = ClassOptions
    exact = True
    tieable = True

    @classmethod
    def build(
        cls, hidden_size: int, vocab_size: int, counts: Sequence[float] | None, options: Any
    ) -> Any:
        from bench_plugins.output_layers.factored import ClassSoftmaxModule

        return ClassSoftmaxModule(
            hidden_size, vocab_size, class_count(options, vocab_size), options.binning, counts
        )

    @classmethod
    def describe(cls, options: Any, vocab_size: int) -> str:
        binning = ", sqrt binning" if options.binning == "sqrt" else ""
        return f"class softmax {class_count(options, vocab_size)}{binning}"


def adaptive_cutoffs(options: AdaptiveOptions, vocab_size: int) -> list[int]:
    """The options' cutoffs, or the default ladder for this vocabulary size."""
    if options.cutoffs is not None:
        if options.cutoffs[-1] >= vocab_size:
            raise BenchError(
                f"output layer adaptive: cutoffs {options.cutoffs} must be below "
                f"the vocabulary size ({vocab_size})"
            )
        return list(options.cutoffs)
    ladder = [c for c in DEFAULT_CUTOFF_LADDER if c < vocab_size]
    return ladder or [max(1, vocab_size // 4)]


def check_tail_projections(hidden_size: int, cutoffs: list[int], div_value: float) -> None:
    """Refuse a tail cluster whose projection would have no units.

    Tail cluster i projects the features to hidden // div_value^(i+1) units (torch's
    AdaptiveLogSoftmaxWithLoss); at 0 every word of that cluster would get the same
    probability whatever the context, silently. With hidden 200 and the default ladder
    (4 cutoffs, div_value 4) that is the rarest cluster.
    """
    for i, start in enumerate(cutoffs):
        if int(hidden_size // div_value ** (i + 1)) < 1:
            fewer = ",".join(str(c) for c in cutoffs[:i]) or None
            hint = (
                f"output.cutoffs={fewer} or " if fewer else ""
            ) + f"a div_value of at most {hidden_size ** (1 / (i + 1)):.3g}"
            raise BenchError(
                f"output layer adaptive: tail cluster {i + 1} (frequency ranks {start} and "
                f"up) would be projected to {hidden_size} // {div_value:g}^{i + 1} = 0 units "
                f"of the {hidden_size} the model hands it, so its words could not depend on "
                f"the context; use {hint}"
            )


def class_count(options: ClassOptions, vocab_size: int) -> int:
    return options.classes if options.classes is not None else max(1, round(math.sqrt(vocab_size)))


@hookimpl
def register_output_layers(register: Any) -> None:
    register("full", FullSoftmax, aliases=("softmax",))
    register("sampled", SampledSoftmax, aliases=("sampled-softmax",))
    register("nce", NoiseContrastive)
    register("blackout", BlackOut)
    register("adaptive", AdaptiveSoftmax, aliases=("adaptive-softmax",))
    register("class", ClassSoftmax, aliases=("class-softmax",))
