"""The cost of bench rescore's evaluation methods: tokens per second of each method against
plain scoring of the same stored run, and dynamic evaluation's cost per segment size.

The stored run is restored as `bench rescore` restores it (checkpoint, or a fresh count
for an n-gram model) and the first ``--tokens`` tokens of its test split are scored, with
the settings given (no grid search: one scoring pass each). Each measurement includes the
model's own scoring (a method cannot go without it) and is repeated ``--repeats`` times,
methods alternating so that machine noise hits all alike; medians are reported, with the
ratio to plain scoring. Run it under the timing lock on a shared machine:

    flock /work/timing.lock python benchmarks/eval_methods_cost.py --run 1 --run 2 \
        --db sqlite:///bench.db --data-dir data --tokens 20000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.api.eval_method import RescoreBase
from bench.api.plugin_host import load_plugins
from bench.configuration.options import validate_options
from bench.paths import data_dir as resolve_data_dir
from bench.run.restore import refit_context, restore_run
from bench.scoring.exactly_once import collect_logprobs
from bench.store import Store
from bench.tokenization.encode import tokenize_corpus
from bench.tokenization.tokens import TokenizedSplit, UnitCounts

# (method, settings): settings near those bench rescore chose on PTB's valid split. The RMS
# rule's time includes its one pass over rms_tokens train tokens (its gradient statistics)
METHODS: list[tuple[str, dict[str, Any]]] = [
    ("cache", {"window": 200, "weight": 0.1}),
    ("neural-cache", {"window": 500, "theta": 0.6, "weight": 0.2}),
    *(("dynamic-eval", {"rule": "sgd", "lr": 1.0, "segment": s}) for s in (5, 20, 70)),
    ("dynamic-eval", {"rule": "rms", "lr": 0.0001, "segment": 20, "rms_tokens": 2000}),
]


def head(split: TokenizedSplit, tokens: int) -> TokenizedSplit:
    """The split's first whole lines holding at most ``tokens`` tokens."""
    lines = int((split.line_offsets <= tokens).sum()) - 1
    end = int(split.line_offsets[lines])
    counts = UnitCounts(tokens=end, words=end, bytes=end, lines=lines)  # only tokens matter
    return TokenizedSplit(split.name, split.ids[:end], split.line_offsets[: lines + 1], counts)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(run_id: int, args: argparse.Namespace, host: Any, store: Store) -> None:
    data_dir = resolve_data_dir(args.data_dir)
    restored = restore_run(run_id, store, host, data_dir, refit=True)
    splits = tokenize_corpus(restored.corpus, restored.tokenizer, data_dir, lambda i, **_: i, print)
    if restored.refit_needed:
        restored.model.fit(refit_context(splits, data_dir, restored.record, lambda i, **_: i))
    model, test = restored.model, head(splits["test"], args.tokens)
    cases: dict[str, Callable[[], object]] = {
        "plain scoring": lambda: collect_logprobs(
            test, model.score(test, model.eval_protocol(test))
        )
    }
    for name, settings in METHODS:
        method = host.eval_methods.get(name)
        if any(not type(model).supports(need) for need in method.requires):
            continue
        options = validate_options(method.Options, settings, owner=name)
        label = f"{name} " + ", ".join(f"{k}={v}" for k, v in settings.items())

        def run(method=method, options=options) -> object:
            scorer = method(options, RescoreBase(model, splits["train"]))  # model scored anew
            return collect_logprobs(test, scorer.score(test, scorer.eval_protocol(test)))

        cases[label] = run
    seconds: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(args.repeats):
        for label, work in cases.items():
            seconds[label].append(timed(work))
    plain = statistics.median(seconds["plain scoring"])
    print(f"\nrun {run_id}: {model.label()}, {len(test):,} test tokens, {args.repeats} repeats")
    print(f"{'':44} {'tokens/s':>10} {'x plain time':>13}")
    for label, times in seconds.items():
        median = statistics.median(times)
        print(f"{label:44} {len(test) / median:10,.0f} {median / plain:13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, action="append", required=True, help="stored run id")
    parser.add_argument("--db", help="database URL (default: bench's)")
    parser.add_argument("--data-dir", type=Path, help="bench's data folder (default: bench's)")
    parser.add_argument("--tokens", type=int, default=20_000, help="test tokens scored")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    host, store = load_plugins(), Store(args.db)
    for run_id in args.run:
        measure(run_id, args, host, store)


if __name__ == "__main__":
    main()
