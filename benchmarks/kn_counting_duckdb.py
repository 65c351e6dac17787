"""Counting trigrams: numpy's sort-and-diff beside DuckDB's GROUP BY (the choice behind
the budgeted Kneser-Ney estimator, see plugins/kn/on_disk.py).

    python benchmarks/kn_counting_duckdb.py                 # 10M Zipfian tokens
    python benchmarks/kn_counting_duckdb.py --tokens 30000000

Both count the distinct trigrams of the same Zipfian token stream. numpy uses one core
(packed int64 keys, ``ndarray.sort``, then run lengths); DuckDB uses ``--threads`` cores
and a ``--memory-limit``; the "ordered" figure adds the ``ORDER BY`` that the later
passes of an estimator need. Medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
import numpy as np
import pandas as pd


def numpy_count(words: np.ndarray, base: int) -> int:
    keys = (words[:-2].astype(np.int64) * base + words[1:-1]) * base + words[2:]
    keys.sort()
    new = np.empty(len(keys), dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    np.diff(np.append(starts, len(keys)))  # the counts
    return len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=10_000_000)
    parser.add_argument("--vocab", type=int, default=30_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    words = np.minimum(rng.zipf(1.3, args.tokens), args.vocab).astype(np.int32)
    frame = pd.DataFrame({"a": words[:-2], "b": words[1:-1], "c": words[2:]})
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{args.memory_limit}'")
    con.execute(f"SET threads={args.threads}")
    con.register("trigrams", frame)
    queries = {
        "duckdb GROUP BY": "SELECT a, b, c, count(*) FROM trigrams GROUP BY a, b, c",
        "duckdb GROUP BY + ORDER BY": "SELECT a, b, c, count(*) FROM trigrams "
        "GROUP BY a, b, c ORDER BY a, b, c",
    }
    times: dict[str, list[float]] = {name: [] for name in ["numpy sort", *queries]}
    distinct = {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        distinct["numpy sort"] = numpy_count(words, args.vocab + 1)
        times["numpy sort"].append(time.perf_counter() - start)
        for name, query in queries.items():
            start = time.perf_counter()
            distinct[name] = len(con.execute(query).fetchnumpy()["a"])
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["numpy sort"])
    print(f"{args.tokens:,} tokens, {distinct['numpy sort']:,} distinct trigrams")
    for name, values in times.items():
        assert distinct[name] == distinct["numpy sort"]
        median = statistics.median(values)
        print(f"{name:<28} {median:6.2f} s  {median / reference:5.2f}x numpy")


if __name__ == "__main__":
    main()
