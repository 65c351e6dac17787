"""Dynamic evaluation (Krause et al. 2018): the method; its options are in
:mod:`bench_plugins.eval_methods.dynamic_options`, its torch loop in
:mod:`bench_plugins.eval_methods.dynamic_loop`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from bench import EvalMethod, EvalProtocol, ScoredTokens, TokenizedSplit
from bench_plugins.eval_methods.dynamic_options import DynamicOptions


class DynamicEvaluation(EvalMethod):
    """Dynamic evaluation (Krause et al. 2018): the split is cut into segments; each is
    scored with the current weights, then the weights take one gradient step on it (SGD or
    the RMS-normalised rule) with a decay towards the trained weights."""

    Options = DynamicOptions
    description = "dynamic evaluation: a gradient step on each segment once scored (Krause et al.)"
    shown_as = "dynamic evaluation"
    requires = ("network",)
    # for the default rule (rms) around the step sizes that helped a 2x200 LSTM on PTB's
    # valid split (docs/evaluation-methods.md); rule=sgd needs steps ~10^4 times larger
    search: ClassVar[dict[str, list[float | int | str]]] = {
        "lr": [0.00003, 0.0001, 0.0003],
        "decay": [0.0, 0.001, 0.01],
    }

    def score(self, split: TokenizedSplit, protocol: EvalProtocol) -> Iterator[ScoredTokens]:
        from bench_plugins.eval_methods.dynamic_loop import dynamic_scores

        return dynamic_scores(self.base, split, self.options)  # type: ignore[arg-type]

    def label(self, model_label: str) -> str:
        rule = "RMS" if self.options.rule == "rms" else "SGD"  # type: ignore[attr-defined]
        return f"{model_label} + dynamic evaluation ({rule})"
