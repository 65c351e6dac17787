"""Output layers: training-step time and peak memory of each against the full softmax.

    python benchmarks/output_layers.py                                # V = 10k, 100k, 800k
    python benchmarks/output_layers.py --vocab 10000,100000 --steps 3 --hidden 256 \\
        --batch-tokens 512                                            # a quick CPU run
    python benchmarks/output_layers.py --device cuda --option sampled.samples=8192
    python benchmarks/output_layers.py --sparse-grad    # the word matrix's gradient sparse

What a step is. The output layer alone, on random features: ``training_loss`` on
``--batch-tokens`` positions of ``--hidden`` features (a leaf tensor that requires grad,
so the backward pass also computes the gradient a recurrent network below would get),
``backward``, then one plain SGD update of the layer's parameters. Targets are drawn from
a Zipfian distribution (P(rank r) proportional to 1/(r + 1)) over a vocabulary of
shuffled ids, and the layers learn their proposals, frequency order and classes from
counts of the same distribution. Each layer uses its defaults (``bench output-layers``)
unless ``--option LAYER.KEY=VALUE`` says otherwise.

How it measures. Each (layer, vocabulary) case runs in a fresh Python process
(``--worker``): it builds the layer, runs ``--warmup`` steps, then times ``--steps``
steps one by one (``torch.cuda.synchronize`` around each on a GPU); the figure is the
median step. Peak memory on the CPU is the process's peak resident set size
(``resource.getrusage(...).ru_maxrss``: interpreter, torch, parameters and the step's
buffers; torch's allocations are invisible to tracemalloc), and "step" is how much the
steps (warm-up included) raised it above the peak after set-up. On a GPU it is
``torch.cuda.max_memory_allocated``, and "step" the same above the memory allocated
after set-up.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

LAYERS = ("full", "sampled", "nce", "blackout", "adaptive", "class")


def zipf_counts(vocab: int, generator: Any) -> Any:
    """Expected counts of 10M tokens under Zipf's law, over shuffled ids."""
    import torch

    by_rank = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    counts = torch.empty(vocab, dtype=torch.float64)
    counts[torch.randperm(vocab, generator=generator)] = 1e7 * by_rank / by_rank.sum()
    return counts


def run_case(layer_name: str, vocab: int, args: argparse.Namespace) -> dict[str, float]:
    """One case, in this process: median step milliseconds and peak memory."""
    import torch

    from bench.api.output_layers import OutputLayer
    from bench.api.plugin_host import get_host
    from bench.configuration.options import validate_options

    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    counts = zipf_counts(vocab, generator)
    layer: type[OutputLayer] = get_host().output_layers.get(layer_name)
    settings = {
        key.split(".", 1)[1]: value
        for key, value in (item.split("=", 1) for item in args.option)
        if key.startswith(layer_name + ".")
    }
    options = validate_options(layer.Options, settings, owner=f"output layer {layer_name}")
    torch.manual_seed(0)
    module = layer.build(args.hidden, vocab, counts.numpy(), options).to(device)
    module.sparse_grad = args.sparse_grad  # honoured by the layers that read rows
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    features = torch.randn(args.batch_tokens, args.hidden, device=device, requires_grad=True)
    targets = torch.multinomial(
        counts / counts.sum(), args.batch_tokens, replacement=True, generator=generator
    ).to(device)

    def step() -> None:
        loss = module.training_loss(features, targets)
        optimizer.zero_grad(set_to_none=True)
        features.grad = None
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    if device.startswith("cuda"):
        setup_mb = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    else:
        setup_mb = peak_rss_mb()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else peak_rss_mb()
    )
    return {
        "ms": 1000 * statistics.median(times),
        "peak_mb": peak_mb,
        "step_mb": max(0.0, peak_mb - setup_mb),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(layer: str, vocab: int, argv: list[str]) -> dict[str, Any]:
    """Run one case in a fresh process, so each peak is its own."""
    command = [sys.executable, __file__, "--worker", layer, str(vocab), *argv]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": reason[:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--vocab", default="10000,100000,800000", help="comma-separated vocabulary sizes"
    )
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--hidden", type=int, default=512, help="feature size")
    parser.add_argument(
        "--batch-tokens", type=int, default=1024, help="positions per step (batch x bptt)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch [default: torch's own choice]"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="LAYER.KEY=VALUE",
        help="a layer option, e.g. sampled.samples=8192 (repeatable)",
    )
    parser.add_argument(
        "--sparse-grad",
        action="store_true",
        help="sparse gradients for the word matrix (the models' sparse_grad "
        "option; honoured by sampled, nce, blackout and class)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("LAYER", "VOCAB"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(run_case(args.worker[0], int(args.worker[1]), args)))
        return

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    forwarded = [
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--hidden",
        str(args.hidden),
        "--batch-tokens",
        str(args.batch_tokens),
        *(f"--option={item}" for item in args.option),
        *(["--sparse-grad"] if args.sparse_grad else []),
    ]
    where = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} threads"
    )
    memory = "max_memory_allocated" if args.device.startswith("cuda") else "peak RSS"
    print(
        f"output layer training step: hidden {args.hidden}, {args.batch_tokens} positions, "
        f"SGD; median of {args.steps} steps after {args.warmup}; torch {torch.__version__}, "
        f"{where}; memory = {memory}"
        + (f"; options {' '.join(args.option)}" if args.option else "")
        + ("; sparse gradients" if args.sparse_grad else "")
    )
    print(f"{'vocab':>8} {'layer':<9} {'ms/step':>9} {'speed-up':>9} {'peak MB':>9} {'step MB':>9}")
    for vocab in (int(v) for v in args.vocab.split(",")):
        full_ms = None
        for layer in args.layers.split(","):
            result = measure(layer, vocab, forwarded)
            if "error" in result:
                print(f"{vocab:>8} {layer:<9} failed: {result['error']}", flush=True)
                continue
            if layer == "full":
                full_ms = result["ms"]
            speedup = f"{full_ms / result['ms']:.1f}x" if full_ms else "n/a"
            print(
                f"{vocab:>8} {layer:<9} {result['ms']:>9.2f} {speedup:>9} "
                f"{result['peak_mb']:>9.0f} {result['step_mb']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
