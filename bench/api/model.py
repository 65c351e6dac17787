"""The model contract: what a model plugin implements, and what the core hands it.

A model plugin subclasses :class:`LanguageModel`. The core builds it with validated
options, lets it train (optional) with a :class:`TrainingContext`, and asks it to
score splits. Scoring yields :class:`ScoredTokens` (positions into the split and the
natural-log probability of the token at each position); the core checks that every
position was scored exactly once and computes every metric itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from bench.api.contract_types import (
    EvalProtocol,
    HiddenScores,
    ScoredTokens,
    ScoringMode,
    SplitEvaluation,
)
from bench.configuration.options import Options
from bench.errors import BenchError
from bench.tokenization.tokens import TokenizedSplit, Vocabulary

# ScoredTokens, EvalProtocol and ScoringMode live in bench.api.contract_types (a leaf module); they
# are re-exported here because plugins written before it import them from bench.model.
__all__ = ["EvalProtocol", "LanguageModel", "ScoredTokens", "ScoringMode", "TrainingContext"]

T = TypeVar("T")


class TrainingContext:
    """What the core hands a model for training: data, evaluation, logging and progress.

    ``resume`` is True when ``bench run --resume`` continues an interrupted run: a model
    that writes resumable checkpoints to ``artifacts_dir`` picks up from its last one
    (see ``bench.training``); any other model simply trains again from the start.

    ``evaluate`` scores a split with the model's own ``score`` through the core's metric
    definitions, so a validation perplexity logged during training means the same thing
    as the final one. ``log_metrics`` stores a row of metrics in the database and passes
    it to observer plugins.
    """

    def __init__(
        self,
        *,
        train: TokenizedSplit,
        valid: TokenizedSplit,
        device: str,
        seed: int,
        artifacts_dir: Path,
        evaluate: Callable[[TokenizedSplit], SplitEvaluation],
        log_metrics: Callable[[dict[str, float], int | None, int | None], None],
        progress: Callable[..., Any],
        record_train_throughput: Callable[[int, float], None],
        record_artifact: Callable[[str, Path], None],
        resume: bool = False,
        resumed_at: Callable[[int | None], None] = lambda step: None,
    ) -> None:
        self.train = train
        self.valid = valid
        self.device = device
        self.seed = seed
        self.artifacts_dir = artifacts_dir
        self._evaluate = evaluate
        self._log_metrics = log_metrics
        self._progress = progress
        self._record_train_throughput = record_train_throughput
        self._record_artifact = record_artifact
        self.resume = resume
        self._resumed_at = resumed_at

    def evaluate(self, split: TokenizedSplit) -> SplitEvaluation:
        """Score ``split`` with the model and return the core's metrics for it."""
        return self._evaluate(split)

    def log_metrics(
        self, metrics: dict[str, float], *, step: int | None = None, epoch: int | None = None
    ) -> None:
        """Store ``metrics`` (name -> number) for this run, at a step and/or epoch."""
        self._log_metrics(metrics, step, epoch)

    def progress(
        self,
        iterable: Iterable[T] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
    ) -> Iterator[T]:
        """A progress bar on stderr (tqdm), showing the running loss; where stderr is not
        a terminal, a progress line every ~30 s instead."""
        return self._progress(iterable, total=total, desc=desc, unit=unit)

    def record_train_throughput(self, tokens: int, seconds: float) -> None:
        """Report tokens trained on and the seconds spent (device-synchronised)."""
        self._record_train_throughput(tokens, seconds)

    def record_artifact(self, kind: str, path: Path) -> None:
        """Note a file the run produced (a checkpoint, say) in the database."""
        self._record_artifact(kind, path)

    def resumed_at(self, step: int | None) -> None:
        """Tell the core that a resumed run continues after ``step`` (None: from scratch).

        Metrics logged after that step by the interrupted attempt are dropped, since the
        resumed run logs them again; a ``resumed`` metric marks the point.
        """
        self._resumed_at(step)


class LanguageModel(ABC):
    """Base class of model plugins.

    Class attributes:
        Options: the pydantic options class (fields with defaults and descriptions).
        scoring_mode: "stream" (state carried over the split) or "sentence" (n-grams).
        description: one line for ``bench models``; defaults to the docstring's first line.
        uses_torch: False for a model that never touches torch (numpy only); the core then
            does not import torch for it (seeding, device, environment record).
        refit_to_restore: True for a model whose ``fit`` is cheap and gives the same model
            from the same train split (n-gram counts): ``bench rescore`` restores a stored run
            of it by fitting it again, where other models need a checkpoint.

    Required: :meth:`score`. Optional, with defaults: :meth:`fit`, :meth:`eval_protocol`,
    :meth:`num_parameters`, :meth:`label`, :meth:`flops_per_token`. Optional capabilities,
    which the core uses only when a model overrides them (ask with :meth:`supports`):

    - :meth:`load_checkpoint`: ``bench generate`` and ``bench probe gradients --run``
      rebuild a stored run's model and load the checkpoint its training recorded;
    - :meth:`generate`: ``bench generate`` samples text;
    - :attr:`network`: the torch module of a neural model; ``bench probe gradients``
      needs a recurrent one (the ``lstm``, ``gru`` and ``rnn`` plugins' network), and the
      ``dynamic-eval`` method of ``bench rescore`` one that scores a stream (see
      :meth:`score_with_hidden` and docs/evaluation-methods.md);
    - :meth:`score_with_hidden`: scoring that also hands over the hidden state behind each
      prediction; the ``neural-cache`` method of ``bench rescore`` needs it.
    """

    Options: ClassVar[type[Options]] = Options
    scoring_mode: ClassVar[ScoringMode] = "stream"
    description: ClassVar[str] = ""
    uses_torch: ClassVar[bool] = True
    refit_to_restore: ClassVar[bool] = False

    def __init__(self, options: Options, vocab: Vocabulary, device: str) -> None:
        self.options = options
        self.vocab = vocab
        self.device = device

    def fit(self, context: TrainingContext) -> None:  # noqa: B027 (optional: a default)
        """Train on ``context.train``; the default trains nothing (a fixed model)."""

    @abstractmethod
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterable[ScoredTokens]:
        """Yield log-probabilities of every token of ``split``, each position exactly once."""

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        """The protocol this model scores with; override to expose batch size and context
        (a ``window`` model must: its context and stride are part of its numbers)."""
        if self.scoring_mode == "window":
            raise BenchError(
                f"model {type(self).__name__} scores with windows but does not say their "
                "length and stride: its eval_protocol must return "
                'EvalProtocol("window", batch, context=L, stride=S)'
            )
        return EvalProtocol(mode=self.scoring_mode, batch_size=1, context=None)

    def num_parameters(self) -> int:
        """Trainable parameters (or stored statistics), shown in leaderboards."""
        return 0

    def label(self) -> str:
        """A short human name for leaderboards, e.g. "LSTM 2x200 tied"."""
        return type(self).__name__

    def flops_per_token(self) -> int | None:
        """Model FLOPs of one token's forward pass (matrix products, 2 per multiply-add; see
        :mod:`bench.training.flops`), from which a run reports its training arithmetic rate and the
        fraction of the device's peak it reaches; None (the default): not counted."""
        return None

    # ------------------------------------------------------- optional capabilities
    #: The model's torch network (an ``nn.Module``), or None for a model without one.
    #: A subclass overrides it, typically with a property that builds the network.
    network: Any = None

    def load_checkpoint(self, path: Path) -> None:
        """Load the weights that :meth:`fit` saved and recorded as a ``checkpoint`` artifact.

        .. versionadded:: 0.1
        """
        raise BenchError(f"model {type(self).__name__} cannot load checkpoints")

    def generate(
        self,
        prompt: Sequence[int],
        tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
        top_p: float | None = None,
    ) -> list[int]:
        """Sample ``tokens`` token ids after ``prompt`` (ids that follow an implicit
        end-of-sentence), at ``temperature``, among the ``top_k`` likeliest when given,
        and among the smallest set of likeliest tokens holding ``top_p`` of the probability
        when given (nucleus sampling; bench passes ``top_p`` only when the user sets it).

        .. versionadded:: 0.1
        .. versionchanged:: 0.2 ``top_p``
        """
        raise BenchError(f"model {type(self).__name__} cannot generate text")

    def score_with_hidden(
        self, split: TokenizedSplit, protocol: EvalProtocol
    ) -> Iterable[HiddenScores]:
        """What :meth:`score` yields, each chunk with the hidden states that predicted its
        tokens (the output layer's input vectors), for the continuous cache pointer.

        .. versionadded:: 0.2
        """
        raise BenchError(f"model {type(self).__name__} does not expose its hidden states")

    @classmethod
    def supports(cls, capability: str) -> bool:
        """Whether this model class overrides the optional ``capability``
        (``"load_checkpoint"``, ``"generate"``, ``"network"`` or ``"score_with_hidden"``)."""
        if capability not in OPTIONAL_CAPABILITIES:
            raise ValueError(
                f"unknown capability {capability!r}; "
                f"expected one of {', '.join(OPTIONAL_CAPABILITIES)}"
            )
        return getattr(cls, capability) is not getattr(LanguageModel, capability)

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


OPTIONAL_CAPABILITIES = ("load_checkpoint", "generate", "network", "score_with_hidden")
