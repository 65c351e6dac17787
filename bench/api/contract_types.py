"""The records a plugin receives and returns: plain data, no behaviour of the runner.

This is a leaf module (it imports only :mod:`bench.scoring.metrics`, :mod:`bench.tokenization.tokens` and
:mod:`bench.scoring.uncertainty`), so
the hook specifications, the model contract and the core can all name these types
without importing one another.

- :class:`ScoredTokens`: what a model's ``score`` yields.
- :class:`HiddenScores`: what a model's optional ``score_with_hidden`` yields.
- :class:`EvalProtocol`: how a split was scored (stored with every evaluation).
- :class:`SplitEvaluation`: one split, scored by the core (``run_finished`` receives them).
- :class:`RunInfo`: what the observer hooks learn about a run.
- :class:`LogDestination`: one ``--log-to KIND[:TARGET]``, a tracker the run is sent to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from bench.scoring.metrics import SplitMetrics
from bench.scoring.uncertainty import Interval, LineScores, perplexity_interval
from bench.tokenization.tokens import UnitCounts

ScoringMode = Literal["stream", "sentence", "window"]


@dataclass(frozen=True)
class EvalProtocol:
    """How a split is scored; stored with every evaluation and shown in leaderboards.

    ``stream``: the split is one stream; state is carried over the whole split and the
    first token is conditioned on an implicit preceding end-of-sentence. ``batch_size``
    and ``context`` only change how the work is chunked, never the result.
    ``sentence``: each line is scored on its own as ``<s> ... </s>``.
    ``window``: a model with a fixed context of ``context`` tokens scores the split as one
    stream through windows of ``context`` tokens advanced by ``stride``; every token is
    scored once, with at least ``context - stride`` tokens before it except in the first
    window (:mod:`bench.tokenization.windows`). The numbers depend on ``context`` and
    ``stride``, so both are stored; ``batch_size`` (windows per forward pass) never does.
    ``context`` is the window/bptt length, or None when state is carried without limit.
    """

    mode: ScoringMode
    batch_size: int
    context: int | None = None
    stride: int | None = None  # window mode only

    def __post_init__(self) -> None:
        if (self.mode == "window") != (self.stride is not None):
            raise ValueError("a window protocol has a stride, and only a window protocol has one")
        if self.mode == "window" and (self.context is None or not 1 <= self.stride <= self.context):
            raise ValueError(f"window protocol needs 1 <= stride <= context, got {self}")

    def describe(self) -> str:
        context = "full" if self.context is None else str(self.context)
        stride = "" if self.stride is None else f", stride {self.stride}"
        return f"{self.mode}, batch {self.batch_size}, context {context}{stride}"


@dataclass(frozen=True)
class ScoredTokens:
    """Log-probabilities (natural log) of the tokens at ``positions`` of a split."""

    positions: np.ndarray
    logprobs: np.ndarray

    @classmethod
    def of(cls, positions: Any, logprobs: Any) -> ScoredTokens:
        """Accept numpy arrays, lists or (CPU or GPU) torch tensors."""
        return cls(
            np.asarray(_to_numpy(positions), dtype=np.int64).ravel(),
            np.asarray(_to_numpy(logprobs), dtype=np.float64).ravel(),
        )


@dataclass(frozen=True)
class HiddenScores:
    """Scored tokens with the hidden state that predicted each one: ``hidden[i]`` is the
    vector the output layer turned into the distribution of the token at ``positions[i]``
    (what a model's optional ``score_with_hidden`` yields, for the continuous cache)."""

    positions: np.ndarray
    logprobs: np.ndarray
    hidden: np.ndarray  # [len(positions), hidden size], float32

    @classmethod
    def of(cls, positions: Any, logprobs: Any, hidden: Any) -> HiddenScores:
        """Accept numpy arrays, lists or (CPU or GPU) torch tensors."""
        scored = ScoredTokens.of(positions, logprobs)
        states = np.asarray(_to_numpy(hidden), dtype=np.float32)
        return cls(scored.positions, scored.logprobs, states.reshape(scored.positions.size, -1))

    def scored(self) -> ScoredTokens:
        return ScoredTokens(self.positions, self.logprobs)


def _to_numpy(values: Any) -> Any:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        return (
            values.detach().to("cpu").double().numpy()
            if values.is_floating_point()
            else values.detach().to("cpu").numpy()
        )
    return values


@dataclass(frozen=True)
class SplitEvaluation:
    """One split, scored: the core's metrics, the unit counts and the protocol used.

    (The database row of an evaluation is :class:`bench.store.schema.Evaluation`.)
    """

    split: str
    counts: UnitCounts
    protocol: EvalProtocol
    metrics: SplitMetrics
    seconds: float
    lines: LineScores | None = None  # per-line NLL and units, for intervals and comparisons
    # the log-probability of every token, for `bench combine` (kept with the evaluation)
    token_logprobs: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def ppl(self) -> float:
        return self.metrics.ppl

    @cached_property
    def ppl_interval(self) -> Interval | None:
        """95% bootstrap interval of ``ppl`` over the split's lines (computed on first use:
        the per-epoch validation passes of training never pay for it)."""
        return perplexity_interval(self.lines) if self.lines is not None else None

    @property
    def tokens_per_second(self) -> float:
        return self.counts.tokens / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class LogDestination:
    """One ``--log-to KIND[:TARGET]``: ``kind`` names the observer plugin that sends the run
    there (``tensorboard``, ``mlflow``, ``wandb``, ``csv`` or a third party's), ``target``
    is what that plugin makes of the rest (a folder, a tracking URI, a project), or None."""

    kind: str
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> LogDestination:
        kind, _, target = text.strip().partition(":")
        return cls(kind.strip().lower(), target.strip() or None)

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


@dataclass(frozen=True)
class RunInfo:
    """What observer hooks learn about a recorded run: its id, names, device and resolved
    configuration (the RunConfig as the RunPlan resolved it), frozen.

    ``log_to``: the trackers the user asked for (``--log-to``); a logger plugin acts on the
    destinations whose ``kind`` is its name. ``database``: the database holding the run
    (password masked); with ``run_id`` it names the run across processes, so a resumed
    run finds the series it continues.
    """

    run_id: int
    plugin: str
    corpus: str
    tokenizer: str
    device: str
    config: dict[str, Any]
    log_to: tuple[LogDestination, ...] = ()
    database: str = ""

    def destinations(self, kind: str) -> list[LogDestination]:
        """The destinations of ``kind`` this run is sent to."""
        return [destination for destination in self.log_to if destination.kind == kind]
