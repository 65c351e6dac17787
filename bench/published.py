"""Published perplexities, quoted with their citations, shown beside measured runs.

The packaged table (``bench/resources/published.csv``) holds figures as the papers print
them. They are facts to display, not numbers to compute with: "81.9 ± 0.2" or
"2M (estimate, ...)" stay text, and the caveats (secondary sources, unverified
transcriptions) stay in ``notes`` so they reach the reader.
"""

from __future__ import annotations

import os
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
