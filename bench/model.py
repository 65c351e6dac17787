"""The model contract: what a model plugin implements, and what the core hands it.

A model plugin subclasses :class:`LanguageModel`. The core builds it with validated
options, lets it train (optional) with a :class:`TrainingContext`, and asks it to
score splits. Scoring yields :class:`ScoredTokens` (positions into the split and the
natural-log probability of the token at each position); the core checks that every
position was scored exactly once and computes every metric itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import numpy as np

from bench.options import Options
from bench.tokens import TokenizedSplit, Vocabulary

if TYPE_CHECKING:
    from bench.evaluation import Evaluation

ScoringMode = Literal["stream", "sentence"]
T = TypeVar("T")


@dataclass(frozen=True)
class EvalProtocol:
    """How a split is scored; stored with every evaluation and shown in leaderboards.

    ``stream``: the split is one stream; state is carried over the whole split and the
    first token is conditioned on an implicit preceding end-of-sentence. ``batch_size``
    and ``context`` only change how the work is chunked, never the result.
    ``sentence``: each line is scored on its own as ``<s> ... </s>``.
    ``context`` is the window/bptt length, or None when state is carried without limit.
    """

    mode: ScoringMode
    batch_size: int
    context: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        context = "full" if self.context is None else str(self.context)
        return f"{self.mode}, batch {self.batch_size}, context {context}"


@dataclass(frozen=True)
class ScoredTokens:
    """Log-probabilities (natural log) of the tokens at ``positions`` of a split."""

    positions: np.ndarray
    logprobs: np.ndarray

    @classmethod
    def of(cls, positions: Any, logprobs: Any) -> ScoredTokens:
        """Accept numpy arrays, lists or (CPU or GPU) torch tensors."""
        return cls(np.asarray(_to_numpy(positions), dtype=np.int64).ravel(),
                   np.asarray(_to_numpy(logprobs), dtype=np.float64).ravel())


def _to_numpy(values: Any) -> Any:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        return values.detach().to("cpu").double().numpy() if values.is_floating_point() \
            else values.detach().to("cpu").numpy()
    return values


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
        evaluate: Callable[[TokenizedSplit], Evaluation],
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

    def evaluate(self, split: TokenizedSplit) -> Evaluation:
        """Score ``split`` with the model and return the core's metrics for it."""
        return self._evaluate(split)

    def log_metrics(self, metrics: dict[str, float], *, step: int | None = None,
                    epoch: int | None = None) -> None:
        """Store ``metrics`` (name -> number) for this run, at a step and/or epoch."""
        self._log_metrics(metrics, step, epoch)

    def progress(self, iterable: Iterable[T] | None = None, *, total: int | None = None,
                 desc: str = "", unit: str = "it") -> Iterator[T]:
        """A progress bar on stderr (tqdm), silent when stderr is not a terminal."""
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
    """

    Options: ClassVar[type[Options]] = Options
    scoring_mode: ClassVar[ScoringMode] = "stream"
    description: ClassVar[str] = ""
    uses_torch: ClassVar[bool] = True

    def __init__(self, options: Options, vocab: Vocabulary, device: str) -> None:
        self.options = options
        self.vocab = vocab
        self.device = device

    def fit(self, context: TrainingContext) -> None:
        """Train on ``context.train``; the default trains nothing (a fixed model)."""

    @abstractmethod
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterable[ScoredTokens]:
        """Yield log-probabilities of every token of ``split``, each position exactly once."""

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        """The protocol this model scores with; override to expose batch size and context."""
        return EvalProtocol(mode=self.scoring_mode, batch_size=1, context=None)

    def num_parameters(self) -> int:
        """Trainable parameters (or stored statistics), shown in leaderboards."""
        return 0

    def label(self) -> str:
        """A short human name for leaderboards, e.g. "LSTM 2x200 tied"."""
        return type(self).__name__

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
