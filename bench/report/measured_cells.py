"""The text of a measured row's cells: perplexities with their interval or seed spread,
OOV counts, word perplexity and the scoring protocol (empty text where not applicable)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.api.model import EvalProtocol
from bench.report.csv_json import cell, missing


def fixed(value: Any, digits: int) -> str:
    return "" if missing(value) or not math.isfinite(value) else f"{value:.{digits}f}"


def oov_cells(row: Mapping[str, Any]) -> tuple[str, str]:
    """The test split's out-of-vocabulary token count and the perplexity of the other
    tokens; both empty when the split had none (then the perplexity says it all)."""
    oov = cell(row, "test_oov")
    if not oov:
        return ("0" if oov == 0 else ""), ""
    return f"{int(oov):,}", fixed(cell(row, "test_ppl_no_oov"), 2)


def word_ppl(row: Mapping[str, Any], split: str, always: bool = False) -> str:
    """Word perplexity of ``split``: only when the run's tokens are not words, unless
    ``always`` (a table ranked by it shows it for every run)."""
    tokens, words = cell(row, f"{split}_tokens"), cell(row, f"{split}_words")
    if tokens is None or words is None or (tokens == words and not always):
        return ""
    return fixed(cell(row, f"{split}_word_ppl"), 2)


def protocol(row: Mapping[str, Any]) -> str:
    mode, batch = cell(row, "test_mode"), cell(row, "test_batch_size")
    if mode is None or batch is None:
        return ""
    context, stride = cell(row, "test_context"), cell(row, "test_stride")
    return EvalProtocol(
        mode=mode,
        batch_size=int(batch),
        context=None if context is None else int(context),
        stride=None if stride is None else int(stride),
    ).describe()


def ppl_cell(row: Mapping[str, Any], split: str) -> str:
    """ "113.16 [112.0, 114.3]" (95% bootstrap interval over lines) for one run;
    "113.40 ± 0.25 (n=3)" (mean ± std over seeds) for a seed group."""
    ppl = fixed(cell(row, f"{split}_ppl"), 2)
    if (cell(row, "seed_n") or 1) > 1:
        std = cell(row, f"{split}_ppl_std")
        return f"{ppl} ± {std:.2f} (n={int(row['seed_n'])})" if ppl and std is not None else ppl
    low, high = cell(row, f"{split}_ppl_low"), cell(row, f"{split}_ppl_high")
    return f"{ppl} [{low:.1f}, {high:.1f}]" if ppl and low is not None and high is not None else ppl
