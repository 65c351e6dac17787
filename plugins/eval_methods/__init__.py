"""The built-in evaluation methods of ``bench rescore``: caches and dynamic evaluation.

Registered through the ``register_eval_methods`` hook like any plugin's, using only the
public door (``bench``). This module holds the light classes (options, grids, labels); the
torch work of the neural cache and of dynamic evaluation is imported when they score.

- ``cache``: a unigram cache of the last ``window`` tokens, interpolated with any model
  (Kuhn & De Mori 1990; the "KN5 + cache" row of Mikolov et al. 2011);
- ``neural-cache``: the continuous cache pointer over a model's hidden states
  (Grave, Joulin & Usunier 2017);
- ``dynamic-eval``: gradient steps on each segment once it is scored, SGD or the
  RMS-normalised rule with decay towards the trained weights (Krause et al. 2018).
"""

from __future__ import annotations

from typing import Any

from bench import hookimpl
from bench_plugins.eval_methods.caches import NeuralCache, UnigramCache
from bench_plugins.eval_methods.dynamic import DynamicEvaluation


@hookimpl
def register_eval_methods(register: Any) -> None:
    register("cache", UnigramCache, aliases=("unigram-cache",))
    register("neural-cache", NeuralCache, aliases=("pointer", "continuous-cache"))
    register("dynamic-eval", DynamicEvaluation, aliases=("dynamic-evaluation",))
