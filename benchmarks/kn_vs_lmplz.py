"""Kneser-Ney on a big local folder: `bench run --plugin kn --set memory=4G` beside KenLM.

    python benchmarks/kn_vs_lmplz.py                       # 100M tokens, KN5, 4G budgets
    python benchmarks/kn_vs_lmplz.py --tokens 10M --lmplz ~/kenlm/build/bin/lmplz

How it measures. A folder is made in a temporary directory (``--work`` to keep it
elsewhere; never commit it) as ``local_memory.py --copies permuted`` makes it: WikiText-2's
train split, then copies of it with the words renamed by a random permutation of its
vocabulary, up to ``--tokens`` tokens; valid.txt and test.txt are WikiText-2's own. In
all three, WikiText's ``<unk>`` is written ``@unk@``, an ordinary word (lmplz refuses a
text holding ``<unk>``), so both tools read the same words. Then,
one after the other, each under ``/usr/bin/time -v`` (peak resident set size, wall clock):

1. ``lmplz -o ORDER -S MEMORY --discount_fallback --text train.txt --arpa model.arpa``;
2. ``query -v summary model.arpa < test.txt``, which scores test with lmplz's model
   ("Perplexity including OOVs", the perplexity bench reports: every word and ``</s>`` a
   token, an OOV scored as ``<unk>``);
3. ``bench run --plugin kn --set order=ORDER --set memory=MEMORY --set
   discount_fallback=true --corpus FOLDER``, a fresh database and data folder, so the
   vocabulary and token cache are made again: tokenizing, estimating and scoring test.

``--discount_fallback`` on both: permuted copies give every word many left neighbours,
so no unigram has an adjusted count of 1 to 4 and the discounts cannot be estimated
(both tools then use the same fixed discounts 0.5, 1, 1.5). lmplz's time includes
writing its ARPA file (its only output) and not scoring; bench's includes tokenizing the
text and scoring test. Without lmplz (``--lmplz``, or ``lmplz`` on PATH) the script
says so and stops: nothing else is measured. ``query`` is looked for beside lmplz.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from local_memory import SHARED, cpu_seconds, parse_count, time_v, write_folder

UNK_AS = "@unk@"  # lmplz refuses <unk> in its text: both tools read it as this word


def find_tools(lmplz: str | None) -> tuple[Path, Path] | None:
    """lmplz and query (beside lmplz, else on PATH), or None when lmplz is not found."""
    found = shutil.which(lmplz or "lmplz")
    if found is None:
        return None
    beside = Path(found).with_name("query")
    query = beside if beside.is_file() else shutil.which("query")
    if query is None:
        sys.exit(f"found {found} but no KenLM query beside it or on PATH")
    return Path(found), Path(query)


def kenlm_row(tools: tuple[Path, Path], folder: Path, args: argparse.Namespace) -> dict:
    lmplz, query = tools
    arpa, temp = folder.parent / "lmplz.arpa", folder.parent / "lmplz-tmp"
    temp.mkdir(exist_ok=True)
    command = [str(lmplz), "-o", str(args.order), "-S", args.memory, "-T", str(temp)]
    command += ["--discount_fallback", "--text", str(folder / "train.txt"), "--arpa", str(arpa)]
    built, peak_mb, wall_s = time_v(command)
    cpu_s = cpu_seconds(built.stderr)
    print(f"lmplz: {wall_s:.1f} s ({cpu_s:.1f} s CPU), peak {peak_mb:,.0f} MB", flush=True)
    ppl = "not scored"
    if not args.no_query:
        scored, query_mb, query_s = time_v(
            [str(query), "-v", "summary", str(arpa)], None, folder / "test.txt"
        )
        found = re.search(r"Perplexity including OOVs:\s*([\d.]+)", scored.stdout)
        ppl = f"{float(found.group(1)):.3f}" if found else "?"
        query_cpu = cpu_seconds(scored.stderr)
        print(
            f"query: {query_s:.1f} s ({query_cpu:.1f} s CPU), peak {query_mb:,.0f} MB", flush=True
        )
    arpa.unlink()
    return {
        "tool": f"`lmplz -o {args.order} -S {args.memory}`",
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "peak_mb": peak_mb,
        "ppl": ppl,
    }


def bench_row(folder: Path, args: argparse.Namespace) -> dict:
    work = folder.parent / "bench"
    shutil.rmtree(work, ignore_errors=True)  # nothing reused: vocabulary, token cache, runs
    env = dict(
        os.environ, BENCH_DB=f"sqlite:///{work / 'bench.db'}", BENCH_DATA_DIR=str(work / "data")
    )
    settings = [f"order={args.order}", f"memory={args.memory}", "discount_fallback=true"]
    command = [sys.executable, "-m", "bench", "run", "--plugin", "kn", "--no-progress"]
    command += [arg for setting in settings for arg in ("--set", setting)]
    done, peak_mb, wall_s = time_v([*command, "--corpus", str(folder)], env)
    cpu_s = cpu_seconds(done.stderr)
    found = re.search(r"test perplexity\s+([\d.]+)", done.stdout + done.stderr)
    print(done.stdout[-3000:], flush=True)
    shown = subprocess.run(
        [sys.executable, "-m", "bench", "show", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    run = json.loads(shown.stdout)
    scoring = sum(evaluation["seconds"] for evaluation in run["evaluations"])
    print(
        f"bench phases: estimating {run['train_seconds']:.1f} s, scoring valid and test "
        f"{scoring:.1f} s, the rest (start, tokenizing, storing) "
        f"{run['wall_seconds'] - run['train_seconds'] - scoring:.1f} s of the run's "
        f"{run['wall_seconds']:.1f} s",
        flush=True,
    )
    return {
        "tool": f"`bench run --plugin kn --set memory={args.memory}`",
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "peak_mb": peak_mb,
        "ppl": f"{float(found.group(1)):.3f}" if found else "?",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="100M", help="train tokens (default 100M)")
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--memory", default="4G", help="lmplz -S and bench's memory=")
    parser.add_argument("--lmplz", help="KenLM's lmplz (default: lmplz on PATH)")
    parser.add_argument("--source", type=Path, default=SHARED, help="a folder to copy")
    parser.add_argument("--work", type=Path, help="folder for the text and models (kept)")
    parser.add_argument(
        "--no-query", action="store_true", help="time lmplz only, without scoring its ARPA"
    )
    args = parser.parse_args()
    tools = find_tools(args.lmplz)
    if tools is None:
        print("lmplz is not on PATH (build KenLM, or give --lmplz PATH): nothing to compare")
        return
    with tempfile.TemporaryDirectory(prefix="bench-kn-lmplz-") as temp:
        folder = (args.work or Path(temp)) / "corpus"
        if not (folder / "train.txt").is_file():
            tokens = write_folder(
                folder, parse_count(args.tokens), args.source, copies="permuted", unk_as=UNK_AS
            )
            print(f"{folder}: {tokens:,} train tokens", flush=True)
        rows = [kenlm_row(tools, folder, args), bench_row(folder, args)]
    print("| train tokens | tool | wall s | CPU s | peak GB | test ppl |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {args.tokens} | {row['tool']} | {row['wall_s']:.0f} | {row['cpu_s']:.0f} | "
            f"{row['peak_mb'] / 1024:.2f} | {row['ppl']} |"
        )


if __name__ == "__main__":
    main()
