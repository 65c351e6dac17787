"""Training uncertainty: one configuration run with several seeds, and its seed groups.

A seed group is every finished run whose resolved configuration is equal but for the
seed (same plugin, corpus, tokenizer, device and options). It needs no id of its own:
:func:`group_key` recomputes it from the stored configuration, so runs started on
different days or machines with ``--seed`` join the same group as runs of one ``--seeds``.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.config import config_hash
from bench.errors import BenchError


def parse_seeds(text: str, base: int) -> list[int]:
    """``"3"`` -> three seeds from ``base``; ``"1,5,9"`` -> those seeds."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        count = int(text)
        if count < 1:
            raise BenchError("--seeds needs a count of at least 1 or a list like 1,2,3")
        return [base + i for i in range(count)]
    parts = [part.strip() for part in text.split(",")]
    if len(parts) < 2 or not all(re.fullmatch(r"-?\d+", part) for part in parts):
        raise BenchError(f"--seeds {text!r}: give a count (3) or a comma list of integer "
                         "seeds (1,2,3)")
    seeds = [int(part) for part in parts]
    if len(set(seeds)) != len(seeds):
        raise BenchError(f"--seeds {text!r} repeats a seed")
    return seeds


def command_for_seed(argv: Sequence[str], seed: int) -> str:
    """The command that reruns one member of a seed group: ``--seeds X`` becomes ``--seed S``."""
    words: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == "--seeds" or word == "--seed":
            skip = True
            continue
        if word.startswith(("--seeds=", "--seed=")):
            continue
        words.append(word)
    return shlex.join(["bench", *words, "--seed", str(seed)])


def group_key(config: dict[str, Any] | None) -> str | None:
    """A hash of a resolved configuration without its seed; None when there is none."""
    if not isinstance(config, dict):
        return None
    return config_hash({key: value for key, value in config.items() if key != "seed"})


@dataclass(frozen=True)
class SeedSpread:
    """Mean, sample standard deviation (n - 1) and count of one figure over a seed group."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> SeedSpread:
        n = len(values)
        if n == 0:
            raise ValueError("no values")
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)

    def describe(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"
