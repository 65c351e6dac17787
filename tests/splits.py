"""Small token splits that tests build by hand (imported by test modules, not a test)."""

import numpy as np

from bench.tokenization.tokens import TokenizedSplit


def random_split(n_lines=57, vocab_size=13, seed=0):
    """Random lines over ids 2..vocab_size-1 (0 is end-of-sentence), empty lines included."""
    rng = np.random.default_rng(seed)
    lines = [rng.integers(2, vocab_size, size=rng.integers(0, 9)).tolist() for _ in range(n_lines)]
    text = [" ".join(f"w{i}" for i in line) for line in lines]
    return TokenizedSplit.from_lines("test", lines, eos_id=0, text_lines=text)
