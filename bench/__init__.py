"""bench: re-measure language-model perplexity tables on your own hardware.

A plugin imports everything it needs from here (the names of ``__all__``), and a plugin
that trains a network the toolkit of :mod:`bench.training`; nothing else in bench is
promised to stay where it is (docs/hooks.md, "The door")::

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
        HiddenScores,
        LogDestination,
        RunInfo,
        ScoredTokens,
        ScoringMode,
        SplitEvaluation,
    )
    from bench.api.eval_method import EvalMethod, RescoreBase
    from bench.api.hookspecs import (
        RegisterCorpus,
        RegisterEvalMethod,
        RegisterModel,
        RegisterOutputLayer,
        RegisterTokenizer,
    )
    from bench.api.model import LanguageModel, TrainingContext
    from bench.api.output_layer_base import OutputLayer
    from bench.api.output_layers import OutputLayerChoice, output_label
    from bench.api.output_network import OutputNetwork
    from bench.configuration.options import Options
    from bench.corpora import Checksum, CorpusSpec, SplitFile
    from bench.errors import BenchError
    from bench.tokenization.sentencepiece_tokenizers import (
        SentencePieceBPETokenizer,
        SentencePieceUnigramTokenizer,
    )
    from bench.tokenization.tokenizers import CharTokenizer, Tokenizer, WordTokenizer
    from bench.tokenization.tokens import TokenizedSplit, UnitCounts, Vocabulary, token_counts

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
    "OutputLayer": "bench.api.output_layer_base",
    "OutputLayerChoice": "bench.api.output_layers",
    "OutputNetwork": "bench.api.output_network",  # imports torch
    "EvalProtocol": "bench.api.contract_types",
    "HiddenScores": "bench.api.contract_types",
    "EvalMethod": "bench.api.eval_method",
    "RescoreBase": "bench.api.eval_method",
    "RegisterEvalMethod": "bench.api.hookspecs",
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
    "token_counts": "bench.tokenization.tokens",
    "BenchError": "bench.errors",
    "RegisterModel": "bench.api.hookspecs",
    "RegisterCorpus": "bench.api.hookspecs",
    "RegisterTokenizer": "bench.api.hookspecs",
    "RegisterOutputLayer": "bench.api.hookspecs",
    "output_label": "bench.api.output_layers",
    # the tokenizers bench ships, registered by the standard-tokenizers plugin
    "WordTokenizer": "bench.tokenization.tokenizers",
    "CharTokenizer": "bench.tokenization.tokenizers",
    "SentencePieceBPETokenizer": "bench.tokenization.sentencepiece_tokenizers",
    "SentencePieceUnigramTokenizer": "bench.tokenization.sentencepiece_tokenizers",
}

# the door of a plugin: these names, the module `interrupts` (a long computation calls
# interrupts.raise_if_requested() between its steps), and bench.training for training
__all__ = [
    "BenchError",
    "CharTokenizer",
    "Checksum",
    "CorpusSpec",
    "EvalMethod",
    "EvalProtocol",
    "HiddenScores",
    "LanguageModel",
    "LogDestination",
    "Options",
    "OutputLayer",
    "OutputLayerChoice",
    "OutputNetwork",
    "RegisterCorpus",
    "RegisterEvalMethod",
    "RegisterModel",
    "RegisterOutputLayer",
    "RegisterTokenizer",
    "RescoreBase",
    "RunInfo",
    "ScoredTokens",
    "ScoringMode",
    "SentencePieceBPETokenizer",
    "SentencePieceUnigramTokenizer",
    "SplitEvaluation",
    "SplitFile",
    "TokenizedSplit",
    "Tokenizer",
    "TrainingContext",
    "UnitCounts",
    "Vocabulary",
    "WordTokenizer",
    "__version__",
    "hookimpl",
    "interrupts",
    "output_label",
    "token_counts",
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
