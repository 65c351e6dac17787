"""One-line hints a run prints when its setup looks wrong for the text: a word vocabulary
that leaves much of a user's text unknown, or training that stopped while the model was
still learning fast. Each function returns the line, or None when there is nothing to say.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.corpora import CorpusText
from bench.run.epoch_report import configured_epochs
from bench.tokenization.tokens import TokenizedSplit

UNKNOWN_SHARE = 0.10  # valid words unknown to the word vocabulary above this: suggest char
NAME_WORDS = 2  # lines of at most this many words (median) look like names, not sentences
HINT_LINES = 100_000  # of a streamed train split, the first lines are enough to judge
STEEP_FALL = 0.05  # valid perplexity falling more than this in the last epoch: not done


def tokenizer_hint(corpus: CorpusText, tokenizer: str, valid: TokenizedSplit) -> str | None:
    """For a word model on the user's own text (not a registered corpus, whose tokenizer
    is the published one): suggest characters when many valid words are unknown, or when
    the lines look like names (a list of single words, which a word model cannot invent)."""
    words = valid.counts.tokens - valid.counts.lines  # not counting the ends of lines
    if corpus.spec is not None or tokenizer != "word" or words <= 0:
        return None
    share = valid.counts.oov / words
    if share > UNKNOWN_SHARE:
        return (
            f"hint: {share:.0%} of the valid words are missing from the train split (scored "
            "as <unk>); for text like this a character model may suit better: --tokenizer char"
        )
    train = corpus.splits["train"]
    lines = train if isinstance(train, list) else train.head(HINT_LINES)
    if lines:
        median = statistics.median(len(line.split()) for line in lines)
        if median <= NAME_WORDS:
            return (
                f"hint: the lines are short (median {median:g} words), like names rather "
                "than sentences; a word model can only repeat whole lines it has seen, a "
                "character model can make new ones: --tokenizer char"
            )
    return None


def epochs_hint(valid_ppls: Sequence[float], epochs: int | None) -> str | None:
    """When the validation perplexity fell steeply in the last epoch, more would help."""
    if len(valid_ppls) < 2 or valid_ppls[-2] <= 0:
        return None
    before, last = valid_ppls[-2], valid_ppls[-1]
    fall = 1 - last / before
    if fall <= STEEP_FALL:
        return None
    more = f" (--set epochs=N, more than {epochs})" if epochs else ""
    return (
        f"hint: more epochs would help: valid ppl fell {fall:.0%} in the last epoch "
        f"({before:.2f} to {last:.2f}){more}"
    )


def run_epochs_hint(record: dict[str, Any], config: dict[str, Any]) -> str | None:
    """:func:`epochs_hint` for a stored run's ``record`` (its valid_ppl metrics, so a
    resumed run's earlier epochs count too)."""
    metrics = sorted(record.get("metrics") or [], key=lambda metric: metric["epoch"] or 0)
    ppls = [metric["value"] for metric in metrics if metric["name"] == "valid_ppl"]
    return epochs_hint(ppls, configured_epochs(config))
