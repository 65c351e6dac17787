"""Rewrite README.md's results table from the committed run files (never typed by hand).

    python docs/update_readme.py          # rewrite the block between the markers
    python docs/update_readme.py --check  # exit 1 when README.md is out of date

The table is `bench leaderboard --headline` over a scratch database filled with
`bench import leaderboards/runs`; tests/test_readme.py checks README.md still matches it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RUNS = ROOT / "leaderboards" / "runs"
START, END = "<!-- results:start (docs/update_readme.py) -->", "<!-- results:end -->"


def headline_from_runs(runs: Path = RUNS) -> str:
    """The headline table of the runs under ``runs``, as `bench leaderboard --headline` prints it."""
    from bench.report.leaderboard import build_tables
    from bench.report.markdown import headline
    from bench.report.published import load_published
    from bench.store import Store
    from bench.store.exchange import import_runs

    with (
        tempfile.TemporaryDirectory() as scratch,
        Store(f"sqlite:///{Path(scratch) / 'bench.db'}") as store,
    ):
        import_runs(store, [runs])
        results = store.results_frame()
    corpora = sorted(set(results["corpus"].dropna()))
    return headline(build_tables(results, load_published(), corpora=corpora))


def readme_block(text: str) -> str:
    """What README.md holds between the markers."""
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    table = headline_from_runs()
    if "--check" in argv:
        return 0 if readme_block(text) == table else 1
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{table}{END}{after}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
