"""A full-size rehearsal of the One Billion Word recipes without the corpus.

    python benchmarks/one_billion_word_rehearsal.py                      # ~800M tokens
    python benchmarks/one_billion_word_rehearsal.py --tokens 50_000_000 --steps 3
    python benchmarks/one_billion_word_rehearsal.py --recipes grave-lstm-2048-adaptive

What it makes. A synthetic corpus of One Billion Word's shape under ``--work``: a
793,471-word vocabulary whose words are drawn with Zipfian frequencies (P(rank r)
proportional to 1/r), every word written at least 3 times so that the recipes'
``min_count = 3`` keeps all of them, about ``--tokens`` tokens of training text in the
99 training shard files, and the two heldout files (valid: heldout 00001, test: heldout
00000), each laid out where bench keeps the fetched corpus, so ``--corpus
one-billion-word`` reads them as if downloaded. Nothing is committed; delete ``--work``
afterwards.

What it runs. Every One Billion Word recipe (``corpus = "one-billion-word"``), one at a
time, each in its own database and run folder: ``bench reproduce NAME`` bounded to
``--steps`` training steps (``epochs=1``, ``max_steps_per_epoch``), checkpointing after
every step; the run is stopped (SIGINT, as Ctrl-C) once its first checkpoint is on disk,
continued with ``bench run --resume``, and finished: the heldout files are then scored
exactly, as bench always scores. Per recipe it prints time (tokenising and building,
training, scoring; the rest of the wall time is start-up and checkpoints), peak memory of
each process and disk (token cache; the stopped run's folder, with its resumable
checkpoint, and the finished run's ``best.pt``). Heavy: the full-size recipes need 5-17 GB
each; run it alone (on a shared machine, under a lock).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.configuration.recipes import load_recipes
from bench.corpora import cached_path
from bench_plugins.standard_corpora import ONE_BILLION_WORD

VOCAB = 793_471  # One Billion Word's vocabulary: words seen at least 3 times
MEAN_SENTENCE = 25  # words per line, about the real corpus's
HELDOUT_TOKENS = 160_000  # about one real heldout shard (~6,000 sentences)


def zipf_sampler(vocab: int, seed: int):
    cumulative = np.cumsum(1.0 / np.arange(1, vocab + 1))
    cumulative /= cumulative[-1]
    rng = np.random.default_rng(seed)

    def draw(n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cumulative, rng.random(n)), vocab - 1)

    return draw, rng


def write_lines(path: Path, ids: np.ndarray, rng: np.random.Generator) -> None:
    """Ids as lines of words ``w<rank>``, line lengths 1..2*MEAN_SENTENCE-1."""
    words = np.char.add("w", ids.astype(str))
    # twice the lines needed on average, so the lengths always cover every id (ends are
    # clipped to the last one); fewer could drop the tail, where the vocabulary copies are
    lengths = rng.integers(1, 2 * MEAN_SENTENCE, size=2 * (len(ids) // MEAN_SENTENCE) + 2)
    ends = np.minimum(np.cumsum(lengths), len(ids))
    starts = np.concatenate([[0], ends[:-1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end > start:
                out.write(" ".join(words[start:end].tolist()) + "\n")


def make_corpus(data_dir: Path, tokens: int, heldout_tokens: int, seed: int) -> dict[str, float]:
    draw, rng = zipf_sampler(VOCAB, seed)
    files = ONE_BILLION_WORD.files
    train = [f for f in files if f.split == "train"]
    per_shard = max(1, tokens // len(train))
    began = time.perf_counter()
    for index, split_file in enumerate(train):
        ids = draw(per_shard)
        if index < 3:  # every word 3 times in all: the vocabulary is exactly VOCAB words
            ids = np.concatenate([ids, rng.permutation(VOCAB)])
        write_lines(cached_path(ONE_BILLION_WORD, split_file, data_dir), ids, rng)
    for split_file in files:
        if split_file.split != "train":
            write_lines(
                cached_path(ONE_BILLION_WORD, split_file, data_dir), draw(heldout_tokens), rng
            )
    folder = cached_path(ONE_BILLION_WORD, train[0], data_dir).parent
    return {
        "seconds": time.perf_counter() - began,
        "gb": disk_gb(folder),
        "train_tokens": per_shard * len(train) + 3 * VOCAB,
    }


def disk_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**30


def bench(
    args: list[str], env: dict[str, str], stop_at_checkpoint: Path | None = None
) -> tuple[str, float, float]:
    """Run ``bench ARGS`` under /usr/bin/time; (output, seconds, peak RSS in GB). With
    ``stop_at_checkpoint``, Ctrl-C it (SIGINT) once a resume checkpoint exists under that
    folder."""
    command = ["/usr/bin/time", "-f", "MAXRSS_KB %M", sys.executable, "-m", "bench", *args]
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if stop_at_checkpoint is not None:
        while process.poll() is None and not any(stop_at_checkpoint.rglob("resume.pt")):
            time.sleep(0.5)
        if process.poll() is None:
            time.sleep(1.0)  # let the checkpoint's write finish (it is written atomically)
            # SIGINT to the whole group, as Ctrl-C in a terminal: /usr/bin/time ignores it
            # while it waits, so it still reports the stopped process's peak memory (a
            # SIGTERM would end /usr/bin/time too, and that figure with it)
            os.killpg(process.pid, signal.SIGINT)
    output = process.communicate()[0]
    seconds = time.perf_counter() - began
    found = re.findall(r"MAXRSS_KB (\d+)", output)
    return output, seconds, (int(found[-1]) / 2**20 if found else float("nan"))


def trained_by_steps(recipe: str) -> bool:
    """Whether the recipe's model trains in steps that bench can bound and checkpoint
    (the BPTT-trained ones), rather than counting its whole corpus."""
    from bench.api.plugin_host import get_host

    return "max_steps_per_epoch" in get_host().models.get(plugin_of(recipe)).Options.model_fields


def plugin_of(recipe: str) -> str:
    return next(r for r in load_recipes() if r.name == recipe).config["plugin"]


def rehearse(
    recipe: str, work: Path, data_dir: Path, steps: int, extra: list[str]
) -> dict[str, object]:
    runs = work / "runs" / recipe
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    # an earlier rehearsal stopped midway leaves its checkpoints: one found there would
    # have the new run stopped before it wrote its own
    shutil.rmtree(data_dir / "runs", ignore_errors=True)
    env = dict(os.environ, BENCH_DB=f"sqlite:///{runs / 'bench.db'}", BENCH_DATA_DIR=str(data_dir))
    stepped = trained_by_steps(recipe)
    if stepped:
        first, first_s, first_gb = bench(
            [
                "reproduce",
                recipe,
                "--set",
                "epochs=1",
                "--set",
                f"max_steps_per_epoch={steps}",
                "--set",
                "checkpoint_minutes=0",
                "--set",
                "log_every=1",
                *extra,
            ],
            env,
            stop_at_checkpoint=data_dir / "runs",
        )
        # what a stopped run keeps on disk: the resumable checkpoint (weights, optimiser
        # state) and the epoch's starting point beside it
        stopped_disk_gb = disk_gb(data_dir / "runs")
        resumed, resumed_s, resumed_gb = bench(["run", "--resume", "1"], env)
    else:  # a count-based model (kn, snm): no steps to bound or checkpoint, run it whole
        # synthetic Zipf text has count-of-counts no real text has (every word at least
        # three times, few singletons), so Kneser-Ney's estimated discounts fall outside
        # [0, 2]; lmplz's fixed fallback discounts stand in
        fallback = ["--set", "discount_fallback=true"] if plugin_of(recipe) == "kn" else []
        first, first_s, first_gb = bench(["reproduce", recipe, *fallback, *extra], env)
        resumed, resumed_s, resumed_gb = "", 0.0, float("nan")
        stopped_disk_gb = 0.0
    show = subprocess.run(
        [sys.executable, "-m", "bench", "show", "1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, object] = {
        "recipe": recipe,
        "first_s": first_s,
        "first_gb": first_gb,
        "resumed_s": resumed_s,
        "resumed_gb": resumed_gb,
        "stopped_disk_gb": stopped_disk_gb,
        "stopped_at_checkpoint": "interrupted" in first,
        "resumed_from_checkpoint": "resum" in resumed.lower(),
    }
    if stepped and not result["stopped_at_checkpoint"]:  # say why: it ended otherwise, or failed
        result["first_tail"] = first[-600:]
    if show.returncode != 0:
        result["error"] = (first + resumed)[-2000:]
        return result
    record = json.loads(show.stdout)
    result["status"] = record["status"]
    if record["status"] != "finished":
        result["error"] = (first + resumed)[-2000:]
    evaluations = {e["split"]: e for e in record.get("evaluations", [])}
    result.update(
        params=record.get("params"),
        peak_rss_gb=(record.get("peak_rss_mb") or 0) / 1024,
        train_s=record.get("train_seconds"),
        train_tokens=record.get("train_tokens"),
        wall_s=record.get("wall_seconds"),
        valid_s=evaluations.get("valid", {}).get("seconds"),
        test_s=evaluations.get("test", {}).get("seconds"),
        test_tokens=evaluations.get("test", {}).get("tokens"),
        test_ppl=evaluations.get("test", {}).get("ppl"),
        checkpoint_gb=disk_gb(data_dir / "runs") if (data_dir / "runs").exists() else 0.0,
    )
    shutil.rmtree(data_dir / "runs", ignore_errors=True)  # checkpoints: GBs per recipe
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=float, default=800e6, help="training tokens to make")
    parser.add_argument(
        "--heldout-tokens",
        type=float,
        default=HELDOUT_TOKENS,
        help="tokens in each heldout file (valid and test)",
    )
    parser.add_argument("--steps", type=int, default=3, help="training steps per recipe")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/obw-rehearsal"),
        help="folder for the synthetic corpus, databases and checkpoints",
    )
    parser.add_argument("--recipes", nargs="*", help="only these recipes")
    parser.add_argument("--make-only", action="store_true", help="make the corpus, run nothing")
    parser.add_argument(
        "--keep-corpus", action="store_true", help="reuse a corpus already made under --work"
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        help="extra --set for every recipe (e.g. eval_batch_size=512)",
    )
    args = parser.parse_args()
    data_dir = args.work / "data"
    names = args.recipes or [
        r.name for r in load_recipes() if r.config.get("corpus") == "one-billion-word"
    ]
    if not args.keep_corpus:
        shutil.rmtree(data_dir, ignore_errors=True)
        made = make_corpus(data_dir, int(args.tokens), int(args.heldout_tokens), seed=0)
        print(
            f"corpus: {made['train_tokens']:,} training tokens in 99 shards + 2 heldout "
            f"files of {int(args.heldout_tokens):,}; made in {made['seconds']:.0f} s, "
            f"{made['gb']:.2f} GB of text",
            flush=True,
        )
    if args.make_only:
        return
    extra = [arg for pair in args.assignments for arg in ("--set", pair)]
    for name in names:
        result = rehearse(name, args.work, data_dir, args.steps, extra)
        cache = disk_gb(data_dir) - disk_gb(
            cached_path(ONE_BILLION_WORD, ONE_BILLION_WORD.files[0], data_dir).parent
        )
        print(json.dumps(result | {"data_dir_beyond_text_gb": round(cache, 3)}), flush=True)


if __name__ == "__main__":
    main()
