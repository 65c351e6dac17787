"""Peak memory of fitting the word tokenizer on a text with millions of distinct tokens.

    python benchmarks/vocabulary_memory.py --tokens 20M --distinct 10M
    python benchmarks/vocabulary_memory.py --tokens 20M --distinct 10M --min-count 2

A synthetic train.txt (made in a temporary folder, never kept) holds ``--tokens`` tokens:
Zipf-distributed words over 50k types, except that ``--distinct`` of them are tokens seen
once each (``u0``, ``u1``, ...: numbers, URLs and typos in a real crawl). One fresh
process per mode fits the vocabulary on it, read in blocks as bench reads a local train
split, and reports its peak resident set size (``ru_maxrss``):

- ``bench``: ``WordTokenizer.fit`` (counts spilled to disk past a million types);
- ``counter``: the fit as bench did it before: one ``collections.Counter`` of every word,
  then the words kept sorted into the vocabulary.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import accumulate
from pathlib import Path

SIZES = {"M": 1_000_000, "K": 1_000}


def parse_count(text: str) -> int:
    suffix = text[-1].upper()
    return int(float(text[:-1]) * SIZES[suffix]) if suffix in SIZES else int(text)


def write_text(path: Path, tokens: int, distinct: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(50_000)]
    cumulative = list(accumulate(1 / (i + 1) for i in range(len(words))))
    unique_every = tokens / max(distinct, 1)
    written = next_unique = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < tokens:
            line = rng.choices(words, cum_weights=cumulative, k=20)
            for k in range(len(line)):
                if next_unique < distinct and (written + k) >= next_unique * unique_every:
                    line[k] = f"u{next_unique}"
                    next_unique += 1
            handle.write(" ".join(line) + "\n")
            written += len(line)


def worker(path: Path, mode: str, min_count: int) -> dict[str, object]:
    from bench.corpora.shards import Shard, ShardedLines
    from bench.tokenization.tokenizers import WordOptions, WordTokenizer
    from bench.tokenization.tokens import Vocabulary

    lines = ShardedLines([Shard(path)])
    started = time.perf_counter()
    if mode == "bench":
        tokenizer = WordTokenizer(WordOptions(min_count=min_count))
        tokenizer.fit(lines, path.parent / "cache")
        size = len(tokenizer.vocab)
    else:  # WordTokenizer.fit as it was: one Counter, then the sorted vocabulary
        counts: Counter[str] = Counter()
        for line in lines:
            counts.update(line.split())
        kept = [word for word, count in counts.items() if count >= min_count]
        kept.sort(key=lambda word: (-counts[word], word))
        size = len(Vocabulary(["<eos>", "<unk>", *kept]))
    return {
        "mode": mode,
        "vocabulary": size,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="20M")
    parser.add_argument("--distinct", default="10M", help="tokens seen once each")
    parser.add_argument("--min-count", type=int, default=1)
    parser.add_argument("--modes", default="bench,counter", help="which fits, comma-separated")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), args.worker[1], args.min_count)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-vocabulary-") as temp:
        path = Path(temp) / "train.txt"
        write_text(path, parse_count(args.tokens), parse_count(args.distinct))
        print(f"train.txt: {path.stat().st_size / 2**20:,.0f} MB", flush=True)
        for mode in args.modes.split(","):
            command = [sys.executable, __file__, "--worker", str(path), mode]
            command += ["--min-count", str(args.min_count)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            print(done.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
