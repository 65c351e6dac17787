"""A leaderboard row as numbers, for CSV and JSON: one record per row of the display table.

The display table (:mod:`bench.report.leaderboard`) holds text a reader compares ("113.16
[112.0, 114.3]", "4.65M"); a program reading the CSV or JSON wants the numbers, with the
unit in each field's name. A published cell that says more than its number ("81.9 ± 0.2",
"2M (estimate, ...)") gives its number here and is quoted as printed in ``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bench.report.published import Reproduction, is_plain, published_count, published_number

# The fields of a CSV/JSON record, numbers as numbers: ppl per token, *_low/*_high the 95%
# bootstrap interval of one run, *_std the spread over a seed group's runs (seeds_n of
# them), rates in tokens per second, params a count; paper_test_ppl is the published row's
# test figure that the run's recipe reproduces, test_ppl_change_percent bench's distance
# from it in percent of it (negative: bench's perplexity is lower); *_oov counts the
# split's out-of-vocabulary tokens, *_ppl_no_oov the perplexity of the others;
# test_bits_per_char (and a published row's test_bits_per_byte) only on the tables of
# corpora whose figures count characters or bytes (bench.report.bits_per_unit).
RECORD_FIELDS = [
    "kind",
    "model",
    "plugin",
    "tokenizer",
    "options",
    "params",
    "valid_ppl",
    "valid_ppl_low",
    "valid_ppl_high",
    "valid_ppl_std",
    "test_ppl",
    "test_ppl_low",
    "test_ppl_high",
    "test_ppl_std",
    "seeds_n",
    "seeds",
    "paper_test_ppl",
    "test_ppl_change_percent",
    "reproduces",
    "recipe",
    "valid_oov",
    "valid_ppl_no_oov",
    "test_oov",
    "test_ppl_no_oov",
    "valid_word_ppl",
    "test_word_ppl",
    "test_bits_per_byte",
    "test_bits_per_char",
    "protocol",
    "train_tokens_per_second",
    "test_tokens_per_second",
    "device",
    "date",
    "run_ids",
    "citation",
    "year",
    "notes",
]


def missing(value: Any) -> bool:
    """None or a pandas/numpy missing scalar (NaN, NA, NaT); containers are never missing."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers: not a missing scalar
        return False


def cell(row: Mapping[str, Any], key: str) -> Any:
    """``row[key]``, None when absent or missing."""
    value = row.get(key)
    return None if missing(value) else value


def _number(value: Any) -> int | float | None:
    """A plain Python number for CSV/JSON (numpy and pandas scalars unwrapped); None when
    missing or not finite."""
    if missing(value):
        return None
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def measured_record(
    row: Mapping[str, Any], cells: Mapping[str, str], paper: Reproduction | None = None
) -> dict[str, Any]:
    """The numbers of a measured row (a run, or a seed group's means); ``paper``: the
    published row it reproduces."""
    group = (cell(row, "seed_n") or 1) > 1
    seeds = list(row["seed_list"]) if group else [_number(cell(row, "seed"))]
    record = dict.fromkeys(RECORD_FIELDS)
    record.update({k: cells[k] or None for k in ("kind", "model", "plugin", "tokenizer")})
    record.update(
        options=cells["options"] or None,
        params=_number(cell(row, "params")),
        seeds_n=int(cell(row, "seed_n") or 1),
        seeds=[s for s in seeds if s is not None] or None,
        test_bits_per_byte=_number(cell(row, "test_bits_per_byte")),
        protocol=cells["protocol"] or None,
        train_tokens_per_second=_number(cell(row, "train_tokens_per_second")),
        test_tokens_per_second=_number(cell(row, "test_tokens_per_second")),
        device=cells["device"] or None,
        date=cells["date"] or None,
        run_ids=list(row.get("seed_runs") or [int(row["run_id"])]),  # re-measurements too
        notes=cells["notes"] or None,
    )
    for split in ("valid", "test"):
        record[f"{split}_ppl"] = _number(cell(row, f"{split}_ppl"))
        if group:  # a group's interval would be its first run's: its spread is the std
            record[f"{split}_ppl_std"] = _number(cell(row, f"{split}_ppl_std"))
        else:
            record[f"{split}_ppl_low"] = _number(cell(row, f"{split}_ppl_low"))
            record[f"{split}_ppl_high"] = _number(cell(row, f"{split}_ppl_high"))
        record[f"{split}_word_ppl"] = _number(cell(row, f"{split}_word_ppl"))
        record[f"{split}_oov"] = _number(cell(row, f"{split}_oov"))
        record[f"{split}_ppl_no_oov"] = _number(cell(row, f"{split}_ppl_no_oov"))
    if paper is not None and record["test_ppl"] is not None:
        record.update(
            paper_test_ppl=paper.test_ppl,
            test_ppl_change_percent=paper.change_percent(record["test_ppl"]),
            reproduces=paper.model,
            recipe=paper.recipe,
        )
    return record


def reference_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of a published row; a cell that says more than its number ("81.9 ± 0.2",
    "2M (estimate)") is quoted in the notes as printed."""
    record = dict.fromkeys(RECORD_FIELDS)
    params, valid, test = (str(cell(row, k) or "") for k in ("params", "valid_ppl", "test_ppl"))
    printed = [
        f"{name} {text}"
        for name, text, plain in (
            ("params", params, is_plain(params, count=True)),
            ("valid ppl", valid, is_plain(valid)),
            ("test ppl", test, is_plain(test)),
        )
        if not plain
    ]
    notes = [str(cell(row, "notes") or "")] + (
        ["as printed: " + "; ".join(printed)] if printed else []
    )
    record.update(
        kind="reference",
        model=str(cell(row, "model") or "") or None,
        params=published_count(params),
        valid_ppl=published_number(valid),
        test_ppl=published_number(test),
        citation=str(cell(row, "citation") or "") or None,
        year=_number(cell(row, "year")),
        notes="; ".join(n for n in notes if n) or None,
    )
    return record


def records_frame(table: pd.DataFrame, *, join_lists: bool = False) -> pd.DataFrame:
    """The table's rows as numbers (:data:`RECORD_FIELDS`, one row per table row); a table
    not made by :func:`bench.report.leaderboard.build_tables` has no numbers and is returned as it
    is. ``join_lists`` writes lists (``run_ids``, ``seeds``) as space-separated text, for CSV.
    """
    records = table.attrs.get("records")
    if records is None:
        return table
    if join_lists:
        records = [
            {k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()}
            for r in records
        ]
    # object columns: an integer column with gaps stays integers (no 1234.0)
    return pd.DataFrame(records, columns=RECORD_FIELDS, dtype=object)
