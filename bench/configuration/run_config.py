"""A run's configuration: from a TOML file, command-line flags and ``--set`` pairs."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.api.contract_types import LogDestination
from bench.configuration.options import parse_assignments
from bench.errors import BenchError

DEFAULT_CORPUS = "tinyshakespeare"
TOKENIZER_PREFIX = "tokenizer."
OUTPUT_PREFIX = "output."
SEED_MIN, SEED_MAX = (
    -(2**63),
    2**63 - 1,
)  # what a database's 64-bit integer holds  # --set output.KEY=VALUE: an option of the chosen output layer


class RunConfig(BaseModel):
    """Everything that defines a run. A TOML file holds the same keys::

    plugin = "lstm"
    corpus = "ptb"            # a registered name or a folder with train/valid/test
    tokenizer = "word"        # optional: the corpus's default otherwise
    seed = 1234
    device = "auto"
    [options]                 # the model plugin's options (bench models NAME)
    hidden_size = 200
    [options.output_options] # the output layer's (bench output-layers)
    samples = 1024
    [tokenizer_options]
    max_size = 10000

    A file may also name where the run is sent (``--log-to``; not part of the run's
    configuration or its hash: logging never changes a result)::

    log_to = ["tensorboard:runs/tb", "mlflow:sqlite:///mlflow.db"]
    """

    model_config = ConfigDict(extra="forbid")

    plugin: str
    corpus: str = DEFAULT_CORPUS
    tokenizer: str | None = None
    # stored in a 64-bit integer column (SQLite's and PostgreSQL's bigint)
    seed: int = Field(default=1234, ge=SEED_MIN, le=SEED_MAX)
    device: str = "auto"
    options: dict[str, Any] = Field(default_factory=dict)
    tokenizer_options: dict[str, Any] = Field(default_factory=dict)
    log_to: list[str] = Field(default_factory=list)


LOG_TO_ENV = "BENCH_LOG_TO"


def log_destinations(*choices: list[str] | tuple[str, ...] | None) -> tuple[LogDestination, ...]:
    """Where a run is sent: the first of ``choices`` that is not None (``--log-to`` flags,
    then a config file's ``log_to``, then a resumed run's recorded destinations), else
    ``$BENCH_LOG_TO`` (comma-separated), else nowhere. A destination is ``KIND[:TARGET]``."""
    chosen = next((list(choice) for choice in choices if choice), None)
    if chosen is None:
        chosen = [part for part in os.environ.get(LOG_TO_ENV, "").split(",") if part.strip()]
    destinations = tuple(LogDestination.parse(text) for text in chosen)
    for text, destination in zip(chosen, destinations, strict=True):
        if not destination.kind:
            raise BenchError(f"--log-to {text!r}: expected KIND[:TARGET], e.g. tensorboard:runs/tb")
    return destinations


def load_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise BenchError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise BenchError(f"config file {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise BenchError(
            f"config file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
            f"offset {error.start}); TOML files are UTF-8: save it as UTF-8"
        ) from None
    except OSError as error:
        raise BenchError(f"cannot read config file {path}: {error.strerror or error}") from None


def build_config(
    file_values: dict[str, Any], flags: dict[str, Any], assignments: tuple[str, ...]
) -> RunConfig:
    """File values, overridden by flags given on the command line, then by ``--set`` pairs.

    ``--set key=value`` sets a model option; ``--set tokenizer.key=value`` a tokenizer
    option; ``--set output.key=value`` an option of the model's output layer (kept in
    ``options["output_options"]``).
    """
    values = dict(file_values)
    values.pop("recipe", None)  # a recipe's description and published figures, not config
    values.update({key: value for key, value in flags.items() if value is not None})
    for table in ("options", "tokenizer_options"):
        if not isinstance(values.get(table, {}), dict):
            raise BenchError(
                f"{table} must be a table ([{table}] with KEY = VALUE lines), "
                f"not {type(values[table]).__name__} {values[table]}"
            )
    options = dict(values.get("options", {}))
    tokenizer_options = dict(values.get("tokenizer_options", {}))
    output_options = options.get("output_options", {})
    if not isinstance(output_options, dict):
        raise BenchError(
            "output_options must be a table of the output layer's options, "
            f"got {output_options!r} (use --set output.KEY=VALUE)"
        )
    output_options = dict(output_options)
    for key, value in parse_assignments(assignments).items():
        if key.startswith(TOKENIZER_PREFIX):
            tokenizer_options[key[len(TOKENIZER_PREFIX) :]] = value
        elif key.startswith(OUTPUT_PREFIX):
            output_options[key[len(OUTPUT_PREFIX) :]] = value
            options["output_options"] = output_options
        else:
            options[key] = value
    values["options"], values["tokenizer_options"] = options, tokenizer_options
    if "plugin" not in values:
        raise BenchError("no model plugin given: use --plugin NAME (see `bench models`)")
    try:
        return RunConfig(**values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise BenchError(f"invalid run configuration: {problems}") from None


def assignments_of(options: dict[str, Any]) -> list[str]:
    """The ``--set`` pairs that give a run these model options: what ``build_config`` reads,
    written back (an output layer's options as ``output.KEY=VALUE``)."""
    pairs: list[str] = []
    for key, value in options.items():
        if key == "output_options" and isinstance(value, dict):
            pairs += [f"{OUTPUT_PREFIX}{name}={setting}" for name, setting in value.items()]
        else:
            pairs.append(f"{key}={value}")
    return pairs


def config_changes(started: dict[str, Any], now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """How a run's resolved configuration differs from the same configuration resolved now.

    Returns (changed, added): ``changed`` names every setting whose value differs or that
    no longer exists, as "options.lr: 0.1 -> 0.2"; ``added`` names settings that exist
    only now, i.e. options that a later bench introduced and filled with their defaults.
    """
    before, after = _flatten(started), _flatten(now)
    changed = [
        f"{key}: {before[key]!r} -> {after[key]!r}"
        if key in after
        else f"{key}: {before[key]!r} -> (no longer an option)"
        for key in before
        if after.get(key, _MISSING) != before[key]
    ]
    return changed, [key for key in after if key not in before]


_MISSING = object()


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"options": {"lr": 1}} -> {"options.lr": 1}; lists and other values are leaves and
    an empty dict holds no setting (it may fill with defaults later)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_hash(resolved: dict[str, Any]) -> str:
    """A stable hash of a fully resolved configuration (defaults filled in)."""
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
