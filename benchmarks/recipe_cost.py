"""A recipe's training cost before running it: the time and memory of its training steps
at full size, and what an epoch would take at that pace.

    python benchmarks/recipe_cost.py grave-lstm-2048-adaptive                  # this CPU
    python benchmarks/recipe_cost.py jozefowicz-big-lstm --device cuda --steps 20
    python benchmarks/recipe_cost.py ji-rnn-2048-blackout --set batch_size=32  # overrides

What it runs. The recipe's network (plugin, options and output layer as in the TOML file,
``--set`` overrides applied) is built for a vocabulary of ``--vocab`` words whose train
counts are Zipfian (P(rank r) proportional to 1/(r + 1)), so sampling proposals, adaptive
cutoffs and classes see a realistic frequency order. Each step is the training loop's own:
a window of ``batch_size`` x ``bptt`` token ids drawn from that distribution, the
network's training loss under the recipe's precision, backward, ``clip_gradients`` and
the recipe's optimiser, with the recurrent state carried from window to window. After
``--warmup`` untimed steps, ``--steps`` steps are timed one by one (synchronised on a GPU);
the figure is the median.

What it leaves out. No corpus is read (the real data pipeline streams memory-mapped ids,
see ``benchmarks/stream_memory.py``), no validation pass is run, and random ids are not
text: a real epoch takes at least this long. Zipf's 1/r over 793k words puts 42% of the
tokens beyond rank 2,000 and 20% beyond 50,000, more than real text does, so layers whose
cost grows with the rare words a window holds (adaptive, class) come out slower and
bigger here than on the corpus. Peak memory is ``max_memory_allocated`` on a
GPU and the process's peak resident set on a CPU (interpreter and torch included).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import resource
import statistics
import time
from typing import Any

import torch

from bench.api.plugin_host import load_plugins
from bench.configuration.recipes import load_recipes
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.tokenization.tokens import Vocabulary
from bench.training.loop import detach_state
from bench.training.optimization import autocast, build_optimizer, clip_gradients

# One Billion Word (Chelba et al. 2013): the vocabulary of words seen 3 times or more,
# and about 0.8B training words plus one end-of-sentence per line
DEFAULT_VOCAB = 793_471
DEFAULT_TRAIN_TOKENS = 800_000_000


def zipf_counts(vocab: int) -> torch.Tensor:
    return 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)


def peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def precision(options: Any, device: str) -> Any:
    """The recipe's mixed precision, for models whose options name one (awd-lstm's do not)."""
    if hasattr(options, "precision"):
        return autocast(options, device)
    return contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", help="a recipe name (bench reproduce --list)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument(
        "--vocab",
        type=int,
        default=DEFAULT_VOCAB,
        help="vocabulary size [default: One Billion Word's, 793,471]",
    )
    parser.add_argument(
        "--train-tokens",
        type=float,
        default=DEFAULT_TRAIN_TOKENS,
        help="tokens in an epoch, for the projection [default: 0.8e9, One "
        "Billion Word's train split]",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="settings",
        metavar="KEY=VALUE",
        help="override a recipe option (repeatable)",
    )
    args = parser.parse_args()

    recipes = {recipe.name: recipe for recipe in load_recipes()}
    if args.recipe not in recipes:
        raise SystemExit(f"no recipe {args.recipe!r}; known: {', '.join(sorted(recipes))}")
    recipe = recipes[args.recipe]
    host = load_plugins()
    try:
        config = build_config(recipe.config, {}, tuple(args.settings))
        options = host.model_options(config.plugin, config.options)
    except BenchError as error:
        raise SystemExit(f"error: {error}") from None
    model_class = host.models.get(config.plugin)
    # the plugin's own network (rnn-maxent's has the direct n-gram tables) for a vocabulary
    # of the given size
    words = ["<eos>", "<unk>", *(f"w{i}" for i in range(args.vocab - 2))]
    model = model_class(options, Vocabulary(words), args.device)

    torch.manual_seed(config.seed)
    counts = zipf_counts(args.vocab)
    built = time.perf_counter()
    try:
        network = model.build_network(counts.numpy())
    except BenchError as error:  # e.g. adaptive cutoffs beyond a --vocab made small
        raise SystemExit(f"error: {error}") from None
    built = time.perf_counter() - built
    params = [p for p in network.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, options)
    set_up_gb = peak_memory_gb(args.device)
    window = options.batch_size * options.bptt
    proposal = counts / counts.sum()
    generator = torch.Generator().manual_seed(0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        ids = (
            torch.multinomial(
                proposal, window + options.batch_size, replacement=True, generator=generator
            )
            .view(options.batch_size, -1)
            .T
        )
        return ids[:-1].contiguous().to(args.device), ids[1:].contiguous().to(args.device)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    network.train()
    state, seconds = None, []
    for step in range(args.warmup + args.steps):
        inputs, targets = batch()
        sync()
        start = time.perf_counter()
        with precision(options, args.device):
            # (loss, state), or (loss, cross-entropy, state) from awd-lstm's network
            loss, *_, state = network.training_loss(inputs, targets, detach_state(state))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(params, options.clip or math.inf)
        optimizer.step()
        sync()
        if step >= args.warmup:
            seconds.append(time.perf_counter() - start)

    step_s = statistics.median(seconds)
    tokens_per_s = window / step_s
    epoch_h = args.train_tokens / tokens_per_s / 3600
    where = (
        torch.cuda.get_device_name(args.device)
        if args.device.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(
        f"recipe {recipe.name} ({config.plugin}, {getattr(options, 'output', 'tied')} output"
        f"{', sparse gradients' if getattr(options, 'sparse_grad', False) else ''}), "
        f"vocab {args.vocab:,}; torch {torch.__version__}, {where}"
    )
    print(
        f"parameters {sum(p.numel() for p in params) / 1e6:,.1f}M, built in {built:.1f} s; "
        f"window {options.batch_size} x {options.bptt} = {window:,} tokens"
    )
    print(
        f"step {1000 * step_s:,.1f} ms (median of {args.steps} after {args.warmup}; "
        f"fastest {1000 * min(seconds):,.1f}), {tokens_per_s:,.0f} tokens/s, peak memory "
        f"{peak_memory_gb(args.device):.2f} GB ({set_up_gb:.2f} GB once the network and "
        "optimiser were set up)"
    )
    print(
        f"at that pace: {epoch_h:,.1f} h per epoch of {args.train_tokens:,.0f} tokens, "
        f"{epoch_h * options.epochs:,.1f} h for the recipe's {options.epochs} epochs "
        "(training steps only)"
    )


if __name__ == "__main__":
    main()
