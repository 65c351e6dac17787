"""Peak memory of `bench run` on a local folder against the size of its train.txt.

    python benchmarks/local_memory.py                          # 5M, 20M, 80M tokens
    python benchmarks/local_memory.py --sizes 20M --run "kn memory=512M"

How it measures. For each size a folder is made in a temporary directory (never kept):
its train.txt is WikiText-2's train split (``--source``, default the shared copy) written
again and again, each copy with its lines in a new random order, until it holds the
asked number of tokens (whitespace words plus one per line); valid.txt and test.txt are
WikiText-2's own. Without ``--source`` and without the shared copy, Zipf-distributed
words over 33k types stand in (say so beside any figure). Then each ``--run`` is one
fresh ``bench run --plugin P --set ... --corpus FOLDER`` (with its own database and data
folder, so nothing is reused from an earlier size) under ``/usr/bin/time -v``: the peak is
its maximum resident set size, the time its wall clock (noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from itertools import accumulate, count
from pathlib import Path

SHARED = Path("/work/shared/corpora/wikitext-2")
SIZES = {"M": 1_000_000, "K": 1_000}


def parse_count(text: str) -> int:
    suffix = text[-1].upper()
    return int(float(text[:-1]) * SIZES[suffix]) if suffix in SIZES else int(text)


def source_lines(source: Path | None) -> tuple[list[str], str, str]:
    """Train lines to repeat, and the valid and test text."""
    if source is not None:
        train = source.joinpath("train.txt").read_text(encoding="utf-8").splitlines()
        valid = source.joinpath("valid.txt").read_text(encoding="utf-8")
        return train, valid, source.joinpath("test.txt").read_text(encoding="utf-8")
    rng = random.Random(0)
    words = [f"w{i}" for i in range(33_000)]
    cumulative = list(accumulate(1 / (i + 1) for i in range(len(words))))

    def lines(count: int) -> list[str]:
        return [
            " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(5, 40)))
            for _ in range(count)
        ]

    return lines(100_000), "\n".join(lines(5_000)) + "\n", "\n".join(lines(5_000)) + "\n"


def write_folder(
    folder: Path,
    tokens: int,
    source: Path | None,
    seed: int = 0,
    copies: str = "shuffled",
    unk_as: str | None = None,
) -> int:
    """The folder with train.txt of at least ``tokens`` tokens; returns its token count.

    ``copies="shuffled"``: every copy of the train lines in a new random order (the same
    n-grams again and again). ``"permuted"``: the first copy as it is, each further copy
    with its words renamed by a random permutation of the train vocabulary (``<unk>``
    kept), so nearly every n-gram of a copy is new while the vocabulary stays that of the
    source: the text of ``kn_speed.py --copies permuted``, a harsh case for Kneser-Ney.
    ``unk_as`` renames WikiText's ``<unk>`` in all three files (KenLM's lmplz refuses a
    text holding ``<unk>``); it is then an ordinary word, and is not permuted.
    """
    train, valid, test = source_lines(source)
    if unk_as is not None:
        train = [line.replace("<unk>", unk_as) for line in train]
        valid, test = valid.replace("<unk>", unk_as), test.replace("<unk>", unk_as)
    folder.mkdir(parents=True)
    (folder / "valid.txt").write_text(valid, encoding="utf-8")
    (folder / "test.txt").write_text(test, encoding="utf-8")
    rng = random.Random(seed)
    words = sorted({word for line in train for word in line.split()} - {"<unk>", unk_as})
    written = 0
    with open(folder / "train.txt", "w", encoding="utf-8") as handle:
        for copy in count():
            if written >= tokens:
                break
            if copies == "shuffled":
                order = list(train)
                rng.shuffle(order)
            elif copy == 0:
                order = train
            else:
                renamed = dict(zip(words, rng.sample(words, len(words)), strict=True))
                order = [" ".join(renamed.get(w, w) for w in line.split()) for line in train]
            for line in order:
                handle.write(line + "\n")
                written += len(line.split()) + 1
                if written >= tokens:
                    break
    return written


def time_v(
    command: list[str], env: dict[str, str] | None = None, stdin: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """``command`` run under ``/usr/bin/time -v``: the finished process (time's report at
    the end of its stderr), its peak resident set size in MB and its wall clock seconds."""
    with open(stdin or os.devnull, "rb") as handle:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command], stdin=handle, capture_output=True, text=True, env=env
        )
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time .*: (\S+)", done.stderr)
    assert peak and wall, done.stderr[-2000:]
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.group(1).split(":"))))
    return done, int(peak.group(1)) / 1024, seconds


def cpu_seconds(report: str) -> float:
    """User plus system CPU seconds in a ``/usr/bin/time -v`` report (all threads): on a
    shared core the steadier figure, where wall time depends on everyone else's load."""
    found = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", report)
    return sum(map(float, found))


def measure(folder: Path, run: str, work: Path) -> dict[str, str]:
    """One `bench run` under /usr/bin/time -v: peak RSS (MB), wall seconds, test ppl."""
    plugin, *settings = run.split()
    env = dict(
        os.environ, BENCH_DB=f"sqlite:///{work / 'bench.db'}", BENCH_DATA_DIR=str(work / "data")
    )
    command = [sys.executable, "-m", "bench", "run", "--plugin", plugin]
    command += [arg for setting in settings for arg in ("--set", setting)]
    command += ["--corpus", str(folder)]
    done, peak_mb, wall_s = time_v(command, env)
    ppl = re.search(r"test perplexity\s+([\d.]+)", done.stdout + done.stderr)
    return {
        "peak_mb": f"{peak_mb:,.0f}",
        "wall": f"{wall_s:.1f} s",
        "test_ppl": ppl.group(1) if ppl else "?",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5M,20M,80M", help="train tokens, comma-separated")
    parser.add_argument(
        "--run",
        action="append",
        help='a plugin and its settings, e.g. "kn memory=512M" (repeatable; default unigram)',
    )
    parser.add_argument("--source", type=Path, help="a folder to repeat (default WikiText-2)")
    parser.add_argument(
        "--copies",
        choices=["shuffled", "permuted"],
        default="shuffled",
        help="copies with their lines shuffled, or their words renamed (see write_folder)",
    )
    args = parser.parse_args()
    source = args.source or (SHARED if SHARED.is_dir() else None)
    runs = args.run or ["unigram"]
    print(f"source: {source or 'synthetic Zipf words (no WikiText-2 here)'}", flush=True)
    print("| train tokens | train.txt MB | run | peak RSS MB | wall | test ppl |")
    print("|---:|---:|---|---:|---:|---:|")
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-local-memory-") as temp:
            folder = Path(temp) / "corpus"
            tokens = write_folder(folder, parse_count(size), source, copies=args.copies)
            megabytes = (folder / "train.txt").stat().st_size / 2**20
            for index, run in enumerate(runs):
                work = Path(temp) / f"work{index}"
                found = measure(folder, run, work)
                print(
                    f"| {tokens:,} | {megabytes:,.0f} | {run} | {found['peak_mb']} | "
                    f"{found['wall']} | {found['test_ppl']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
