"""How a corpus's table ranks its runs: per token where every run has the same tokens,
else by a unit that means the same for every run.

A perplexity is per token of the run's own tokenizer: a word model's 607 and a character
model's 4.5 on the same text measure different things, and ranking them together puts
the character model first whatever it is worth. Where a table's runs tokenize the text
differently, the rows are ranked by word perplexity when every run counted the same
words of the test text (every bench tokenizer counts whitespace words plus one
end-of-sentence per line), else by bits per byte, which every run scored on the same
bytes shares; per-token ppl stays beside it, and the table names each run's tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.report.csv_json import missing


@dataclass(frozen=True)
class Ranking:
    """What a table is sorted by: a results column and the display column showing it.

    ``tokenizations`` lists each distinct tokenization of the test text ("word, 82,430
    tokens") when there is more than one; empty when the runs share their tokens.
    """

    column: str
    shown: str
    tokenizations: tuple[str, ...] = ()

    @property
    def across_tokenizers(self) -> bool:
        return bool(self.tokenizations)

    def describe(self) -> str:
        """The sentence a table prints above its runs; empty for a per-token ranking."""
        if not self.across_tokenizers:
            return ""
        unit = "word" if self.column == "test_word_ppl" else "byte"
        return (
            f"Ranked by {self.shown}: these runs tokenize the text differently "
            f"({'; '.join(self.tokenizations)}), so their per-token ppl (beside it) do "
            f"not compare; per {unit}, every run is measured on the same units."
        )


PER_TOKEN = Ranking("test_ppl", "test ppl")


def _same_count(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all()) and numbers.nunique() == 1


def choose_ranking(measured: pd.DataFrame) -> Ranking:
    """The ranking of ``measured`` (rows of :meth:`bench.store.Store.results_frame`).

    Two runs share their tokens when their tokenizers have the same name and gave the
    test text the same number of tokens (a BPE tokenizer with another vocabulary size
    does not).
    """
    if measured.empty or "tokenizer" not in measured.columns:
        return PER_TOKEN
    tokens = measured["test_tokens"] if "test_tokens" in measured.columns else None
    kinds: dict[tuple[str, Any], None] = {}
    for position, tokenizer in enumerate(measured["tokenizer"]):
        count = None if tokens is None or missing(tokens.iloc[position]) else tokens.iloc[position]
        kinds[(str(tokenizer or "?"), None if count is None else int(count))] = None
    if len(kinds) < 2:
        return PER_TOKEN
    described = tuple(
        f"{name}, {count:,} test tokens" if count is not None else name for name, count in kinds
    )
    if "test_words" in measured.columns and _same_count(measured["test_words"]):
        return Ranking("test_word_ppl", "word ppl (test)", described)
    return Ranking("test_bits_per_byte", "bits/byte (test)", described)


def sort_measured(measured: pd.DataFrame, ranking: Ranking) -> pd.DataFrame:
    """``measured`` best first by ``ranking`` (ties and rows without it by run id, last)."""
    column = ranking.column if ranking.column in measured.columns else PER_TOKEN.column
    key = pd.to_numeric(measured[column], errors="coerce")
    ordered = measured.assign(_key=key).sort_values(
        ["_key", "run_id"], na_position="last", kind="stable"
    )
    return ordered.drop(columns="_key")
