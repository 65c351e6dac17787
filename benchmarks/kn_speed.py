"""Kneser-Ney estimation and scoring: wall time and peak memory, beside KenLM's figures.

    python benchmarks/kn_speed.py                          # PTB and WikiText-2, orders 3 and 5
    python benchmarks/kn_speed.py --corpus ptb --order 5 --repeats 5
    python benchmarks/kn_speed.py --scaling --sizes 1M,10M # growth with corpus size, KN5
    python benchmarks/kn_speed.py --scaling                # 1M, 10M and 100M tokens (long)

How it measures. The parent tokenizes each corpus once with bench's word tokenizer and
hands the token ids to a fresh Python process per measurement (``--worker``), which
estimates the model from train (``KNModel.fit_split``: counting, discounts,
interpolation) and scores the test split (``KNModel.score``), timing each with
``time.perf_counter``. Peak memory is that process's peak resident set size
(``resource.getrusage(...).ru_maxrss``), so it is the whole process: interpreter,
numpy, bench, the token ids and the model. "base" is the RSS before estimation starts.
Tokenizing text is bench's core work, shared by every model, and is not timed here.
Figures are medians over ``--repeats`` processes.

KenLM's figures (lmplz -o 5 -S 1G, then query on the ARPA file; same machine kind) are
known for PTB KN5 only: 1.65 s to estimate, 0.9 s to score test, 227 MB peak.

Scaling. ``--scaling`` builds train sets of the given sizes from WikiText-2: the first
copy as is, each further copy with its word ids shuffled by a random permutation
(``--copies permuted``, the default) so that nearly every n-gram of a copy is new and the
number of distinct n-grams grows linearly with size, a harsher case than real text,
where it grows more slowly. ``--copies repeated`` repeats the text verbatim (distinct
n-grams stay those of WikiText-2: only the counting passes grow). Permuted copies leave
no unigram with an adjusted count of 1..4 (each word gains left neighbours with every
copy), so scaling runs allow lmplz's fallback discounts; the work done is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"
KENLM_PTB_KN5 = {"estimate_s": 1.65, "score_s": 0.9, "peak_mb": 227.0}
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}


# ----------------------------------------------------------------------------- worker

def rss_mb() -> float:
    """Current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_split(name: str, ids: np.ndarray, offsets: np.ndarray) -> Any:
    from bench.tokens import TokenizedSplit, UnitCounts

    counts = UnitCounts(tokens=len(ids), words=len(ids), bytes=0, lines=len(offsets) - 1)
    return TokenizedSplit(name=name, ids=ids, line_offsets=offsets, counts=counts)


def scaled_train(ids: np.ndarray, offsets: np.ndarray, tokens: int, special: list[int],
                 vocab_size: int, copies: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole lines of WikiText-2 train, copy after copy, up to ``tokens`` tokens.

    Copies after the first have their word ids permuted (``special`` ids kept), unless
    ``copies`` is "repeated".
    """
    rng = np.random.default_rng(0)
    lines = len(offsets) - 1
    n_copies = -(-tokens // len(ids))
    parts, part_offsets, shift = [], [], 0
    for copy in range(n_copies):
        mapping = np.arange(vocab_size)
        if copy and copies == "permuted":
            movable = np.setdiff1d(mapping, special)
            mapping[movable] = rng.permutation(movable)
        parts.append(mapping[ids])
        part_offsets.append(offsets[:-1] + shift)
        shift += len(ids)
    all_offsets = np.append(np.concatenate(part_offsets), shift)
    last_line = int(np.searchsorted(all_offsets, tokens, side="right")) - 1
    last_line = max(1, min(last_line, n_copies * lines))
    end = int(all_offsets[last_line])
    return np.concatenate(parts)[:end], all_offsets[:last_line + 1]


def worker(data_path: Path, order: int, scale: str | None, copies: str) -> dict[str, Any]:
    """One measurement in this (fresh) process: estimate from train, score test."""
    from bench.tokens import Vocabulary
    from bench_plugins.kn import KNModel, KNOptions

    data = np.load(data_path)
    tokens = json.loads(data["vocab"].item())
    vocab = Vocabulary(tokens)
    train_ids, train_offsets = data["train_ids"], data["train_offsets"]
    if scale:
        train_ids, train_offsets = scaled_train(
            train_ids, train_offsets, SIZES[scale], [vocab.eos_id, vocab.unk_id],
            len(vocab), copies)
    train = make_split("train", train_ids, train_offsets)
    test = make_split("test", data["test_ids"], data["test_offsets"])
    # permuted copies give every word many distinct left neighbours, so no unigram has
    # an adjusted count of 1..4: fixed discounts there (same work, same memory)
    model = KNModel(KNOptions(order=order, discount_fallback=scale is not None), vocab, "cpu")
    base = rss_mb()
    start = time.perf_counter()
    model.fit_split(train)
    estimated = time.perf_counter()
    (scored,) = model.score(test, model.eval_protocol(test))
    finished = time.perf_counter()
    return {"estimate_s": estimated - start, "score_s": finished - estimated,
            "peak_mb": peak_rss_mb(), "base_mb": base, "train_tokens": len(train_ids),
            "ngrams": model.ngram_counts, "test_ppl": float(np.exp(-scored.logprobs.mean()))}


# ----------------------------------------------------------------------------- parent

def tokenize_to_file(corpus: Path, folder: Path) -> Path:
    """Tokenize train and test once with bench's word tokenizer; save the ids."""
    from bench.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(WordTokenizer.Options())
    lines = {s: (corpus / f"{s}.txt").read_text(encoding="utf-8").splitlines()
             for s in ("train", "test")}
    tokenizer.fit(lines["train"], folder / "tokenizer")
    splits = {s: tokenizer.encode(s, text) for s, text in lines.items()}
    path = folder / f"{corpus.name}.npz"
    np.savez(path, vocab=np.array(json.dumps(tokenizer.vocab.tokens)),
             **{f"{s}_ids": split.ids for s, split in splits.items()},
             **{f"{s}_offsets": split.line_offsets for s, split in splits.items()})
    return path


def measure(data_path: Path, order: int, repeats: int, scale: str | None = None,
            copies: str = "permuted") -> dict[str, Any]:
    """Medians over ``repeats`` fresh worker processes."""
    runs = []
    for _ in range(repeats):
        command = [sys.executable, __file__, "--worker", str(data_path), "--order", str(order),
                   "--copies", copies] + (["--scale", scale] if scale else [])
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("estimate_s", "score_s", "peak_mb", "base_mb")}
    median["total_s"] = median["estimate_s"] + median["score_s"]
    return {**runs[0], **median, "runs": len(runs)}


def corpus_table(corpora: Path, names: list[str], orders: list[int], repeats: int,
                 folder: Path) -> None:
    print(f"{'corpus':<11} {'order':>5} {'estimate s':>10} {'score s':>8} {'total s':>8} "
          f"{'peak MB':>8} {'base MB':>8} {'test ppl':>9}  vs KenLM (time, memory)")
    for name in names:
        data_path = tokenize_to_file(corpora / name, folder)
        for order in orders:
            m = measure(data_path, order, repeats)
            ratio = ""
            if name == "ptb" and order == 5:
                kenlm_total = KENLM_PTB_KN5["estimate_s"] + KENLM_PTB_KN5["score_s"]
                ratio = (f"{m['total_s'] / kenlm_total:.2f}x of {kenlm_total:.2f} s, "
                         f"{m['peak_mb'] / KENLM_PTB_KN5['peak_mb']:.2f}x of "
                         f"{KENLM_PTB_KN5['peak_mb']:.0f} MB")
            print(f"{name:<11} {order:>5} {m['estimate_s']:>10.3f} {m['score_s']:>8.3f} "
                  f"{m['total_s']:>8.3f} {m['peak_mb']:>8.0f} {m['base_mb']:>8.0f} "
                  f"{m['test_ppl']:>9.2f}  {ratio}", flush=True)


def scaling_table(corpora: Path, sizes: list[str], order: int, repeats: int, copies: str,
                  folder: Path) -> None:
    data_path = tokenize_to_file(corpora / "wikitext-2", folder)
    print(f"KN{order} on WikiText-2 train, {copies} copies; scoring WikiText-2 test")
    print(f"{'size':>5} {'train tokens':>13} {'n-grams':>12} {'estimate s':>10} "
          f"{'us/token':>8} {'score s':>8} {'peak MB':>8} {'base MB':>8} {'B/n-gram':>8}")
    for size in sizes:
        m = measure(data_path, order, repeats, scale=size, copies=copies)
        ngrams = sum(m["ngrams"])
        print(f"{size:>5} {m['train_tokens']:>13,} {ngrams:>12,} {m['estimate_s']:>10.2f} "
              f"{1e6 * m['estimate_s'] / m['train_tokens']:>8.3f} {m['score_s']:>8.3f} "
              f"{m['peak_mb']:>8.0f} {m['base_mb']:>8.0f} "
              f"{(m['peak_mb'] - m['base_mb']) * 2**20 / ngrams:>8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA,
                        help="folder with ptb/ and wikitext-2/ (train/valid/test.txt)")
    parser.add_argument("--corpus", action="append", choices=["ptb", "wikitext-2"],
                        help="only this corpus (repeatable); default both")
    parser.add_argument("--order", type=int, action="append", help="default 3 and 5")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--scaling", action="store_true", help="time and memory vs size")
    parser.add_argument("--sizes", default="1M,10M,100M", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--copies", choices=["permuted", "repeated"], default="permuted")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", choices=list(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.order[0], args.scale, args.copies)))
        return
    names = args.corpus or ["ptb", "wikitext-2"]
    missing = [n for n in (["wikitext-2"] if args.scaling else names)
               if not (args.corpora / n / "train.txt").is_file()]
    if missing:
        sys.exit(f"corpora not found: {', '.join(str(args.corpora / n) for n in missing)} "
                 "(each needs train.txt and test.txt); pass --corpora FOLDER")
    with tempfile.TemporaryDirectory(prefix="kn-speed-") as tmp:
        if args.scaling:
            sizes = [s.strip() for s in args.sizes.split(",")]
            unknown = [s for s in sizes if s not in SIZES]
            if unknown:
                sys.exit(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
            orders = args.order or [5]
            scaling_table(args.corpora, sizes, orders[0], args.repeats, args.copies, Path(tmp))
        else:
            corpus_table(args.corpora, names, args.order or [3, 5], args.repeats, Path(tmp))


if __name__ == "__main__":
    main()
