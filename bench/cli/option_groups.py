"""Options that several models share, found from their option classes, so `bench models`
lists them once instead of under every model that has them.

Two models share an option when their ``Options`` classes have a field of the same name,
type, default and description (typically one base class, such as the training options of
the BPTT-trained models). Options are grouped by the exact set of models sharing them, so
options common to four models and options common to three of them form two blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, str]


@dataclass
class SharedBlock:
    """Options that exactly ``models`` have in common, in their declared order."""

    models: tuple[str, ...]
    options: list[Row] = field(default_factory=list)


@dataclass
class OptionListing:
    """Each model's own options, and the blocks of shared ones it refers to."""

    own: dict[str, list[Row]]
    shared_by_model: dict[str, list[SharedBlock]]
    blocks: list[SharedBlock]


def _signature(row: Row) -> tuple[str, ...]:
    return (row["name"], row["type"], row["default"], row["description"])


def group_options(described: dict[str, list[Row]]) -> OptionListing:
    """Split each model's described options (``bench.configuration.options.describe_options``, keyed by
    model name, in listing order) into its own and those shared with other models."""
    holders: dict[tuple[str, ...], list[str]] = {}
    for model, rows in described.items():
        for row in rows:
            holders.setdefault(_signature(row), []).append(model)
    blocks: dict[tuple[str, ...], SharedBlock] = {}
    own: dict[str, list[Row]] = {model: [] for model in described}
    for model, rows in described.items():
        for row in rows:
            models = tuple(holders[_signature(row)])
            if len(models) < 2:
                own[model].append(row)
            elif models[0] == model:  # added once, from the first model that has it
                blocks.setdefault(models, SharedBlock(models)).options.append(row)
    shared_by_model: dict[str, list[SharedBlock]] = {model: [] for model in described}
    for block in blocks.values():
        for model in block.models:
            shared_by_model[model].append(block)
    return OptionListing(own, shared_by_model, list(blocks.values()))


def block_title(block: SharedBlock, count: int = 2) -> str:
    noun = "option" if count == 1 else "options"
    return f"{noun} shared by {', '.join(block.models)}"


def describe_all(entries: list[Any]) -> dict[str, list[Row]]:
    """Described options of registry entries whose item has an ``Options`` class."""
    from bench.configuration.options import describe_options

    return {entry.name: describe_options(entry.item.Options) for entry in entries}
