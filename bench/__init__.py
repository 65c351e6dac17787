"""bench: re-measure language-model perplexity tables on your own hardware.

A plugin imports everything it needs from here::

    from bench import LanguageModel, Options, ScoredTokens, hookimpl

Only ``hookimpl`` is imported eagerly; the other names load their module on first use
(PEP 562), so ``import bench`` and ``bench --help`` stay instant and never import torch.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from bench.hookspecs import hookimpl

if TYPE_CHECKING:
    from bench.corpora import Checksum, CorpusSpec, SplitFile
    from bench.model import LanguageModel, TrainingContext
    from bench.options import Options
    from bench.output_layers import OutputLayer, OutputLayerChoice
    from bench.output_network import OutputNetwork
    from bench.records import EvalProtocol, RunInfo, ScoredTokens, ScoringMode, SplitEvaluation
    from bench.tokenizers import Tokenizer
    from bench.tokens import TokenizedSplit, UnitCounts, Vocabulary

# The version is declared once, in pyproject.toml; the installed metadata carries it. The
# distribution is "bench-lm" ("bench" on PyPI is another project); the package is `bench`.
try:
    __version__ = metadata.version("bench-lm")
except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

# public name -> the module that defines it
_LAZY = {
    "LanguageModel": "bench.model",
    "TrainingContext": "bench.model",
    "Options": "bench.options",
    "OutputLayer": "bench.output_layers",
    "OutputLayerChoice": "bench.output_layers",
    "OutputNetwork": "bench.output_network",  # imports torch
    "EvalProtocol": "bench.records",
    "RunInfo": "bench.records",
    "ScoredTokens": "bench.records",
    "ScoringMode": "bench.records",
    "SplitEvaluation": "bench.records",
    "Checksum": "bench.corpora",
    "CorpusSpec": "bench.corpora",
    "SplitFile": "bench.corpora",
    "Tokenizer": "bench.tokenizers",
    "TokenizedSplit": "bench.tokens",
    "UnitCounts": "bench.tokens",
    "Vocabulary": "bench.tokens",
}

__all__ = [
    "Checksum",
    "CorpusSpec",
    "EvalProtocol",
    "LanguageModel",
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
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
