"""Does the suite catch a broken promise? Each entry below breaks one line of bench in a
copy of the repository (a temporary folder, never this checkout), runs the tests that
should notice, and the script prints a table of which breakages survive.

    python tests/mutations.py                 # every breakage
    python tests/mutations.py exactly-once    # only these (names from the table)
    python tests/mutations.py --list          # the breakages, without running anything

A breakage names its file, the line as it is (matched without its indentation, and
required to occur exactly once), its replacement, the promise it breaks (where the docs
make it) and the tests to run. Where the file has moved, the line is looked for in every
Python file under bench/ and plugins/ of the copy. A catch means something only where
those tests pass on an unbroken copy (`--baseline` checks that first). Exit status: 0
when every breakage is caught, 1 otherwise, 2 when a baseline fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    original: str
    replacement: str
    promise: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions


MUTATIONS = [
    Mutation(
        "exactly-once",
        "bench/scoring/exactly_once.py",
        "np.add.at(seen, chunk.positions, 1)",
        "seen[chunk.positions] += 1",
        "docs/runs.md: every token of a split is scored exactly once, or the run fails",
        ("tests/test_evaluation.py",),
    ),
    Mutation(
        "repeat-counted-once",
        "bench/scoring/exactly_once.py",
        "repeated = np.flatnonzero(seen > 1)",
        "repeated = np.flatnonzero(seen > 2)",
        "docs/runs.md: every token of a split is scored exactly once, or the run fails",
        ("tests/test_evaluation.py",),
    ),
    Mutation(
        "password-masking",
        "bench/secrets.py",
        'if "://" not in text:',
        "if True:",
        "docs/storage.md: a password in the URL is never printed or stored",
        ("tests/test_edges.py", "tests/test_store.py", "-k", "password or mask or secret"),
    ),
    Mutation(
        "html-escaping",
        "bench/report/html_site.py",
        "from html import escape",
        "escape = str",
        "docs/runs.md (HTML leaderboard): stored text (commands, options) shown as text, escaped",
        ("tests/test_html_site.py", "tests/test_shown_text.py"),
    ),
    Mutation(
        "html-escaping-table",
        "bench/report/html_table.py",
        "from html import escape",
        "escape = str",
        "docs/runs.md (HTML leaderboard): the corpus table's rows and details escaped",
        ("tests/test_shown_text.py", "-k", "html_site"),
    ),
    Mutation(
        "plot-labels-overprint",
        "bench/report/plot_labels.py",
        "if inside and not any(box.overlaps(other) for other in taken if other is not own):",
        "if True:",
        "docs/runs.md (leaderboard plots): names placed where they cover no other name or point",
        ("tests/test_plots.py", "-k", "overprint or no_free_spot"),
    ),
    Mutation(
        "year-chart-linear-scale",
        "bench/report/html_charts.py",
        "share = math.log(ppl / self.low) / math.log(self.high / self.low)",
        "share = (ppl - self.low) / (self.high - self.low)",
        "docs/runs.md (HTML leaderboard): progress over the years on a log scale",
        ("tests/test_html_charts.py",),
    ),
    Mutation(
        "site-table-too-wide",
        "bench/report/html_assets.py",
        "table { border-collapse: collapse; font-size: 0.88em; width: 100%; }",
        "table { border-collapse: collapse; font-size: 0.88em; width: 100%; min-width: 1500px; }",
        "docs/runs.md (HTML leaderboard): the corpus table fits a 1366 px laptop screen",
        ("tests/test_html_site.py", "-k", "fit_the_screen"),
    ),
    Mutation(
        "html-escaping-run-page",
        "bench/report/html_run.py",
        "from html import escape",
        "escape = str",
        "docs/runs.md (HTML leaderboard): a run page's command, facts and environment escaped",
        ("tests/test_shown_text.py", "-k", "html_site"),
    ),
    Mutation(
        "sparse-gradient-averaging",
        "bench/training/ddp_step.py",
        "param.grad = grad.div_(current().size)",
        "param.grad = grad",
        "docs/distributed.md: N ranks make the same updates as one process (sparse gradients)",
        (
            "tests/test_distributed.py",
            "-k",
            "sparse_gradients_trains_the_same",
        ),
    ),
    Mutation(
        "carried-evaluation-state",
        "plugins/recurrent/network.py",
        "logprobs, state = network.target_logprobs(inputs, targets, state)",
        "logprobs, _ = network.target_logprobs(inputs, targets, state)",
        "docs/runs.md: stream mode carries the state from a split's first token to its last",
        ("tests/test_runner.py", "-k", "stream"),
    ),
    Mutation(
        "rng-restore",
        "bench/training/checkpoint.py",
        'torch.set_rng_state(states["torch"].cpu())',
        "pass",
        "docs/runs.md: a resumed run reaches the numbers of an uninterrupted one",
        ("tests/test_resume.py", "-k", "ctrl_c_then_resume"),
    ),
    Mutation(
        "carried-state-on-resume",
        "bench/training/loop.py",
        'carried = take_columns(saved["carried_state"], columns)',
        "carried = None",
        "docs/runs.md: a resumed run reaches the numbers of an uninterrupted one",
        ("tests/test_resume.py", "-k", "ctrl_c_then_resume"),
    ),
    Mutation(
        "rank-1-writes-too",
        "bench/machine/rank_zero.py",
        "self._store = open_store() if current().is_main else None",
        "self._store = open_store()",
        "docs/distributed.md: one run, one row; rank 0 alone writes the database",
        ("tests/test_distributed.py", "-k", "metrics_once"),
    ),
    Mutation(
        "launcher-exit-code",
        "bench/machine/launch.py",
        "sys.exit(128 + int(signalled.sigval))  # recorded it; 130 after SIGINT, 143 SIGTERM",
        "sys.exit(1)",
        "bench run --nproc-per-node exits 130 after Ctrl-C, 143 after SIGTERM (bench/machine/launch.py)",
        ("tests/test_distributed.py", "-k", "launcher_exits_130"),
    ),
    Mutation(
        "rank-0-killed-silently",
        "bench/machine/launch.py",
        "if first in (None, 1, 130, 143, -signal.SIGINT, -signal.SIGTERM) or request.node_rank:",
        "if True:",
        "docs/runs.md: a failure is one Error line (here: rank 0 killed, the run left running)",
        ("tests/test_distributed.py", "-k", "rank_0_is_killed"),
    ),
    Mutation(
        "resume-on-other-ranks-unnoted",
        "bench/machine/rank_zero.py",
        "if before != now:",
        "if False:",
        "docs/distributed.md: a run resumed on another number of ranks notes the change",
        ("tests/test_distributed.py", "-k", "resumes_in_one_process"),
    ),
    Mutation(
        "torn-checkpoint",
        "bench/training/checkpoint.py",
        'temporary = path.with_name(path.name + ".tmp")',
        "temporary = path",
        "docs/runs.md: files are replaced atomically, so even kill -9 leaves a usable one",
        ("tests/test_resume.py", "-k", "during_a_file_write and checkpoint"),
    ),
    Mutation(
        "torn-best-model",
        "bench/training/loop.py",
        "save_atomically(",
        "torch.save(",
        "docs/runs.md: files are replaced atomically, so even kill -9 leaves a usable one",
        ("tests/test_resume.py", "-k", "during_a_file_write and best"),
    ),
    Mutation(
        "cuda-without-cuda",
        "bench/machine/environment.py",
        "if not torch.cuda.is_available():",
        "if False:",
        "docs/runs.md: a mistake (here --device cuda without CUDA) is one Error line",
        ("tests/test_cli.py", "-k", "device_cuda"),
    ),
    Mutation(
        "recipe-options-dropped",
        "bench/configuration/run_config.py",
        'options = dict(values.get("options", {}))',
        "options = {}",
        "docs/models.md: a recipe file works with bench run --config",
        ("tests/test_recipes.py", "-k", "run_config"),
    ),
    Mutation(
        "kn-discount-t4",
        "plugins/kn/in_memory.py",
        "if 0 in t[:3]:",
        "if 0 in t:",
        "docs/kneser-ney.md: estimates models as KenLM's lmplz does",
        ("tests/test_kn_lmplz.py", "tests/test_kn.py"),
    ),
    Mutation(
        "kn-discount-formula",
        "plugins/kn/in_memory.py",
        "y = t1 / (t1 + 2 * t2)",
        "y = t1 / (t1 + t2)",
        "docs/kneser-ney.md: estimates models as KenLM's lmplz does",
        ("tests/test_kn_lmplz.py",),
    ),
    Mutation(
        "cache-peeks",
        "plugins/eval_methods/caches.py",
        "counts = np.searchsorted(ordered, keys) - np.searchsorted(ordered, start)",
        "counts = np.searchsorted(ordered, keys + 1) - np.searchsorted(ordered, start)",
        "docs/evaluation-methods.md: a cache sees only the tokens before the one it scores",
        ("tests/test_rescore_methods.py",),
    ),
    Mutation(
        "pointer-peeks",
        "plugins/eval_methods/pointer.py",
        "visible = (keys < rows) & (keys >= rows - window)",
        "visible = (keys <= rows) & (keys >= rows - window)",
        "docs/evaluation-methods.md: a cache sees only the tokens before the one it scores",
        ("tests/test_rescore_methods.py",),
    ),
    Mutation(
        "rescore-chosen-on-valid",
        "bench/run/rescoring.py",
        "if best is None or valid.ppl < best[0]:",
        "if best is None or valid.ppl > best[0]:",
        "docs/evaluation-methods.md: settings chosen on the validation split, test scored once",
        ("tests/test_rescore_command.py",),
    ),
]


def copy_repository(target: Path) -> None:
    """The files git knows (tracked, or new and not ignored), and, for each package that
    pyproject.toml maps from a folder of another name (bench_plugins = plugins), a link to
    that folder under the package's name, so that imports in the copy find the copy's code
    first."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in setup.get("package-dir", {}).items():
        if "." not in package and package != folder and (target / folder).is_dir():
            (target / package).symlink_to(folder)  # one file: the breakage shows in both


def locate(copy: Path, mutation: Mutation) -> tuple[Path, int]:
    """The file and line index of the mutation's line in the copy (it must occur once)."""
    named = copy / mutation.file
    package_files = [*copy.glob("bench/**/*.py"), *copy.glob("plugins/**/*.py")]
    candidates = [named] if named.exists() else sorted(package_files)
    found = [
        (path, index)
        for path in candidates
        for index, line in enumerate(path.read_text().splitlines())
        if line.strip() == mutation.original
    ]
    if len(found) != 1:
        raise SystemExit(
            f"{mutation.name}: the line {mutation.original!r} occurs {len(found)} times "
            f"in {mutation.file if named.exists() else 'the copy'}: update the list"
        )
    return found[0]


def apply(copy: Path, mutation: Mutation) -> str:
    """Break the copy's line; return the file it is in (relative to the copy)."""
    path, index = locate(copy, mutation)
    lines = path.read_text().splitlines(keepends=True)
    line = lines[index]
    indent = line[: len(line) - len(line.lstrip())]
    lines[index] = indent + mutation.replacement + "\n"
    path.write_text("".join(lines))
    return str(path.relative_to(copy))


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[bool, float]:
    """(caught, seconds): pytest on the copy, stopping at the first failure."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("BENCH_REQUIRE", None)  # a missing tool here shows as a survivor, not a catch
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):  # 1: tests failed; anything else broke the run
        raise SystemExit(f"pytest {' '.join(tests)} ended with {done.returncode}:\n{done.stdout}")
    return done.returncode == 1, time.monotonic() - started


def check_imports(copy: Path) -> None:
    """The copy, not this checkout, is what the tests import."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    code = "import bench, bench_plugins; print(bench.__file__); print(bench_plugins.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True
    )
    paths = out.stdout.split()
    if out.returncode or not paths or not all(p.startswith(str(copy)) for p in paths):
        raise SystemExit(f"the copy's packages are not the ones imported: {out.stdout}{out.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these breakages")
    parser.add_argument("--list", action="store_true", help="list them and stop")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first run each breakage's tests on an unbroken copy: a catch means something "
        "only where they pass there",
    )
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown breakage(s): {', '.join(sorted(unknown))}")
    if args.baseline and not args.list:
        with tempfile.TemporaryDirectory(prefix="bench-unbroken-") as folder:
            copy_repository(Path(folder))
            for tests in dict.fromkeys(m.tests for m in chosen):
                failed, seconds = run_tests(Path(folder), tests)
                print(
                    f"unbroken: {' '.join(tests)}: {'FAILED' if failed else 'passed'} "
                    f"({seconds:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                if failed:
                    return 2
    rows = []
    for mutation in chosen:
        if args.list:
            print(
                f"{mutation.name}: {mutation.file}: {mutation.original!r} -> "
                f"{mutation.replacement!r} ({mutation.promise})"
            )
            continue
        with tempfile.TemporaryDirectory(prefix="bench-mutant-") as folder:
            copy = Path(folder)
            copy_repository(copy)
            check_imports(copy)
            where = apply(copy, mutation)
            caught, seconds = run_tests(copy, mutation.tests)
        rows.append((mutation, where, caught, seconds))
        print(
            f"{mutation.name}: {'caught' if caught else 'SURVIVED'} ({seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    if args.list:
        return 0
    print("| breakage | file | line | replaced by | promise | tests | result |")
    print("|:--|:--|:--|:--|:--|:--|:--|")
    for mutation, where, caught, seconds in rows:
        print(
            f"| {mutation.name} | `{where}` | `{mutation.original}` | `{mutation.replacement}` "
            f"| {mutation.promise} | `{' '.join(mutation.tests)}` "
            f"| {'caught' if caught else '**survived**'} ({seconds:.0f} s) |"
        )
    return 0 if all(caught for _, _, caught, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
