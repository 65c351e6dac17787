"""The training toolkit plugins call from fit(): the BPTT loop, options, optimisers, checkpoints, FLOPs, the DDP step."""

from __future__ import annotations

import importlib
from typing import Any

# This package took the name of the module that held the loop; its names still import from
# here (loaded on first use, so that the options can be read without importing torch).
_LOOP = ("train_bptt", "detach_state")


def __getattr__(name: str) -> Any:
    if name in _LOOP:
        return getattr(importlib.import_module("bench.training.loop"), name)
    raise AttributeError(f"module 'bench.training' has no attribute {name!r}")
