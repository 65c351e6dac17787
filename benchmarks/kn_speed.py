"""Kneser-Ney estimation and scoring: wall time and peak memory, beside KenLM's figures.

    python benchmarks/kn_speed.py                          # PTB and WikiText-2, orders 3 and 5
    python benchmarks/kn_speed.py --corpus ptb --order 5 --repeats 5
    python benchmarks/kn_speed.py --scaling --sizes 1M,10M # growth with corpus size, KN5
    python benchmarks/kn_speed.py --scaling                # 1M, 10M and 100M tokens (long)
    python benchmarks/kn_speed.py --scaling --sizes 100M --memory none --memory 4G \
        --temp-dir /big/disk/tmp                           # in memory beside a 4 GB budget
    python benchmarks/kn_speed.py --scaling --sizes 800M --copies obw --memory 8G \
        --repeats 1 --temp-dir /big/disk/tmp               # One-Billion-Word-sized

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

The train split of a scaling run is written once to flat files (int32 ids, int64 line
offsets, as bench's token cache stores a streamed corpus) and memory-mapped by each
worker, so nothing but the estimator decides what sits in memory. ``--memory`` picks the
estimator: ``none`` in memory (the default), or a budget such as ``4G`` for
``--set memory=4G``; give it several times to compare. Budgeted runs also report the
peak size of their temporary folder (``--temp-dir``) and each pass's time.

One-Billion-Word-sized text (``--copies obw``). Permuted copies give ~2.7 distinct
n-grams per token at any size, repeated ones almost none beyond the first copy; real text
lies between, its distinct n-grams growing sub-linearly. So copy ``i`` (from 1) is mapped
through the ``p(i) = floor(1.64 i^0.8)``-th of a family of random one-to-one maps from
WikiText-2's words into a vocabulary of 793,471 words (One Billion Word's): early copies
are all new text, later ones increasingly repeat earlier copies verbatim, and at 800M
tokens about 190 distinct copies give roughly the n-gram count reported for One Billion
Word's unpruned KN5 (1.1B, Chelba et al. 2013). It differs from the real corpus in every
other way: short WikiText sentences of a 33k-word vocabulary renamed, no genuine rare
words or long-range variety, and its n-grams come in blocks that repeat exactly.
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
SIZES = {
    "1M": 1_000_000,
    "10M": 10_000_000,
    "30M": 30_000_000,
    "100M": 100_000_000,
    "800M": 800_000_000,
}
OBW_VOCAB = 793_471  # One Billion Word's vocabulary (words seen 3+ times, with <unk>)


# ----------------------------------------------------------------------------- worker


def rss_mb() -> float:
    """Current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pass_peak_mb() -> float:
    """Peak RSS since the last call (Linux: VmHWM, then reset through clear_refs)."""
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM"))
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return peak / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process: on a machine shared with other jobs this
    is the steadier figure (wall time there depends on everyone else's load)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_split(name: str, ids: np.ndarray, offsets: np.ndarray) -> Any:
    from bench.tokenization.tokens import TokenizedSplit, UnitCounts

    counts = UnitCounts(tokens=len(ids), words=len(ids), bytes=0, lines=len(offsets) - 1)
    return TokenizedSplit(name=name, ids=ids, line_offsets=offsets, counts=counts)


def copy_mapping(
    copy: int, copies: str, vocab_size: int, special: list[int], rng: np.random.Generator
) -> np.ndarray:
    """How copy ``copy`` of the train text renames its word ids (``special`` ids kept)."""
    mapping = np.arange(vocab_size)
    if copy == 0 or copies == "repeated":
        return mapping
    movable = np.setdiff1d(mapping, special)
    if copies == "permuted":
        mapping[movable] = rng.permutation(movable)
        return mapping
    family = int(1.64 * copy**0.8)  # obw: which of the one-to-one maps
    chosen = np.random.default_rng(family).choice(
        np.arange(len(special), OBW_VOCAB), size=len(movable), replace=False
    )
    mapping[movable] = chosen
    return mapping


def write_scaled_train(
    ids: np.ndarray,
    offsets: np.ndarray,
    tokens: int,
    special: list[int],
    vocab_size: int,
    copies: str,
    folder: Path,
) -> tuple[int, int]:
    """Whole lines of WikiText-2 train, copy after copy, up to ``tokens`` tokens, written
    to ``folder``/ids.int32 and offsets.int64; returns (tokens, lines) written.

    ``special`` must be the lowest ids (bench puts <eos> and <unk> first), so that
    mapped copies keep them and spread the other words over a larger vocabulary.
    """
    assert sorted(special) == list(range(len(special)))
    rng = np.random.default_rng(0)
    written_tokens = written_lines = 0
    with (
        open(folder / "ids.int32", "wb") as ids_file,
        open(folder / "offsets.int64", "wb") as offsets_file,
    ):
        np.zeros(1, dtype=np.int64).tofile(offsets_file)
        copy = 0
        while written_tokens < tokens:
            mapping = copy_mapping(copy, copies, vocab_size, special, rng)
            ends = offsets[1:]
            last = int(np.searchsorted(ends, tokens - written_tokens, side="right"))
            if last == 0:
                break  # the next line would overshoot
            end = int(ends[last - 1])
            mapping[ids[:end]].astype(np.int32).tofile(ids_file)
            (ends[:last] + written_tokens).astype(np.int64).tofile(offsets_file)
            written_tokens += end
            written_lines += last
            copy += 1
    return written_tokens, written_lines


def load_train(folder: Path, tokens: int, lines: int) -> Any:
    """The split written by :func:`write_scaled_train`, memory-mapped as bench's token
    cache maps a streamed corpus."""
    ids = np.memmap(folder / "ids.int32", dtype=np.int32, mode="r", shape=(tokens,))
    offsets = np.memmap(folder / "offsets.int64", dtype=np.int64, mode="r", shape=(lines + 1,))
    return make_split("train", ids, offsets)


def worker(
    data_path: Path, order: int, train_folder: Path | None, memory: str, temp_dir: Path | None
) -> dict[str, Any]:
    """One measurement in this (fresh) process: estimate from train, score test."""
    from bench.tokenization.tokens import Vocabulary
    from bench_plugins.kn import KNModel, KNOptions

    data = np.load(data_path)
    tokens = json.loads(data["vocab"].item())
    if train_folder is not None:
        meta = json.loads((train_folder / "meta.json").read_text())
        train = load_train(train_folder, meta["tokens"], meta["lines"])
        # the obw copies use ids up to One Billion Word's vocabulary size
        tokens += [f"w{i}" for i in range(len(tokens), meta["vocab_size"])]
    else:
        train = make_split("train", data["train_ids"], data["train_offsets"])
    vocab = Vocabulary(tokens)
    test = make_split("test", data["test_ids"], data["test_offsets"])
    # permuted copies give every word many distinct left neighbours, so no unigram has
    # an adjusted count of 1..4: fixed discounts there (same work, same memory)
    budgeted = memory != "none"
    options = KNOptions(
        order=order, discount_fallback=train_folder is not None, memory=memory if budgeted else None
    )
    model = KNModel(options, vocab, "cpu")
    passes: dict[str, float] = {}
    base = rss_mb()
    start, start_cpu = time.perf_counter(), cpu_seconds()
    peaks: dict[str, float] = {}

    def on_pass(name: str, seconds: float) -> None:
        passes[name] = seconds
        peaks[name] = pass_peak_mb()

    if budgeted:
        pass_peak_mb()
        model.fit_split(train, temp_root=temp_dir, on_pass=on_pass)
    else:
        model.fit_split(train)
    estimated, estimated_cpu = time.perf_counter(), cpu_seconds()
    (scored,) = model.score(test, model.eval_protocol(test))
    finished = time.perf_counter()
    temp_mb = model.space.peak_bytes / 2**20 if model.space is not None else 0.0
    ngrams = model.ngram_counts
    model.close()  # removes the temporary folder now, not at exit
    return {
        "estimate_s": estimated - start,
        "score_s": finished - estimated,
        "estimate_cpu_s": estimated_cpu - start_cpu,
        "load": os.getloadavg()[0],
        # per-pass resets of the peak (pass_peak_mb) reset ru_maxrss too
        "peak_mb": max([peak_rss_mb(), *peaks.values()]),
        "base_mb": base,
        "train_tokens": len(train),
        "ngrams": ngrams,
        "temp_mb": temp_mb,
        "passes": passes,
        "pass_peaks_mb": peaks,
        "test_ppl": float(np.exp(-scored.logprobs.mean())),
    }


# ----------------------------------------------------------------------------- parent


def tokenize_to_file(corpus: Path, folder: Path) -> Path:
    """Tokenize train and test once with bench's word tokenizer; save the ids."""
    from bench.tokenization.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(WordTokenizer.Options())
    lines = {
        s: (corpus / f"{s}.txt").read_text(encoding="utf-8").splitlines() for s in ("train", "test")
    }
    tokenizer.fit(lines["train"], folder / "tokenizer")
    splits = {s: tokenizer.encode(s, text) for s, text in lines.items()}
    path = folder / f"{corpus.name}.npz"
    np.savez(
        path,
        vocab=np.array(json.dumps(tokenizer.vocab.tokens)),
        **{f"{s}_ids": split.ids for s, split in splits.items()},
        **{f"{s}_offsets": split.line_offsets for s, split in splits.items()},
    )
    return path


def measure(
    data_path: Path,
    order: int,
    repeats: int,
    train_folder: Path | None = None,
    memory: str = "none",
    temp_dir: Path | None = None,
) -> dict[str, Any]:
    """Medians over ``repeats`` fresh worker processes."""
    runs = []
    for _ in range(repeats):
        command = [
            sys.executable,
            __file__,
            "--worker",
            str(data_path),
            "--order",
            str(order),
            "--memory",
            memory,
        ]
        command += ["--train-folder", str(train_folder)] if train_folder else []
        command += ["--temp-dir", str(temp_dir)] if temp_dir else []
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"worker failed ({' '.join(command)}):\n{done.stderr}")
        output = done.stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    median = {
        key: statistics.median(run[key] for run in runs)
        for key in (
            "estimate_s",
            "score_s",
            "peak_mb",
            "base_mb",
            "temp_mb",
            "estimate_cpu_s",
            "load",
        )
    }
    median["total_s"] = median["estimate_s"] + median["score_s"]
    return {**runs[0], **median, "runs": len(runs)}


def corpus_table(
    corpora: Path, names: list[str], orders: list[int], repeats: int, folder: Path
) -> None:
    print(
        f"{'corpus':<11} {'order':>5} {'estimate s':>10} {'score s':>8} {'total s':>8} "
        f"{'peak MB':>8} {'base MB':>8} {'test ppl':>9}  vs KenLM (time, memory)"
    )
    for name in names:
        data_path = tokenize_to_file(corpora / name, folder)
        for order in orders:
            m = measure(data_path, order, repeats)
            ratio = ""
            if name == "ptb" and order == 5:
                kenlm_total = KENLM_PTB_KN5["estimate_s"] + KENLM_PTB_KN5["score_s"]
                ratio = (
                    f"{m['total_s'] / kenlm_total:.2f}x of {kenlm_total:.2f} s, "
                    f"{m['peak_mb'] / KENLM_PTB_KN5['peak_mb']:.2f}x of "
                    f"{KENLM_PTB_KN5['peak_mb']:.0f} MB"
                )
            print(
                f"{name:<11} {order:>5} {m['estimate_s']:>10.3f} {m['score_s']:>8.3f} "
                f"{m['total_s']:>8.3f} {m['peak_mb']:>8.0f} {m['base_mb']:>8.0f} "
                f"{m['test_ppl']:>9.2f}  {ratio}",
                flush=True,
            )


def scaling_table(
    corpora: Path,
    sizes: list[str],
    order: int,
    repeats: int,
    copies: str,
    memories: list[str],
    folder: Path,
    temp_dir: Path | None,
) -> None:
    data_path = tokenize_to_file(corpora / "wikitext-2", folder)
    data = np.load(data_path)
    vocab = json.loads(data["vocab"].item())
    special = [vocab.index("<eos>"), vocab.index("<unk>")]
    vocab_size = OBW_VOCAB if copies == "obw" else len(vocab)
    print(f"KN{order} on WikiText-2 train, {copies} copies; scoring WikiText-2 test")
    print(
        f"{'size':>5} {'memory':>6} {'train tokens':>13} {'n-grams':>13} {'estimate s':>10} "
        f"{'cpu s':>7} {'us/token':>8} {'score s':>8} {'peak MB':>8} {'base MB':>8} "
        f"{'B/n-gram':>8} {'temp MB':>8} {'test ppl':>9} {'load':>5}"
    )
    for size in sizes:
        train_folder = folder / f"train-{size}-{copies}"
        train_folder.mkdir()
        tokens, lines = write_scaled_train(
            data["train_ids"],
            data["train_offsets"],
            SIZES[size],
            special,
            len(vocab),
            copies,
            train_folder,
        )
        (train_folder / "meta.json").write_text(
            json.dumps({"tokens": tokens, "lines": lines, "vocab_size": vocab_size})
        )
        for memory in memories:
            m = measure(data_path, order, repeats, train_folder, memory, temp_dir)
            ngrams = sum(m["ngrams"])
            print(
                f"{size:>5} {memory:>6} {m['train_tokens']:>13,} {ngrams:>13,} "
                f"{m['estimate_s']:>10.1f} {m['estimate_cpu_s']:>7.1f} "
                f"{1e6 * m['estimate_s'] / m['train_tokens']:>8.3f} "
                f"{m['score_s']:>8.2f} {m['peak_mb']:>8.0f} {m['base_mb']:>8.0f} "
                f"{(m['peak_mb'] - m['base_mb']) * 2**20 / ngrams:>8.1f} "
                f"{m['temp_mb']:>8.0f} {m['test_ppl']:>9.3f} {m['load']:>5.1f}",
                flush=True,
            )
            if m["passes"]:
                print(
                    "      passes (s, peak RSS MB): "
                    + ", ".join(
                        f"{name} {seconds:.1f} {m['pass_peaks_mb'][name]:.0f}"
                        for name, seconds in m["passes"].items()
                    ),
                    flush=True,
                )
            print(
                f"      n-grams per order: {', '.join(f'{n:,}' for n in m['ngrams'])}", flush=True
            )
        for path in train_folder.iterdir():
            path.unlink()
        train_folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpora",
        type=Path,
        default=DEFAULT_CORPORA,
        help="folder with ptb/ and wikitext-2/ (train/valid/test.txt)",
    )
    parser.add_argument(
        "--corpus",
        action="append",
        choices=["ptb", "wikitext-2"],
        help="only this corpus (repeatable); default both",
    )
    parser.add_argument("--order", type=int, action="append", help="default 3 and 5")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--scaling", action="store_true", help="time and memory vs size")
    parser.add_argument("--sizes", default="1M,10M,100M", help=f"of {', '.join(SIZES)}")
    parser.add_argument(
        "--copies",
        choices=["permuted", "repeated", "obw"],
        default="permuted",
        help="how copies after the first differ (see the module docstring)",
    )
    parser.add_argument(
        "--memory",
        action="append",
        help="scaling: 'none' (in memory) or a budget such as 4G; repeatable",
    )
    parser.add_argument(
        "--temp-dir",
        type=Path,
        help="folder for the scaled train split and the budgeted estimator's "
        "temporary files (default: the system's temporary folder)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--train-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(
                worker(
                    args.worker,
                    args.order[0],
                    args.train_folder,
                    (args.memory or ["none"])[0],
                    args.temp_dir,
                )
            )
        )
        return
    names = args.corpus or ["ptb", "wikitext-2"]
    missing = [
        n
        for n in (["wikitext-2"] if args.scaling else names)
        if not (args.corpora / n / "train.txt").is_file()
    ]
    if missing:
        sys.exit(
            f"corpora not found: {', '.join(str(args.corpora / n) for n in missing)} "
            "(each needs train.txt and test.txt); pass --corpora FOLDER"
        )
    if args.temp_dir:
        args.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kn-speed-", dir=args.temp_dir) as tmp:
        if args.scaling:
            sizes = [s.strip() for s in args.sizes.split(",")]
            unknown = [s for s in sizes if s not in SIZES]
            if unknown:
                sys.exit(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
            orders = args.order or [5]
            scaling_table(
                args.corpora,
                sizes,
                orders[0],
                args.repeats,
                args.copies,
                args.memory or ["none"],
                Path(tmp),
                args.temp_dir,
            )
        else:
            corpus_table(args.corpora, names, args.order or [3, 5], args.repeats, Path(tmp))


if __name__ == "__main__":
    main()
