"""A published table, row by row: for each published figure on a corpus, the recipe that
reproduces it, what bench measured of that recipe, whether it can run, and how long it
would take (`bench reproduce --table CORPUS`).

A recipe names the row it reproduces with ``reproduces`` (the ``model`` cell of
``bench/resources/published.csv``) and carries bench's measurement of one full-size
training step in ``[recipe.step_cost]`` (see ``bench.configuration.recipes``). Whole runs come from the
database: a finished, scored run of the recipe's plugin on its corpus whose options are
the recipe's own, not bounded by ``max_steps_per_epoch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.configuration.recipes import Recipe

# The states a row can be in, best first.
MEASURED = "measured"
RUNNABLE = "runnable"
NOT_YET_POSSIBLE = "not yet possible"
NO_RECIPE = "no recipe"


@dataclass(frozen=True)
class TableRow:
    model: str
    published: str
    source: str
    recipe: str | None
    state: str
    why: str
    step_cost: str
    whole_runs: str
    projected: str
    paper_time: str


def _published_figure(row: Mapping[str, Any]) -> str:
    parts = [
        f"{split} {row[f'{split}_ppl']}" for split in ("valid", "test") if row.get(f"{split}_ppl")
    ]
    return ", ".join(parts) or "-"


def _options_match(wanted: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    """Every option the recipe sets has that value in the run (nested tables compared the
    same way; the run may hold more options: the plugin's defaults)."""
    for key, value in wanted.items():
        if key not in recorded:
            return False
        if isinstance(value, Mapping):
            if not isinstance(recorded[key], Mapping) or not _options_match(value, recorded[key]):
                return False
        elif recorded[key] != value and not _same_number(recorded[key], value):
            return False
    return True


def _same_number(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _recipe_options(recipe: Recipe) -> dict[str, Any]:
    """The recipe's options as a run records them: output options under ``output_options``."""
    return dict(recipe.config.get("options", {}))


def whole_runs(
    recipe: Recipe, corpus: str, runs: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The finished, test-scored runs of ``recipe`` on ``corpus`` that ran to the end."""
    found = []
    for run in runs:
        config = run.get("config") or {}
        options = config.get("options") or {}
        if (
            run.get("status") == "finished"
            and run.get("test_ppl") is not None
            and run.get("plugin") == recipe.config.get("plugin")
            and run.get("corpus") == corpus
            and options.get("max_steps_per_epoch") is None
            and _options_match(_recipe_options(recipe), options)
            and _derivation_matches(recipe, config)
        ):
            found.append(run)
    return found


def _derivation_matches(recipe: Recipe, config: Mapping[str, Any]) -> bool:
    """A recipe's runs are plain runs, or for a rescoring recipe the rescores of its parent
    by its method: a KN5 run rescored with a cache is not a run of the KN5 recipe."""
    derived = config.get("derived_from")
    if recipe.rescore is None:
        return derived is None
    return (
        derived is not None
        and derived.get("kind") == "rescore"
        and derived.get("method") == recipe.rescore["method"]
    )


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{seconds / 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:,.0f} days"


def _tokens_per_step(recipe: Recipe) -> int | None:
    options = recipe.config.get("options", {})
    # a Transformer's block length is tokens_per_sample (its bptt follows it)
    length = options.get("bptt", options.get("tokens_per_sample"))
    if "batch_size" in options and length is not None:
        return int(options["batch_size"]) * int(length)
    return None


def _step_cost(recipe: Recipe) -> str:
    cost = recipe.step_cost
    if "estimate_tokens" in cost:  # a count-based model: one whole estimate, no steps
        return _estimate_cost(cost)
    parts = []
    tokens = _tokens_per_step(recipe)
    per = f" per step of {tokens:,} tokens" if tokens else " per step"
    if "cpu_seconds" in cost:
        parts.append(f"CPU {cost['cpu_seconds']:g} s{per}")
    if "gpu_seconds" in cost:
        parts.append(f"GPU {cost['gpu_seconds']:g} s{per}")
    if "peak_gb" in cost:
        parts.append(f"peak {cost['peak_gb']:g} GB")
    if not parts:
        return "not measured"
    return "; ".join(parts) + (f" ({cost['measured']})" if cost.get("measured") else "")


def _estimate_cost(cost: Mapping[str, Any]) -> str:
    parts = [
        f"CPU {_hours(float(cost['cpu_seconds']))} to estimate from {cost['estimate_tokens']:,} tokens"
    ]
    if "peak_gb" in cost:
        parts.append(f"peak {cost['peak_gb']:g} GB")
    if "temp_disk_gb" in cost:
        parts.append(f"temporary disk {cost['temp_disk_gb']:g} GB")
    return "; ".join(parts) + (f" ({cost['measured']})" if cost.get("measured") else "")


def _projected(recipe: Recipe) -> str:
    """A whole run's training time at the measured step cost: epochs x epoch tokens /
    tokens per step x seconds per step (no validation, no data loading). A count-based
    model's measured estimate is scaled to the train split by its token count."""
    cost = recipe.step_cost
    if "estimate_tokens" in cost and cost.get("epoch_tokens"):
        seconds = float(cost["cpu_seconds"]) * cost["epoch_tokens"] / cost["estimate_tokens"]
        return f"CPU {_hours(seconds)} for {cost['epoch_tokens']:,} train tokens"
    tokens = _tokens_per_step(recipe)
    epochs = recipe.config.get("options", {}).get("epochs")
    if not (tokens and epochs and cost.get("epoch_tokens")):
        return "-"
    steps = int(epochs) * int(cost["epoch_tokens"]) / tokens
    parts = [
        f"{device} {_hours(steps * float(cost[key]))}"
        for device, key in (("CPU", "cpu_seconds"), ("GPU", "gpu_seconds"))
        if key in cost
    ]
    return f"{', '.join(parts)} for {epochs} epochs" if parts else "-"


def _runs_summary(runs: list[Mapping[str, Any]]) -> str:
    if not runs:
        return "none"
    best = min(runs, key=lambda r: r["test_ppl"])
    wall = best.get("wall_seconds")
    took = f", {_hours(wall)} wall" if wall else ""
    return (
        f"{len(runs)} (best: run {best['id']}, test ppl {best['test_ppl']:.2f}{took}, "
        f"{best.get('device_name') or best.get('device') or 'unknown device'})"
    )


def build_rows(
    corpus: str,
    published: pd.DataFrame,
    recipes: Iterable[Recipe],
    runs: Iterable[Mapping[str, Any]],
    why_not: Callable[[Recipe], str | None],
) -> list[TableRow]:
    """One row per published figure on ``corpus`` (published rows already renamed to bench's
    corpus names), then any recipe on the corpus whose ``reproduces`` names no published row.

    ``runs`` are database runs with their ``config`` (``Store.list_runs``); ``why_not(recipe)``
    says why a recipe cannot run with the installed plugins, or None when it can.
    """
    runs = list(runs)
    on_corpus = [r for r in recipes if r.config.get("corpus") == corpus]
    by_model: dict[str, list[Recipe]] = {}
    for recipe in on_corpus:
        if recipe.reproduces:
            by_model.setdefault(recipe.reproduces, []).append(recipe)
    rows = []
    reference = published[published["corpus"] == corpus]
    for record in reference.to_dict("records"):
        figure, source = _published_figure(record), record.get("citation", "")
        matched = by_model.pop(record["model"], [])
        if not matched:
            rows.append(
                TableRow(
                    record["model"],
                    figure,
                    source,
                    None,
                    NO_RECIPE,
                    "no recipe reproduces this row yet",
                    "-",
                    "-",
                    "-",
                    "-",
                )
            )
        for recipe in matched:
            rows.append(_recipe_row(recipe, record["model"], figure, source, corpus, runs, why_not))
    for model, recipes_left in by_model.items():  # a `reproduces` that names no row
        for recipe in recipes_left:
            rows.append(
                _recipe_row(
                    recipe,
                    model,
                    recipe.published,
                    "not in the published table",
                    corpus,
                    runs,
                    why_not,
                )
            )
    return rows


def _recipe_row(
    recipe: Recipe,
    model: str,
    figure: str,
    source: str,
    corpus: str,
    runs: list[Mapping[str, Any]],
    why_not: Callable[[Recipe], str | None],
) -> TableRow:
    found = whole_runs(recipe, corpus, runs)
    reason = why_not(recipe)
    if reason:
        state, why = NOT_YET_POSSIBLE, reason
    elif found:
        state, why = MEASURED, "whole runs in the database"
    else:
        state, why = RUNNABLE, "no whole run in the database yet"
    return TableRow(
        model,
        figure,
        source,
        recipe.name,
        state,
        why,
        _step_cost(recipe),
        _runs_summary(found),
        _projected(recipe),
        recipe.paper_time or "-",
    )


def render_text(corpus: str, rows: list[TableRow]) -> str:
    """The rows as indented text blocks, one per published figure."""
    counts = {
        state: sum(r.state == state for r in rows)
        for state in (MEASURED, RUNNABLE, NOT_YET_POSSIBLE, NO_RECIPE)
    }
    heading = (
        f"{corpus}: {len(rows)} row(s); {counts[MEASURED]} measured, "
        f"{counts[RUNNABLE]} runnable, {counts[NOT_YET_POSSIBLE]} not yet possible, "
        f"{counts[NO_RECIPE]} without a recipe"
    )
    lines = [heading, ""]
    for row in rows:
        lines.append(f"{row.model}  [{row.state}]")
        lines.append(f"  published   {row.published} ({row.source})")
        if row.recipe is None:
            lines.append("")
            continue
        lines += [
            f"  recipe      {row.recipe} (bench reproduce {row.recipe})",
            f"  state       {row.state}: {row.why}",
            f"  step cost   {row.step_cost}",
            f"  whole runs  {row.whole_runs}",
            f"  projected   {row.projected}"
            + (" at the measured cost" if row.projected != "-" else ""),
            f"  paper       {row.paper_time}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
