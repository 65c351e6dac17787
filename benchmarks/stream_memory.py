"""Peak memory of preparing One Billion Word-style training data: streamed vs loaded whole.

    python benchmarks/stream_memory.py                     # 40M words in 5 shards (~3 min)
    python benchmarks/stream_memory.py --tokens 5M --shards 10

How it measures. A synthetic corpus is written in the one-billion-word layout (the
registered entry's cache folder: N training shards, heldout 0 and 1), with words drawn
from a Zipf distribution over 200k types and 5-45 words per line (1B-word averages ~26).
Then one fresh Python process per mode loads it through the registered spec, fits the
word tokenizer, encodes train and walks every truncated-BPTT window of the epoch
(batch 128, bptt 20, the 1B-word recipes' shape), as ``bench run`` does before training:

- ``streamed``: the spec as registered (``stream_train=True``): shards read one at a time,
  train encoded into memory-mapped int32 ids on disk, windows gathered from the map;
- ``whole``: the same spec with ``stream_train=False``, i.e. bench before streaming:
  every line in memory, int64 ids, the whole ``[rows, batch]`` tensor batchified.

Peak memory is the process's peak resident set size (``ru_maxrss``), read after each
phase, so each figure is the peak so far. Pages of a memory map that were read count in
RSS too (they are page cache the kernel can drop), so the streamed figure includes the
ids file once every window has been read. Both modes print a checksum of all windows,
which must be equal. Timings are wall-clock seconds of one run each: noisy on a shared
machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"M": 1_000_000, "K": 1_000}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def parse_count(text: str) -> int:
    suffix = text[-1].upper()
    return int(float(text[:-1]) * SIZES[suffix]) if suffix in SIZES else int(text)


# ----------------------------------------------------------------------------- corpus


def write_corpus(data_dir: Path, tokens: int, shards: int, seed: int = 0) -> None:
    """Synthetic text in the registered one-billion-word cache folder (N train shards)."""
    from bench.corpora import cached_path
    from bench_plugins.standard_corpora import ONE_BILLION_WORD

    rng = np.random.default_rng(seed)
    types = np.array([f"w{i}" for i in range(200_000)], dtype=object)
    train_files = [f for f in ONE_BILLION_WORD.files if f.split == "train"]
    other_files = [f for f in ONE_BILLION_WORD.files if f.split != "train"]
    per_shard = tokens // shards
    for index, split_file in enumerate(train_files):
        size = per_shard if index < shards else 0
        _write_shard(
            cached_path(ONE_BILLION_WORD, split_file, data_dir), rng, types, max(size, 10)
        )  # the registered entry has 99 shards: the rest are tiny
    for split_file in other_files:
        _write_shard(cached_path(ONE_BILLION_WORD, split_file, data_dir), rng, types, 50_000)


def _write_shard(path: Path, rng: np.random.Generator, types: np.ndarray, tokens: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    words = types[np.minimum(rng.zipf(1.2, size=tokens), len(types)) - 1]
    lengths = rng.integers(5, 46, size=tokens // 5 + 1)
    ends = np.cumsum(lengths)
    ends = ends[ends < tokens].tolist() + [tokens]
    starts = [0, *ends[:-1]]
    text = "\n".join(" ".join(words[a:b]) for a, b in zip(starts, ends, strict=True)) + "\n"
    path.write_text(text)


# ----------------------------------------------------------------------------- worker


def worker(data_dir: Path, mode: str, batch_size: int, bptt: int) -> dict[str, Any]:
    """Load, fit, encode and window the train split the way ``bench run`` does."""
    from bench.api.registry import Registry
    from bench.corpora import ShardedLines, load_corpus
    from bench.tokenization.batching import TrainWindows
    from bench.tokenization.token_cache import encode_to_disk
    from bench.tokenization.tokenizers import WordOptions, WordTokenizer
    from bench_plugins.standard_corpora import ONE_BILLION_WORD

    spec = dataclasses.replace(ONE_BILLION_WORD, stream_train=mode == "streamed")
    corpora: Registry[Any] = Registry("corpus")
    corpora.add(spec.name, spec, plugin="benchmark")
    peaks: dict[str, float] = {"start": peak_rss_mb()}
    seconds: dict[str, float] = {}

    def phase(name: str, started: float) -> None:
        seconds[name] = round(time.perf_counter() - started, 1)
        peaks[name] = round(peak_rss_mb())

    started = time.perf_counter()
    corpus = load_corpus(spec.name, corpora, data_dir, download=False, progress=False)
    phase("load", started)
    started = time.perf_counter()
    tokenizer = WordTokenizer(WordOptions())
    tokenizer.fit(corpus.splits["train"], data_dir / "tokenizers")
    phase("fit", started)
    started = time.perf_counter()
    train = corpus.splits["train"]
    if isinstance(train, ShardedLines):
        split = encode_to_disk(
            tokenizer, "train", train, corpus.sha256["train"], data_dir / "tokenized"
        )
    else:
        split = tokenizer.encode("train", train)
    del corpus, train
    phase("encode", started)
    started = time.perf_counter()
    windows = TrainWindows(split.ids, batch_size, bptt, "cpu")
    checksum = 0
    for inputs, targets in windows.from_window(0):
        checksum = (checksum * 31 + int(inputs.sum()) + 7 * int(targets[-1].sum())) % (1 << 61)
    phase("windows", started)
    return {
        "mode": mode,
        "tokens": len(split),
        "vocab": len(tokenizer.vocab),
        "windows": len(windows),
        "checksum": checksum,
        "seconds": seconds,
        "peak_rss_mb": peaks,
    }


def measure(data_dir: Path, mode: str, batch_size: int, bptt: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--data-dir",
        str(data_dir),
        "--batch-size",
        str(batch_size),
        "--bptt",
        str(bptt),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="40M", help="train words, e.g. 5M")
    parser.add_argument(
        "--shards",
        type=int,
        default=5,
        help="train shards holding them (1B-word's hold ~7.8M words each)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--bptt", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, help="reuse this folder (default: a temp one)")
    parser.add_argument("--worker", choices=["streamed", "whole"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data_dir, args.worker, args.batch_size, args.bptt)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as temp:
        data_dir = args.data_dir or Path(temp)
        started = time.perf_counter()
        write_corpus(data_dir, parse_count(args.tokens), args.shards)
        print(
            f"corpus written in {time.perf_counter() - started:.0f} s "
            f"({args.tokens} words in {args.shards} shards)",
            flush=True,
        )
        results = [
            measure(data_dir, mode, args.batch_size, args.bptt) for mode in ("streamed", "whole")
        ]
        ids_files = list((data_dir / "tokenized").glob("*/ids.int32"))
        disk_mb = sum(path.stat().st_size for path in ids_files[0].parent.iterdir()) / 2**20
    for result in results:
        print(json.dumps(result))
    streamed, whole = results
    if streamed["checksum"] != whole["checksum"]:
        sys.exit("the two modes gave different windows")
    print(
        f"{streamed['tokens']:,} train tokens (+eos), {streamed['windows']:,} windows: "
        f"peak RSS {streamed['peak_rss_mb']['windows']:,.0f} MB streamed vs "
        f"{whole['peak_rss_mb']['windows']:,.0f} MB whole; encoded files {disk_mb:,.0f} MB "
        "on disk"
    )


if __name__ == "__main__":
    main()
