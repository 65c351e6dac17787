"""Published perplexities, quoted with their citations, shown beside measured runs.

The packaged table (``bench/resources/published.csv``) holds figures as the papers print
them. They are facts to display: "81.9 ± 0.2" or "2M (estimate, ...)" stay text, and the
caveats (secondary sources, unverified transcriptions) stay in ``notes`` so they reach the
reader. Where a number is needed (CSV and JSON records), :func:`published_number` and
:func:`published_count` read it from the cell, and :func:`is_plain` says whether the cell
said more than that number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.configuration.recipes import Recipe

PUBLISHED_COLUMNS = (
    "corpus",
    "model",
    "params",
    "valid_ppl",
    "test_ppl",
    "citation",
    "year",
    "notes",
)


def load_published(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The published reference table: the packaged CSV, or the CSV at ``path``.

    Every column is text (empty string when blank) except ``year`` (nullable integer).
    """
    source = (
        resources.files("bench").joinpath("resources", "published.csv")
        if path is None
        else Path(path)
    )
    try:
        with source.open("rb") as handle:
            frame = pd.read_csv(handle, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read published results {str(source)!r}: {exc}") from exc
    missing = [c for c in PUBLISHED_COLUMNS if c not in frame.columns]
    if missing:
        raise BenchError(f"published results {str(source)!r} lack column(s): {', '.join(missing)}")
    frame = frame.apply(lambda column: column.str.strip())
    try:
        frame["year"] = pd.to_numeric(frame["year"].replace("", None)).astype("Int64")
    except (ValueError, TypeError) as exc:
        raise BenchError(f"published results {str(source)!r}: bad year ({exc})") from exc
    return frame


_SCALE = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def published_number(text: str | None) -> float | None:
    """The figure of a published cell as a number: "79.7 ± 0.1" -> 79.7; None when blank."""
    match = re.search(r"\d+(?:\.\d+)?", text or "")
    return float(match.group()) if match else None


def published_count(text: str | None) -> int | None:
    """A published parameter count as a number: "2M (estimate, ...)" -> 2000000,
    "1.76B" -> 1760000000; None when blank."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\b", text or "")
    return round(float(match.group(1)) * _SCALE[match.group(2)]) if match else None


def is_plain(text: str | None, *, count: bool = False) -> bool:
    """Whether a cell is only a number ("114.5", or "4.65M" for a count): then its number
    says all it says; otherwise (an estimate, a ± spread) the text has to be kept too."""
    pattern = r"\d+(?:\.\d+)?[KMBT]?" if count else r"\d+(?:\.\d+)?"
    return not text or re.fullmatch(pattern, text.strip()) is not None


@dataclass(frozen=True)
class Reproduction:
    """The published row a measured run reproduces, through the recipe whose run it is."""

    recipe: str
    model: str
    test_ppl: float
    test_ppl_text: str  # the paper's figure as printed, number only ("114.5")
    citation: str

    def change_percent(self, measured: float) -> float:
        """How far a measured test perplexity is from the paper's, in percent of the paper's
        (negative: lower than the paper's)."""
        return (measured - self.test_ppl) / self.test_ppl * 100


def reproduced_rows(
    runs: Iterable[Mapping[str, Any]], published: pd.DataFrame, recipes: Iterable[Recipe]
) -> dict[int, Reproduction]:
    """For each of ``runs`` (``results_frame`` rows) that is a whole run of a recipe whose
    ``reproduces`` names a published row with a test figure on the run's corpus: that row,
    by run id. Runs are matched to recipes as ``bench reproduce --table`` matches them
    (:func:`bench.report.reproduction_table.whole_runs`); ``published`` has bench's corpus names.
    """
    from bench.report.reproduction_table import whole_runs

    runs = list(runs)
    found: dict[int, Reproduction] = {}
    for recipe in recipes:
        corpus = recipe.config.get("corpus")
        named = published[
            (published["corpus"] == corpus) & (published["model"] == recipe.reproduces)
        ]
        rows = [r for r in named.to_dict("records") if published_number(r.get("test_ppl"))]
        if not rows:  # no `reproduces`, or it names no published test figure
            continue
        row = rows[0]
        text = re.search(r"\d+(?:\.\d+)?", row["test_ppl"]).group()
        for run in whole_runs(recipe, corpus, runs):
            found.setdefault(
                int(run["run_id"]),
                Reproduction(recipe.name, row["model"], float(text), text, row.get("citation", "")),
            )
    return found
