"""The one place that turns a run's configuration back into a `bench` command line, as
stored with the run so that anyone can repeat it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from bench.configuration.run_config import TOKENIZER_PREFIX, RunConfig, assignments_of
from bench.secrets import mask_text


def command_line(config_file: Path | None, config: RunConfig) -> str:
    """The command as typed (any password in a URL masked), or an equivalent one for runs
    started another way."""
    if sys.argv[1:2] in (["run"], ["reproduce"]):
        # the one masking every stored command goes through (the store applies it again)
        return mask_text(shlex.join(["bench", *sys.argv[1:]]))
    return shlex.join(["bench", "run", *equivalent_flags(config_file, config)])


def equivalent_flags(config_file: Path | None, config: RunConfig) -> list[str]:
    """Flags of `bench run` equivalent to the run, for runs started through the Python API."""
    flags = ["--plugin", config.plugin, "--corpus", config.corpus]
    if config_file:
        flags += ["--config", str(config_file)]
    if config.tokenizer:
        flags += ["--tokenizer", config.tokenizer]
    # the seed always: a seed group's members differ only there, and a default can change
    flags += ["--seed", str(config.seed)]
    pairs = assignments_of(config.options) + [
        f"{TOKENIZER_PREFIX}{key}={value}" for key, value in config.tokenizer_options.items()
    ]
    return flags + [arg for pair in pairs for arg in ("--set", pair)]
