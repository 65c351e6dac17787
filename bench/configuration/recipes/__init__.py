"""Named run configurations that reproduce published table rows (``bench reproduce NAME``).

A recipe is a TOML file in this folder: the keys of a run configuration (``plugin``,
``corpus``, ``[options]``, …; see ``bench.configuration.run_config.RunConfig``) plus a ``[recipe]`` table
with a one-line ``description``, the ``published`` figures with their citation, and the
expected ``cost`` on the hardware it was measured on. The same file works with
``bench run --config`` once the ``[recipe]`` table is ignored.

Optional keys feed `bench reproduce --table CORPUS` (``bench.report.reproduction_table``):
``reproduces``, the ``model`` cell of the published row (``bench/resources/published.csv``)
the recipe reproduces; ``paper_time``, the hardware and time the paper names; and a
``[recipe.step_cost]`` table of bench's own measurement of one full-size training step
(``cpu_seconds``, ``gpu_seconds``, ``peak_gb``, ``epoch_tokens``, ``measured``: when, how
and on what). A count-based model, which trains in no steps, gives instead the cost of one
whole estimate from ``estimate_tokens`` tokens (``cpu_seconds``, ``peak_gb``,
``temp_disk_gb``), which the table scales to ``epoch_tokens``.

A recipe of an evaluation-time method (``bench rescore``) names instead a ``[rescore]``
table: the ``parent`` recipe whose run it rescores, the ``method``, and optional
``settings`` (fixed options) and ``grid`` (values searched on validation). Its run
configuration is the parent's; `bench reproduce` runs the parent first if the database
holds no whole run of it, then rescores the newest one. It has the parent's
``paper_time`` and ``[recipe.step_cost]`` (a rescore costs the parent's run first), the
``measured`` note of which it extends with its ``method_cost``: what the method costs over
plain scoring, as bench measured it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import unknown_name_error


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    published: str
    cost: str
    config: dict[str, Any]
    path: Path
    reproduces: str | None = None
    paper_time: str | None = None
    step_cost: dict[str, Any] = field(default_factory=dict)
    rescore: dict[str, Any] | None = None  # parent, method, settings, grid (see above)


def load_recipes() -> list[Recipe]:
    """Every packaged recipe, by name."""
    recipes = []
    files = {
        entry.name.removesuffix(".toml"): tomllib.loads(entry.read_text(encoding="utf-8"))
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".toml")
    }
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            values = dict(files[entry.name.removesuffix(".toml")])
            meta = values.pop("recipe")
            rescore = values.pop("rescore", None)
            if rescore is not None:  # the run configuration is the parent recipe's
                values = {k: v for k, v in files[rescore["parent"]].items() if k != "recipe"}
                meta = _with_parent_cost(meta, files[rescore["parent"]]["recipe"])
            recipes.append(
                Recipe(
                    name=entry.name.removesuffix(".toml"),
                    description=meta["description"],
                    published=meta["published"],
                    cost=meta["cost"],
                    config=values,
                    path=Path(str(entry)),
                    reproduces=meta.get("reproduces"),
                    paper_time=meta.get("paper_time"),
                    step_cost=dict(meta.get("step_cost", {})),
                    rescore=rescore,
                )
            )
    return recipes


def _with_parent_cost(meta: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    """A rescoring recipe's ``[recipe]`` table with its parent's training cost (step cost,
    paper time) where it gives none, noted with what the method adds (``method_cost``)."""
    step_cost = {**parent.get("step_cost", {}), **meta.get("step_cost", {})}
    if meta.get("method_cost"):
        before = step_cost.get("measured")
        step_cost["measured"] = (
            f"{before}; then {meta['method_cost']}" if before else str(meta["method_cost"])
        )
    return {"paper_time": parent.get("paper_time"), **meta, "step_cost": step_cost}


def find_recipe(name: str) -> Recipe:
    recipes = {recipe.name: recipe for recipe in load_recipes()}
    if name not in recipes:
        raise unknown_name_error("recipe", name, recipes)
    return recipes[name]
