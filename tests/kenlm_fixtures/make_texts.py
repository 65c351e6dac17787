"""Write the texts of the KenLM fixtures (deterministic: a fixed seed per text).

    python tests/kenlm/make_texts.py      # writes train.txt, test.txt, tiny.txt here

train.txt: sentences from a sparse Markov chain with Zipfian jumps over 80 words, enough
repetition that every order up to 5 has adjusted counts 1..4 and valid discounts (so lmplz estimates its own
discounts); test.txt: sentences of the same chain in which about one word in eight is a
word train.txt never has (OOVs); tiny.txt: a few sentences whose count-of-counts have
zeros, so lmplz needs --discount_fallback. README.md gives the lmplz commands.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).parent
WORDS = [f"w{i}" for i in range(80)]


def chain_lines(seed: int, n_lines: int, oov_rate: float = 0.0) -> list[str]:
    rng = random.Random(seed)
    chain = random.Random(0)  # the same chain for every text
    successors = {w: chain.sample(WORDS[:6], 2) for w in WORDS}
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    lines = []
    for _ in range(n_lines):
        word, line = rng.choice(WORDS[:5]), []
        for _ in range(rng.randint(1, 5)):
            line.append(f"x{rng.randrange(30)}" if oov_rate and rng.random() < oov_rate else word)
            jump = rng.random() < 0.3
            word = rng.choices(WORDS, weights)[0] if jump else rng.choice(successors[word])
        lines.append(" ".join(line))
    return lines


def main() -> None:
    texts = {
        "train.txt": chain_lines(21, 150),
        "test.txt": chain_lines(2, 30, oov_rate=0.12),
        "tiny.txt": ["a b c", "a b d", "b c a e", "c a b"],
    }
    for name, lines in texts.items():
        (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
