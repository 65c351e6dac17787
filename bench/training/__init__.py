"""The training toolkit plugins call from fit() (the BPTT loop, options, optimisers, checkpoints, FLOPs, the DDP step) and from score() and generate().

This package is the second door of a plugin (after ``bench`` itself): a model plugin that
trains a network imports what it shares with the built-in ones from here, never from the
modules below, so those can be rearranged without breaking it::

    from bench.training import TrainingOptions, train_bptt

Every name loads its module on first use (PEP 562): ``TrainingOptions`` does not import
torch, so a plugin can name it at import time and ``bench plugins`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.api.adaptive_input import AdaptiveInput
    from bench.api.output_network import (
        at_least_float32,
        chunked_target_logprobs,
        counts_tensor,
        frequency_ranks,
        take_rows,
    )
    from bench.api.sampling import TokenSampler
    from bench.interrupts import InterruptGuard
    from bench.tokenization.batching import StreamChunk, stream_chunks
    from bench.tokenization.windows import ScoringWindow, sliding_windows
    from bench.training.checkpoint import capture_rng, restore_rng, save_atomically
    from bench.training.flops import recurrent_forward_flops
    from bench.training.loop import train_bptt
    from bench.training.options import TrainingOptions
    from bench.training.update import accumulated_update, detach_state

# public name -> the module that defines it
_LAZY = {
    # the truncated-BPTT loop and its options (docs/hooks.md, "Training a network")
    "train_bptt": "bench.training.loop",
    "detach_state": "bench.training.update",
    # one optimiser update over update_freq batches, for a plugin with a loop of its own
    "accumulated_update": "bench.training.update",
    "TrainingOptions": "bench.training.options",
    # for a plugin with a loop of its own: an optimiser step Ctrl-C waits for, files
    # written atomically, every random generator captured and restored
    "InterruptGuard": "bench.interrupts",
    "save_atomically": "bench.training.checkpoint",
    "capture_rng": "bench.training.checkpoint",
    "restore_rng": "bench.training.checkpoint",
    # the model FLOPs a recurrent model reports through LanguageModel.training_flops
    "recurrent_forward_flops": "bench.training.flops",
    # a stream cut into scoring chunks, each with the end-of-sentence that precedes it
    "StreamChunk": "bench.tokenization.batching",
    "stream_chunks": "bench.tokenization.batching",
    # the window protocol of a model with a fixed context (EvalProtocol mode "window")
    "ScoringWindow": "bench.tokenization.windows",
    "sliding_windows": "bench.tokenization.windows",
    # the tensors an output layer's network works with (docs/output-layers.md)
    "at_least_float32": "bench.api.output_network",
    "chunked_target_logprobs": "bench.api.output_network",
    "counts_tensor": "bench.api.output_network",
    "frequency_ranks": "bench.api.output_network",
    "take_rows": "bench.api.output_network",
    # one token drawn as LanguageModel.generate promises (temperature, top_k, top_p, seed)
    "TokenSampler": "bench.api.sampling",
    # adaptive input representations, tieable to the adaptive output layer (docs/hooks.md)
    "AdaptiveInput": "bench.api.adaptive_input",
}

__all__ = [
    "AdaptiveInput",
    "InterruptGuard",
    "ScoringWindow",
    "StreamChunk",
    "TokenSampler",
    "TrainingOptions",
    "accumulated_update",
    "at_least_float32",
    "capture_rng",
    "chunked_target_logprobs",
    "counts_tensor",
    "detach_state",
    "frequency_ranks",
    "recurrent_forward_flops",
    "restore_rng",
    "save_atomically",
    "sliding_windows",
    "stream_chunks",
    "take_rows",
    "train_bptt",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'bench.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
