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
from importlib import resources
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

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
