"""The word tokenizer's vocabulary is counted in bounded memory (spilled to sorted runs on
disk past SPILL_TYPES distinct words) and is exactly the one a single Counter gives."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from bench.tokenization import word_counts
from bench.tokenization.tokenizers import WordOptions, WordTokenizer
from bench.tokenization.tokens import EOS, UNK


def reference(lines: list[str], min_count: int, max_size: int | None) -> list[str]:
    """The vocabulary by one Counter of every word (the rule, written plainly)."""
    counts = Counter(word for line in lines for word in line.split())
    for special in (EOS, UNK):
        counts.pop(special, None)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [EOS, UNK, *(kept if max_size is None else kept[: max_size - 2])]


def many_types(seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)] + ["caf\u00e9", "\u4e2d", UNK, EOS, "a\x0bb"]
    weights = [1 / (i + 1) for i in range(len(words))]
    return [" ".join(rng.choices(words, weights, k=rng.randint(0, 9))) for _ in range(600)]


@pytest.mark.parametrize("min_count, max_size", [(1, None), (2, None), (1, 30), (3, 12), (1, 2)])
def test_spilled_counts_give_the_vocabulary_of_one_counter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_count: int, max_size: int | None
) -> None:
    lines = many_types()
    largest: list[int] = []
    write_run = word_counts._write_run

    def watched(counts: Counter[str], path: Path) -> Path:
        largest.append(len(counts))
        return write_run(counts, path)

    monkeypatch.setattr(word_counts, "SPILL_TYPES", 25)
    monkeypatch.setattr(word_counts, "_write_run", watched)
    tokenizer = WordTokenizer(WordOptions(min_count=min_count, max_size=max_size))
    tokenizer.fit(iter(lines), tmp_path / "cache")
    assert tokenizer.vocab.tokens == reference(lines, min_count, max_size)
    # counted in runs of at most 25 types (plus one line's words), none left behind
    assert len(largest) > 5 and max(largest) <= 25 + 9
    assert list((tmp_path / "cache").iterdir()) == []


def test_without_spilling_nothing_is_written(tmp_path: Path) -> None:
    lines = many_types()
    tokenizer = WordTokenizer(WordOptions())
    tokenizer.fit(lines, tmp_path / "cache")
    assert tokenizer.vocab.tokens == reference(lines, 1, None)
    assert list((tmp_path / "cache").iterdir()) == []
