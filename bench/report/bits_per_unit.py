"""Bits per character (or byte) on the tables of corpora whose published figures count
characters or bytes (ptb-char, text8, enwik8).

Papers report these corpora in bits per character; ``published.csv`` stores each such row
as the per-character perplexity 2^bpc so that every table sorts by one number, and this
module shows the bits again: log2 of the published perplexity, and for a measured run the
bits per token where its tokens are the corpus's characters, or bench's bits per byte where
the unit is the byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.report.csv_json import cell

BITS_PER_CHAR = "bits/char (test)"
BITS_PER_BYTE = "bits/byte (test)"


@dataclass(frozen=True)
class FiguresPer:
    """The unit a corpus's published figures count (``CorpusSpec.figures_per``) and the
    tokenizer whose tokens are that unit (the corpus's default tokenizer)."""

    unit: str
    tokenizer: str


def _published_bits(record: Mapping[str, Any]) -> float | None:
    ppl = cell(record, "test_ppl")
    return math.log2(ppl) if ppl is not None and ppl > 0 else None


def _measured_bits(row: Mapping[str, Any], figures: FiguresPer) -> float | None:
    """Bits per token are bits per character only where a token is one character: runs
    with the corpus's character-level tokenizer (the default one, or ``char``)."""
    if cell(row, "tokenizer") not in (figures.tokenizer, "char"):
        return None
    return cell(row, "test_bits_per_token")


def add_bits_per_unit(
    table: pd.DataFrame,
    records: Sequence[dict[str, Any]],
    measured: Sequence[Mapping[str, Any]],
    figures: FiguresPer | None,
) -> None:
    """Fill the bits column of ``table`` and ``records`` (measured rows first, as
    ``measured`` lists them, then the published ones) for a character or byte corpus."""
    if figures is None or figures.unit == "word":
        return
    by_byte = figures.unit == "byte"
    column, field = (
        (BITS_PER_BYTE, "test_bits_per_byte") if by_byte else (BITS_PER_CHAR, "test_bits_per_char")
    )
    shown = list(table[column]) if column in table.columns else [""] * len(table)
    for i, record in enumerate(records):
        if record["kind"] == "reference":
            bits = _published_bits(record)
        elif by_byte:  # bench's own bits per byte, shown already
            continue
        else:
            bits = _measured_bits(measured[i], figures)
        record[field] = bits
        shown[i] = "" if bits is None else f"{bits:.3f}"
    table[column] = shown
