"""The evaluation-method contract: what a method plugin implements for ``bench rescore``.

An evaluation method scores a split again with a trained model *and something done at
scoring time*: a cache of the recent past, or updates of the weights on text already
scored (dynamic evaluation). It never retrains the model. The core restores the stored
run's model, hands the method a :class:`RescoreBase` and asks it to score the valid and
test splits; it checks that every token is scored exactly once and computes every metric
itself, as for a model. The core also tries the method's validation grid (hyperparameters
are chosen on validation only) and stores the search with the new run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from bench.api.contract_types import EvalProtocol, ScoredTokens
from bench.api.model import LanguageModel
from bench.configuration.options import Options
from bench.scoring.exactly_once import collect_logprobs
from bench.tokenization.tokens import TokenizedSplit

T = TypeVar("T")


class RescoreBase:
    """What a method works from: the restored model, its vocabulary, the train split, and
    the base model's own scores of a split. Those are computed once per split (a grid
    search does not score the model again) and checked by the core as any scoring is:
    every position exactly once, finite log-probabilities not above zero."""

    def __init__(
        self,
        model: LanguageModel,
        train: TokenizedSplit,
        progress: Callable[..., Iterable[Any]] | None = None,
    ) -> None:
        self.model = model
        self.vocab = model.vocab
        self.train = train
        self._progress = progress
        # a method's own work that every point of the grid can reuse (statistics of train)
        self.shared: dict[Any, Any] = {}
        self._logprobs: dict[str, np.ndarray] = {}
        self._hidden: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def progress(
        self, iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
    ) -> Iterable[T]:
        """``iterable``, shown as a progress bar on stderr where the user asked for one (a
        long pass of a method, such as dynamic evaluation's segments)."""
        if self._progress is None:
            return iterable
        return self._progress(iterable, total=total, desc=desc, unit=unit)

    def logprobs(self, split: TokenizedSplit) -> np.ndarray:
        """log p_model(token) at every position of ``split``, in position order."""
        if split.name not in self._logprobs:
            scored = self.model.score(split, self.model.eval_protocol(split))
            self._logprobs[split.name] = collect_logprobs(split, scored)
        return self._logprobs[split.name]

    def hidden_states(self, split: TokenizedSplit) -> tuple[np.ndarray, np.ndarray]:
        """The model's log-probabilities and, row by row, the hidden state that predicted
        each token, in position order (the model's optional ``score_with_hidden``)."""
        if split.name not in self._hidden:
            chunks = list(self.model.score_with_hidden(split, self.model.eval_protocol(split)))
            logprobs = collect_logprobs(split, (chunk.scored() for chunk in chunks))
            width = chunks[0].hidden.shape[1]
            hidden = np.zeros((len(split), width), dtype=np.float32)
            for chunk in chunks:
                hidden[chunk.positions] = chunk.hidden
            self._hidden[split.name] = (logprobs, hidden)
        return self._hidden[split.name]


class EvalMethod(ABC):
    """Base class of evaluation methods.

    Class attributes:
        Options: the pydantic options (``bench rescore --set KEY=VALUE``).
        description: one line for ``bench rescore --help``'s list; defaults to the docstring.
        shown_as: how the leaderboard names a rescored run: ``"<model label> + <shown_as>"``.
        requires: optional model capabilities (``LanguageModel.supports``) the method needs;
            the core refuses a run whose model lacks one, before any work.
        search: the validation grid, option name -> values to try; an option given with
            ``--set`` is fixed and not searched. The core scores valid once per point of
            the grid and keeps the best.
    """

    Options: ClassVar[type[Options]] = Options
    description: ClassVar[str] = ""
    shown_as: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    search: ClassVar[dict[str, Sequence[Any]]] = {}

    def __init__(self, options: Options, base: RescoreBase) -> None:
        self.options = options
        self.base = base

    @abstractmethod
    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterable[ScoredTokens]:
        """Yield log-probabilities of every token of ``split``, each position exactly once,
        each from the model and what the method learnt from *earlier* positions only."""

    def eval_protocol(self, split: TokenizedSplit) -> EvalProtocol:
        """The protocol stored with the evaluation: the base model's, by default."""
        return self.base.model.eval_protocol(split)

    def label(self, model_label: str) -> str:
        """The leaderboard's name of the rescored run, e.g. "KN5 + unigram cache"."""
        return f"{model_label} + {self.shown_as or type(self).__name__}"

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
