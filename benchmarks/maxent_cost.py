"""The cost of rnn-maxent's direct n-gram connections: training steps and scoring, timed
against the same RNN without them.

Every configuration trains the same Elman RNN shape on the same train windows (the
harness's batching and optimiser, the step ``train_bptt`` takes) and scores the same
stretch of the valid split; configurations alternate and each trial is repeated, so
machine noise hits all alike. Reported: milliseconds per training step (median and
fastest), scoring tokens per second (median), and the ratios against plain ``rnn``.

    python benchmarks/maxent_cost.py --corpus ../shared/corpora/ptb            # orders 3 and 9
    python benchmarks/maxent_cost.py --corpus ../shared/corpora/ptb --orders 3 --steps 50 \
        --set hidden_size=200 --set embedding_size=200
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.api.plugin_host import load_plugins
from bench.configuration.options import parse_assignments, validate_options
from bench.corpora import load_corpus
from bench.tokenization.batching import TrainWindows
from bench.tokenization.tokens import TokenizedSplit
from bench.training.loop import detach_state
from bench.training.optimization import build_optimizer
from bench_plugins.recurrent.network import score_stream

# PTB-style small shape; --set overrides any of them
DEFAULTS = {
    "layers": "1",
    "embedding_size": "100",
    "hidden_size": "100",
    "dropout": "0",
    "batch_size": "20",
    "bptt": "35",
}


def time_training(model: Any, ids: np.ndarray, steps: int) -> list[float]:
    """Seconds of each of ``steps`` training steps (after one warm-up step)."""
    options = model.options
    windows = TrainWindows(ids, options.batch_size, options.bptt, "cpu", max_windows=steps + 1)
    network = model.network.train()
    params = [p for p in network.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    state, seconds = None, []
    for inputs, targets in windows.from_window(0):
        start = time.perf_counter()
        state = detach_state(state)
        loss, state = network.training_loss(inputs, targets, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, options.clip or math.inf)
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def time_scoring(model: Any, split: TokenizedSplit) -> float:
    """Scoring tokens per second over ``split`` (stream mode, the model's eval batch size)."""
    start = time.perf_counter()
    for _ in score_stream(
        model.network, split, model.vocab.eos_id, model.eval_protocol(split), "cpu"
    ):
        pass
    return len(split) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--orders", default="3,9", help="maxent orders to time, comma-separated")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per trial")
    parser.add_argument(
        "--score-lines", type=int, default=500, help="valid lines scored per trial (from the first)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    host = load_plugins()
    workdir = Path(tempfile.mkdtemp(prefix="bench-maxent-"))
    corpus = load_corpus(args.corpus, host.corpora, workdir, progress=False)
    tokenizer_class = host.tokenizers.get(corpus.default_tokenizer)
    tokenizer = tokenizer_class(tokenizer_class.Options())
    tokenizer.fit(corpus.splits["train"], workdir / "tokenizers")
    train = tokenizer.encode("train", corpus.splits["train"]).ids
    valid = tokenizer.encode("valid", corpus.splits["valid"][: args.score_lines])

    settings = {**DEFAULTS, **parse_assignments(args.settings)}
    # maxent_* settings (maxent_size) apply to the rnn-maxent runs alone
    plain = {k: v for k, v in settings.items() if not k.startswith("maxent_")}
    configs = {"rnn": ("rnn", plain)}
    for order in (int(o) for o in args.orders.split(",")):
        configs[f"rnn-maxent order {order}"] = ("rnn-maxent", {**settings, "maxent_order": order})
    step_s: dict[str, list[float]] = {name: [] for name in configs}
    score_tps: dict[str, list[float]] = {name: [] for name in configs}
    for repeat in range(args.repeats):
        names = list(configs) if repeat % 2 == 0 else list(configs)[::-1]
        for name in names:
            plugin, values = configs[name]
            model_class = host.models.get(plugin)
            torch.manual_seed(0)
            model = model_class(
                validate_options(model_class.Options, values, plugin), tokenizer.vocab, "cpu"
            )
            step_s[name].extend(time_training(model, train, args.steps))
            score_tps[name].append(time_scoring(model, valid))

    print(
        f"corpus {corpus.name}, vocab {len(tokenizer.vocab):,}, {settings}, "
        f"{args.steps} steps and {len(valid):,} scored tokens x {args.repeats} repeats, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    # medians, and the fastest trial: on a shared machine the minimum is the least noisy
    base_step, base_fastest = statistics.median(step_s["rnn"]), min(step_s["rnn"])
    base_score = statistics.median(score_tps["rnn"])
    for name in configs:
        step, fastest = statistics.median(step_s[name]), min(step_s[name])
        score = statistics.median(score_tps[name])
        print(
            f"{name:<20} train {1000 * step:6.1f} ms/step (x{step / base_step:.2f}), fastest "
            f"{1000 * fastest:6.1f} (x{fastest / base_fastest:.2f})   scoring {score:7,.0f} "
            f"tokens/s (time x{base_score / score:.2f})"
        )


if __name__ == "__main__":
    main()
