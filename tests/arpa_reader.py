"""A small pure-Python ARPA reader, to check the files bench's Kneser-Ney model writes.

It holds every n-gram in a dict: fine for test-sized models, far too slow for PTB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench_plugins.kn.arpa import BOS_TEXT, EOS_TEXT


@dataclass
class ArpaModel:
    """An ARPA back-off model in plain dicts: n-gram tuple -> (log10 p, log10 backoff)."""

    order: int
    declared: dict[int, int]
    entries: dict[tuple[str, ...], tuple[float, float]] = field(default_factory=dict)

    def log10_prob(self, context: Sequence[str], word: str) -> float:
        """log10 p(word | context) by the ARPA back-off rule (context: earlier words)."""
        context = tuple(context)[-(self.order - 1) :] if self.order > 1 else ()
        backoff = 0.0
        for start in range(len(context) + 1):
            ngram = (*context[start:], word)
            if ngram in self.entries:
                return backoff + self.entries[ngram][0]
            history = context[start:]
            if history in self.entries:
                backoff += self.entries[history][1]
        unk = self.entries.get(("<unk>",))
        if unk is None:
            raise KeyError(f"{word!r} is not in the model and it has no <unk>")
        return backoff + unk[0]

    def sentence_log10(self, words: Sequence[str]) -> float:
        """Total log10 probability of ``words`` followed by ``</s>``, after ``<s>``."""
        history = [BOS_TEXT]
        total = 0.0
        for word in [*words, EOS_TEXT]:
            total += self.log10_prob(history, word)
            history.append(word)
        return total


def read_arpa(path: Path) -> ArpaModel:
    """Parse an ARPA file (checks that each section has the n-gram count it declares)."""
    declared: dict[int, int] = {}
    entries: dict[tuple[str, ...], tuple[float, float]] = {}
    section = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line == "\\data\\":
                continue
            if line.startswith("ngram "):
                k, _, n = line[len("ngram ") :].partition("=")
                declared[int(k)] = int(n)
            elif line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1 : -len("-grams:")])
            elif line == "\\end\\":
                break
            else:
                fields = line.split("\t")
                ngram = tuple(fields[1].split(" "))
                if len(ngram) != section:
                    raise ValueError(f"{path}: {len(ngram)}-gram in the {section}-gram section")
                entries[ngram] = (float(fields[0]), float(fields[2]) if len(fields) > 2 else 0.0)
    found = {k: sum(1 for g in entries if len(g) == k) for k in declared}
    if found != declared:
        raise ValueError(f"{path}: declared n-gram counts {declared} but found {found}")
    return ArpaModel(order=max(declared), declared=declared, entries=entries)
