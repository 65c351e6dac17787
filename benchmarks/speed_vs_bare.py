"""Speed: bench against the bare PyTorch loop of the same model, training and scoring.

The bare loop is ``benchmarks/harness_overhead.py``'s, written as pytorch/examples'
word_language_model writes it (nn.Embedding, nn.LSTM, nn.Linear, cross_entropy, SGD,
clip_grad_norm_; evaluation over 10 parallel columns, 35 steps at a time) with none of
bench's speed settings. bench trains through ``Runner.run`` (the code path of
``bench run``) and scores exactly (the stream protocol: one stream, state carried over
the whole split).

Every trial runs in a fresh Python process, since glibc's allocator settings are
process-wide and cannot be undone; the variants alternate within each repeat and the
figures are medians. Per trial the child reports training tokens/s, test-scoring
tokens/s, and its own system CPU seconds and minor page faults (``getrusage``).

Variants: ``bare`` (the plain loop), ``bench-nomallopt`` (bench with BENCH_MALLOPT=0:
glibc's defaults, i.e. before bench set the allocator), ``bench``, and ``products``: the
model's matrix products alone at the same shapes (the recurrent layers forward and
backward, the output layer's three products), with no embedding, softmax, loss, clipping or
update, and with bench's allocator settings. Its tokens/s is a ceiling for any loop that runs the same arithmetic in the same
kernels: the run prints each loop's fraction of it, and whether 1.3x the bare loop lies
under it at all.

    python benchmarks/speed_vs_bare.py --corpus ptb-folder --preset ptb-small
    python benchmarks/speed_vs_bare.py                      # default char model, embedded corpus
    python benchmarks/speed_vs_bare.py --threads 2 --threads 1 --repeats 3 --steps 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# PTB 2x200 (Zaremba et al. small: batch 20, bptt 20, no dropout, SGD lr 20, clip 0.25)
PRESETS = {
    "ptb-small": [
        "layers=2",
        "hidden_size=200",
        "embedding_size=200",
        "dropout=0",
        "optimizer=sgd",
        "lr=20",
        "clip=0.25",
        "batch_size=20",
        "bptt=20",
    ],
    "default": [],
}
VARIANTS = ("bare", "bench-nomallopt", "bench", "products")
# how pytorch/examples (and so the bare loop) cuts a split for evaluation
BARE_EVAL_COLUMNS, BARE_EVAL_BPTT = 10, 35


def trimmed_copy(corpus_name: str, eval_lines: int, folder: Path) -> tuple[str, str]:
    """The corpus with its full train split and the first ``eval_lines`` lines of valid and
    test, as a local folder (scoring a whole split at batch 1 takes minutes on a busy CPU);
    returns the folder and the corpus's own tokenizer."""
    from bench.api.plugin_host import load_plugins
    from bench.corpora import load_corpus

    corpus = load_corpus(corpus_name, load_plugins().corpora, folder / "data", progress=False)
    for split, lines in corpus.splits.items():
        kept = list(lines) if split == "train" else list(lines)[:eval_lines]
        (folder / f"{split}.txt").write_text("\n".join(kept) + "\n")
    return str(folder), corpus.default_tokenizer


def child(
    variant: str,
    corpus_name: str,
    tokenizer_name: str,
    settings: list[str],
    steps: int,
    threads: int,
) -> dict:
    """One trial in this process: train ``steps`` steps, then score the test split."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    from harness_overhead import bare_evaluate, bare_model, bare_run

    from bench.api.plugin_host import load_plugins
    from bench.configuration.options import parse_assignments, validate_options
    from bench.configuration.run_config import build_config
    from bench.corpora import load_corpus
    from bench.run.runner import Runner
    from bench.store import Store

    host = load_plugins()
    workdir = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    before = resource.getrusage(resource.RUSAGE_SELF)
    if variant in ("products", "bare"):
        # the model and data as a loop written without bench uses them
        options = validate_options(
            host.models.get("lstm").Options, parse_assignments(settings), "lstm"
        )
        corpus = load_corpus(corpus_name, host.corpora, workdir, progress=False)
        tokenizer_class = host.tokenizers.get(tokenizer_name)
        tokenizer = tokenizer_class(tokenizer_class.Options())
        tokenizer.fit(corpus.splits["train"], workdir / "tokenizers")
        test = torch.as_tensor(tokenizer.encode("test", corpus.splits["test"]).ids)
        vocab = len(tokenizer.vocab)
    if variant == "products":
        from bench.machine import allocator

        # the ceiling is the kernels' best: with bench's allocator settings, so that the
        # products' large outputs are not faulted in afresh on every call
        allocator.keep_large_buffers()
        network = bare_model(vocab, "lstm", options)
        return {
            **products_rates(network, options, steps, len(test)),
            "sys_s": 0.0,
            "user_s": 0.0,
            "minflt": 0,
        }
    if variant == "bare":
        train = torch.as_tensor(tokenizer.encode("train", corpus.splits["train"]).ids)
        before = resource.getrusage(resource.RUSAGE_SELF)
        network = bare_model(vocab, "lstm", options)
        train_rate = bare_run(train, vocab, "lstm", options, steps, network)
        eval_rate, _ = bare_evaluate(
            test, vocab, network, bptt=BARE_EVAL_BPTT, batch_size=BARE_EVAL_COLUMNS
        )
    else:
        runner = Runner(
            host,
            Store(f"sqlite:///{workdir / 'bench.db'}"),
            workdir,
            progress=False,
            echo=lambda message: None,
        )
        config = build_config(
            {},
            {"plugin": "lstm", "corpus": corpus_name, "tokenizer": tokenizer_name},
            (*settings, "epochs=1", f"max_steps_per_epoch={steps}"),
        )
        result = runner.run(config, command="benchmarks/speed_vs_bare.py")
        train_rate = result.summary["train_tokens_per_second"]
        eval_rate = result.evaluations["test"].tokens_per_second
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "train": train_rate,
        "eval": eval_rate,
        "sys_s": after.ru_stime - before.ru_stime,
        "user_s": after.ru_utime - before.ru_utime,
        "minflt": after.ru_minflt - before.ru_minflt,
    }


def products_rates(network, options, steps: int, test_tokens: int) -> dict:
    """Tokens/s of the model's matrix products alone, at the shapes of the three loops:

    - ``train``: a step at [bptt, batch]: the recurrent layers forward and backward, the
      output layer forward and its two gradient products (features and weight);
    - ``eval``: bench's exact scoring: the recurrence at batch 1 over ``eval_batch_size``
      positions at a time, the state carried, and the output layer's forward product;
    - ``eval_columns``: the bare loop's evaluation: 10 columns, 35 steps at a time.

    No embedding lookup, softmax, loss, clipping or update: what any loop with the same
    arithmetic in the same kernels must at least spend."""
    import torch

    _, rnn, output, _ = network
    width, batch, bptt = options.embedding_size, options.batch_size, options.bptt
    weight, bias = output.weight, output.bias
    rnn.train()
    inputs = torch.randn(bptt, batch, width, requires_grad=True)
    logits_grad = torch.randn(bptt * batch, weight.size(0))

    def train_step() -> None:
        hidden, _ = rnn(inputs)
        logits = torch.addmm(bias, hidden.reshape(-1, hidden.size(-1)), weight.t())
        logits.backward(logits_grad)

    train_step()  # first calls set up kernels (oneDNN primitives): not counted
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    train = steps * bptt * batch / (time.perf_counter() - start)

    def scoring_rate(columns: int, window: int) -> float:
        rnn.eval()
        rows = max(test_tokens // columns, 1)
        features = torch.randn(window, columns, width)
        state, done = None, 0
        with torch.inference_mode():
            rnn(features, None)  # set-up, not counted
            start = time.perf_counter()
            for i in range(0, rows, window):
                length = min(window, rows - i)
                hidden, state = rnn(features[:length], state)
                torch.addmm(bias, hidden.reshape(-1, hidden.size(-1)), weight.t())
                done += length * columns
        return done / (time.perf_counter() - start)

    return {
        "train": train,
        "eval": scoring_rate(1, options.eval_batch_size),
        "eval_columns": scoring_rate(BARE_EVAL_COLUMNS, BARE_EVAL_BPTT),
    }


def run_trial(variant: str, args: argparse.Namespace, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        BENCH_MALLOPT="0" if variant == "bench-nomallopt" else "1",
    )
    command = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--corpus",
        args.corpus,
        "--tokenizer",
        args.tokenizer,
        "--steps",
        str(args.steps),
        "--threads",
        str(threads),
        *[f"--set={s}" for s in args.settings],
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} trial failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ceiling_report(results: dict, threads: int) -> str:
    """Each loop's tokens/s as a fraction of the matrix products' own, and where 1.3x the
    bare loop stands against that ceiling (above 100%: no loop with the same arithmetic
    in the same kernels reaches it)."""
    products = results.get((threads, "products"))
    bare = results.get((threads, "bare"))
    if not products or not bare:
        return ""

    def median(trials: list[dict], key: str) -> float:
        return statistics.median(t[key] for t in trials)

    lines = [f"\n{threads} thread(s), against the matrix products alone (medians):"]
    for label, key, bare_key in (
        ("training", "train", "train"),
        ("exact scoring, batch 1", "eval", "eval"),
        ("10-column scoring", "eval_columns", "eval"),
    ):
        ceiling = median(products, key)
        line = f"  {label:24} ceiling {ceiling:9,.0f} tok/s"
        if key != "eval":
            line += f"; bare at {median(bare, bare_key) / ceiling:4.0%}"
        bench = results.get((threads, "bench"))
        if key != "eval_columns" and bench:
            line += f"; bench at {median(bench, key) / ceiling:4.0%}"
        if key != "eval_columns":
            line += f"; 1.3x bare is {1.3 * median(bare, bare_key) / ceiling:4.0%} of it"
        lines.append(line)
    return "\n".join(lines)


def cpu_model() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="model and training settings (more with --set)",
    )
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--steps", type=int, default=200, help="training steps per trial")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        action="append",
        help="torch threads; repeat for several [default: 2 and 1]",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--eval-lines",
        type=int,
        default=400,
        help="score the first N lines of the test split (0: all of it)",
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                child(
                    args.child,
                    args.corpus,
                    args.tokenizer,
                    args.settings,
                    args.steps,
                    args.threads[0],
                )
            )
        )
        return
    scratch = Path(tempfile.mkdtemp(prefix="bench-speed-corpus-"))
    if args.eval_lines:
        corpus_label = f"{args.corpus} (first {args.eval_lines} lines of valid and test)"
        args.corpus, args.tokenizer = trimmed_copy(args.corpus, args.eval_lines, scratch)
    else:
        from bench.api.plugin_host import load_plugins
        from bench.corpora import load_corpus

        corpus_label = args.corpus
        args.tokenizer = load_corpus(
            args.corpus, load_plugins().corpora, scratch, progress=False
        ).default_tokenizer
    args.settings = [*PRESETS[args.preset], *args.settings]
    threads_list = args.threads or [2, 1]
    variants = args.variants.split(",")
    import torch

    print(
        f"lstm on {corpus_label} [{args.tokenizer}], settings {' '.join(args.settings) or '(defaults)'}; "
        f"{args.steps} training steps + the test split per trial, {args.repeats} repeats; "
        f"{cpu_model()} ({os.cpu_count()} cores), torch {torch.__version__}; "
        f"load before: {os.getloadavg()[0]:.2f}"
    )
    started = time.perf_counter()
    results: dict[tuple[int, str], list[dict]] = {}
    for repeat in range(args.repeats):
        for threads in threads_list:
            # rotate the order each repeat, so warm-up and drift favour no variant
            order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
            for variant in order:
                results.setdefault((threads, variant), []).append(run_trial(variant, args, threads))
    for threads in threads_list:
        print(
            f"\n{threads} thread(s)   train tok/s   eval tok/s   sys s   minor faults   (medians)"
        )
        bare = results.get((threads, "bare"))
        for variant in variants:
            trials = results[(threads, variant)]
            med = {
                key: statistics.median(t[key] for t in trials)
                for key in ("train", "eval", "sys_s", "minflt")
            }
            ratio = ""
            if bare and variant != "bare":
                ratio = (
                    f"   x{med['train'] / statistics.median(t['train'] for t in bare):.2f}"
                    f" train, x{med['eval'] / statistics.median(t['eval'] for t in bare):.2f}"
                    " eval vs bare"
                )
            print(
                f"  {variant:16} {med['train']:11,.0f} {med['eval']:12,.0f} "
                f"{med['sys_s']:7.1f} {med['minflt']:14,.0f}{ratio}"
            )
            every = {key: ", ".join(f"{t[key]:,.0f}" for t in trials) for key in ("train", "eval")}
            print(f"  {'':16} all train: {every['train']}; eval: {every['eval']}")
    for threads in threads_list:
        print(ceiling_report(results, threads))
    print(
        f"\ngoal: bench >= x1.30 the bare loop, training and scoring; "
        f"{time.perf_counter() - started:.0f} s; load after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
