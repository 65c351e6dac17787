"""Cost of the error bars: the bootstrap interval and the paired comparison on a real split.

Tokenizes a corpus's test split with the word tokenizer (vocabulary from train), gives each
token a synthetic log-probability (the bootstrap's cost depends on the number of lines, not
on the values), and times :func:`perplexity_interval` (one run) and :func:`paired_bootstrap`
(two runs), 2,000 resamples each, as medians of repeats. Goal: PTB test (3,761 lines) in well
under a second each. Also prints the size of the per-line blob stored with an evaluation.

    python benchmarks/uncertainty_speed.py --corpus PATH/TO/PTB      # a folder with test.txt
    python benchmarks/uncertainty_speed.py                           # embedded tinyshakespeare
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.api.plugin_host import get_host
from bench.corpora import load_corpus
from bench.scoring.compare import paired_bootstrap
from bench.scoring.uncertainty import RESAMPLES, LineScores, perplexity_interval
from bench.tokenization.tokenizers import WordTokenizer


def median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        corpus = load_corpus(args.corpus, get_host().corpora, Path(folder), progress=False)
        tokenizer = WordTokenizer(WordTokenizer.Options())
        tokenizer.fit(corpus.splits["train"], Path(folder))
        split = tokenizer.encode("test", list(corpus.splits["test"]))
    rng = np.random.default_rng(0)
    logprobs = -rng.gamma(2.0, 2.3, size=len(split))
    a = LineScores.of_split(logprobs, split.line_offsets, split.line_words, split.line_bytes)
    b = LineScores(
        nll=a.nll + rng.normal(0, 0.5, size=len(a)), tokens=a.tokens, words=a.words, bytes=a.bytes
    )

    interval = median_seconds(lambda: perplexity_interval(a), args.repeats)
    paired = median_seconds(lambda: paired_bootstrap(a, b), args.repeats)
    print(f"{corpus.name} test: {len(a):,} lines, {len(split):,} tokens, {RESAMPLES} resamples")
    print(f"  interval of one run:      {interval * 1000:8.1f} ms (median of {args.repeats})")
    print(f"  paired comparison (2 runs):{paired * 1000:7.1f} ms (median of {args.repeats})")
    print(f"  per-line blob stored:     {len(a.to_bytes()) / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
