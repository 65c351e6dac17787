"""bench: re-measure language-model perplexity tables on your own hardware.

A plugin imports everything it needs from here::

    from bench import LanguageModel, Options, ScoredTokens, hookimpl

Only ``hookimpl`` is imported eagerly; the other names load their module on first use
(PEP 562), so ``import bench`` and ``bench --help`` stay instant and never import torch.
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata
from typing import TYPE_CHECKING, Any

from bench import _moved
from bench.api.hookspecs import hookimpl

# old module paths (bench.model, bench.tokens, ...) keep importing, with a DeprecationWarning
_moved.install()

if TYPE_CHECKING:
    from bench.api.contract_types import (
        EvalProtocol,
        LogDestination,
        RunInfo,
        ScoredTokens,
        ScoringMode,
        SplitEvaluation,
    )
    from bench.api.model import LanguageModel, TrainingContext
    from bench.api.output_layers import OutputLayer, OutputLayerChoice
    from bench.api.output_network import OutputNetwork
    from bench.configuration.options import Options
    from bench.corpora import Checksum, CorpusSpec, SplitFile
    from bench.tokenization.tokenizers import Tokenizer
    from bench.tokenization.tokens import TokenizedSplit, UnitCounts, Vocabulary

# The version is declared once, in pyproject.toml; the installed metadata carries it. The
# distribution is "bench-lm" ("bench" on PyPI is another project); the package is `bench`.
try:
    __version__ = metadata.version("bench-lm")
except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

# public name -> the module that defines it
_LAZY = {
    "LanguageModel": "bench.api.model",
    "TrainingContext": "bench.api.model",
    "Options": "bench.configuration.options",
    "OutputLayer": "bench.api.output_layers",
    "OutputLayerChoice": "bench.api.output_layers",
    "OutputNetwork": "bench.api.output_network",  # imports torch
    "EvalProtocol": "bench.api.contract_types",
    "RunInfo": "bench.api.contract_types",
    "LogDestination": "bench.api.contract_types",
    "ScoredTokens": "bench.api.contract_types",
    "ScoringMode": "bench.api.contract_types",
    "SplitEvaluation": "bench.api.contract_types",
    "Checksum": "bench.corpora",
    "CorpusSpec": "bench.corpora",
    "SplitFile": "bench.corpora",
    "Tokenizer": "bench.tokenization.tokenizers",
    "TokenizedSplit": "bench.tokenization.tokens",
    "UnitCounts": "bench.tokenization.tokens",
    "Vocabulary": "bench.tokenization.tokens",
}

__all__ = [
    "Checksum",
    "CorpusSpec",
    "EvalProtocol",
    "LanguageModel",
    "LogDestination",
    "Options",
    "OutputLayer",
    "OutputLayerChoice",
    "OutputNetwork",
    "RunInfo",
    "ScoredTokens",
    "ScoringMode",
    "SplitEvaluation",
    "SplitFile",
    "TokenizedSplit",
    "Tokenizer",
    "TrainingContext",
    "UnitCounts",
    "Vocabulary",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if f"bench.{name}" in _moved.MOVES:  # `bench.model` after `import bench`, as before the move
        with warnings.catch_warnings():  # said below, where the caller's line is known
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module(f"bench.{name}")
        warnings.warn(
            f"bench.{name} is deprecated: it moved to {_moved.MOVES[f'bench.{name}']}",
            DeprecationWarning,
            stacklevel=2,
        )
        return module
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
