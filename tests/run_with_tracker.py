"""`python run_with_tracker.py TRACKER ARGS...` runs `bench ARGS...` with `--log-to
csv:DIR` sent to ``sample_trackers.TRACKER`` in a process of its own instead of bench's
CSV tracker: what a third party's tracker made with ``process=True`` would do."""

import sys

import sample_trackers

from bench.cli import main
from bench_plugins.loggers import to_csv

if __name__ == "__main__":
    to_csv.plugin.tracker = getattr(sample_trackers, sys.argv[1])
    to_csv.plugin.process = True
    sys.argv = ["bench", *sys.argv[2:]]
    main()
