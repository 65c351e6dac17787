"""Output-layer levers: the softmax head's training step (linear + cross-entropy, forward
and backward) three ways, at the shapes of the PTB 2x200 model.

- ``plain``: ``F.cross_entropy(F.linear(x, W, b), t)``, what bench and the bare loop run;
- ``fused``: a chunked, fused linear cross-entropy (the idea of Liger-Kernel's
  FusedLinearCrossEntropy): the forward pass computes the loss and, a block of rows at a
  time in one logits buffer, the gradients of x, W and b (softmax minus one-hot);
  backward only scales them. Never more than ``CHUNK_ELEMENTS`` logits at once;
- ``compiled``: ``torch.compile`` of the plain head and loss (inductor, C++ on a CPU).

Each is checked against ``plain`` (loss and gradients), then timed alternating, medians.
The figures decide what bench's model uses; see docs/speed.md.

    python benchmarks/cross_entropy_levers.py --threads 2 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

# logits held at once: 4M floats (16 MB), e.g. 400 rows of a 10,000-word vocabulary
CHUNK_ELEMENTS = 2**22


class LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``linear(x, W, b)``; all gradients made in the forward pass."""

    @staticmethod
    def forward(ctx, features, weight, bias, targets):
        rows, vocab = features.size(0), weight.size(0)
        scale = 1.0 / rows
        grad_features = torch.empty_like(features)
        grad_weight = torch.zeros_like(weight)
        grad_bias = torch.zeros_like(bias)
        loss = features.new_zeros((), dtype=torch.float64)
        block = max(1, CHUNK_ELEMENTS // vocab)
        buffer = features.new_empty(min(block, rows), vocab)
        for start in range(0, rows, block):
            x = features[start : start + block]
            t = targets[start : start + block].unsqueeze(1)
            logits = buffer[: x.size(0)]
            torch.addmm(bias, x, weight.t(), out=logits)
            logprobs = torch.log_softmax(logits, dim=1)  # torch's one-pass kernel
            loss -= logprobs.gather(1, t).sum(dtype=torch.float64)
            # softmax - onehot(target): d loss / d logits, times the row count
            probs = logprobs.exp_()
            probs.scatter_add_(1, t, probs.new_full(t.shape, -1.0))
            torch.mm(probs, weight, out=grad_features[start : start + block])
            grad_weight.addmm_(probs.t(), x, alpha=scale)
            grad_bias += probs.sum(dim=0)
        grad_features.mul_(scale)
        grad_bias.mul_(scale)
        ctx.save_for_backward(grad_features, grad_weight, grad_bias)
        return (loss * scale).to(features.dtype)

    @staticmethod
    def backward(ctx, grad_loss):
        grad_features, grad_weight, grad_bias = ctx.saved_tensors
        return grad_features * grad_loss, grad_weight * grad_loss, grad_bias * grad_loss, None


def plain(x, weight, bias, targets):
    return F.cross_entropy(F.linear(x, weight, bias), targets)


def fused(x, weight, bias, targets):
    return LinearCrossEntropy.apply(x, weight, bias, targets)


def step(loss_fn, tensors):
    x, weight, bias, targets = tensors
    loss = loss_fn(x, weight, bias, targets)
    loss.backward()
    grads = (x.grad, weight.grad, bias.grad)
    x.grad = weight.grad = bias.grad = None
    return loss.detach(), grads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, action="append")
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="tokens per step [default: 400 and 700, batch 20 x bptt 20 and 35]",
    )
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    args = parser.parse_args()
    print(
        f"softmax head step (forward + backward), vocab {args.vocab:,}, hidden {args.hidden}; "
        f"torch {torch.__version__}; load {os.getloadavg()[0]:.2f}"
    )
    for threads in args.threads or [2, 1]:
        torch.set_num_threads(threads)
        for rows in args.rows or [400, 700]:
            generator = torch.Generator().manual_seed(0)
            tensors = (
                torch.randn(rows, args.hidden, generator=generator).requires_grad_(),
                (0.1 * torch.randn(args.vocab, args.hidden, generator=generator)).requires_grad_(),
                torch.zeros(args.vocab).requires_grad_(),
                torch.randint(args.vocab, (rows,), generator=generator),
            )
            variants = {"plain": plain, "fused": fused}
            started = time.perf_counter()
            try:
                compiled = torch.compile(plain)
                step(compiled, tensors)
                variants["compiled"] = compiled
                compile_note = f"compiled in {time.perf_counter() - started:.1f} s"
            except Exception as error:
                compile_note = f"torch.compile unavailable ({type(error).__name__})"
            reference_loss, reference_grads = step(plain, tensors)
            differences = {}
            for name, fn in variants.items():
                loss, grads = step(fn, tensors)
                differences[name] = max(
                    [abs(loss - reference_loss).item()]
                    + [
                        (g - r).abs().max().item()
                        for g, r in zip(grads, reference_grads, strict=True)
                    ]
                )
            times = {name: [] for name in variants}
            for repeat in range(args.repeats):
                names = list(variants)
                names = names[repeat % len(names) :] + names[: repeat % len(names)]
                for name in names:
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        step(variants[name], tensors)
                    times[name].append((time.perf_counter() - start) / args.steps * 1000)
            base = statistics.median(times["plain"])
            print(f"\n{threads} thread(s), {rows} rows; {compile_note}")
            for name in variants:
                median = statistics.median(times[name])
                print(
                    f"  {name:9} {median:8.2f} ms/step  x{base / median:.2f} vs plain  "
                    f"max |difference| {differences[name]:.1e}"
                )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
