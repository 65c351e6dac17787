"""Cost of `bench combine`: its speed in tokens per second, and the bytes per token that
keeping per-token log-probabilities costs.

Given a SQLite database and two or more stored runs, it times, as medians of repeats:
the EM fit on the members' validation log-probabilities, the scoring of the test split
through the core (exactly-once check, metrics, per-line scores), and the whole `bench
combine` (reading the members, rebuilding the token streams, fitting, scoring, storing),
each on a copy of the database so the original is left as it was. It then prints the
stored size of the members' per-token log-probabilities (bytes per token) beside raw
float32 and float16, and what that costs for a split of ``--project-tokens`` tokens
(about One Billion Word's test split, by default).

    python benchmarks/combine_cost.py --db .scratch/ptb.db --runs 1 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.api.plugin_host import get_host
from bench.paths import data_dir
from bench.run.combine import _token_streams, combine_runs, score_split
from bench.run.combine_members import load_member
from bench.scoring.interpolation import fit_linear
from bench.store import Store, token_scores

# About One Billion Word's test split (heldout shard 00000, ~160k sentences): an estimate,
# since bench's corpus spec (plugins/standard_corpora.py) records no count for that file
ONE_BILLION_WORD_TEST_TOKENS = 4_000_000


def median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a SQLite file holding the runs")
    parser.add_argument("--runs", type=int, nargs="+", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--project-tokens", type=int, default=ONE_BILLION_WORD_TEST_TOKENS)
    args = parser.parse_args()
    host, folder = get_host(), data_dir(None)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "bench.db"
        shutil.copy(args.db, copy)
        store = Store(f"sqlite:///{copy}")
        records = [store.get_run(run_id) for run_id in args.runs]
        members = [load_member(store, host, folder, record, print) for record in records]
        splits = _token_streams(records[0], host, folder)
        valid = np.column_stack([m.logprobs["valid"] for m in members])
        fit = fit_linear(valid)
        fitting = median_seconds(lambda: fit_linear(valid), args.repeats)
        test = splits["test"]
        scoring = median_seconds(
            lambda: score_split(test, members, fit.weights, records[0]), args.repeats
        )
        whole = median_seconds(
            lambda: combine_runs(store, host, folder, args.runs, command="benchmark", echo=print),
            args.repeats,
        )
    tokens = len(splits["valid"]) + len(test)
    print(f"{len(members)} members, valid {len(splits['valid']):,} tokens, test {len(test):,}")
    print(
        f"  EM fit on valid ({fit.iterations} iterations): {fitting * 1000:8.1f} ms, "
        f"{len(splits['valid']) / fitting:,.0f} tokens/s"
    )
    print(
        f"  test scored through the core:  {scoring * 1000:8.1f} ms, {len(test) / scoring:,.0f} tokens/s"
    )
    print(
        f"  whole bench combine:           {whole * 1000:8.1f} ms, "
        f"{tokens / whole:,.0f} tokens/s (valid + test)"
    )
    _storage(members, args.project_tokens)


def _storage(members, project_tokens: int) -> None:
    for member in members:
        values = member.logprobs["test"]
        stored = len(token_scores.encode(values).data) / values.size
        print(
            f"  run {member.run_id} test log-probabilities stored: {stored:.2f} bytes/token "
            f"(raw float32 4, float16 2); {project_tokens:,} tokens: "
            f"{stored * project_tokens / 2**20:.1f} MiB (raw float32 "
            f"{4 * project_tokens / 2**20:.1f} MiB)"
        )


if __name__ == "__main__":
    main()
