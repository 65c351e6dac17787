"""Harness overhead: bench's recurrent training loop against a bare torch loop of the same model.

Both train the same network shape on the same token stream with the same optimiser,
clipping, batch size and BPTT length, for the same number of steps. They alternate, and
each is repeated, so machine noise hits both alike; the figure reported is the ratio of
median training throughputs. Goal: the harness adds at most 5%.

    python benchmarks/harness_overhead.py                       # lstm, embedded default (chars)
    python benchmarks/harness_overhead.py --plugin gru          # or rnn
    python benchmarks/harness_overhead.py --corpus ../shared/corpora/ptb --set layers=2 \
        --set hidden_size=200 --set embedding_size=200 --set optimizer=sgd --set lr=20 \
        --set batch_size=20 --set bptt=35 --set dropout=0
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.store import Store


def harness_run(runner: Runner, plugin: str, corpus: str, settings: list[str], steps: int) -> float:
    """Train through `bench run`'s code path; return its recorded train tokens/s."""
    config = build_config(
        {},
        {"plugin": plugin, "corpus": corpus},
        (*settings, "epochs=1", f"max_steps_per_epoch={steps}"),
    )
    result = runner.run(config, command="benchmarks/harness_overhead.py")
    return result.summary["train_tokens_per_second"]


def bare_model(vocab_size: int, plugin: str, options) -> tuple[nn.Module, ...]:
    """The network as pytorch/examples' word_language_model builds it: embedding, cell, Linear."""
    torch.manual_seed(0)
    embedding = nn.Embedding(vocab_size, options.embedding_size)
    sizes = (options.embedding_size, options.hidden_size, options.layers)
    dropout = options.dropout if options.layers > 1 else 0.0
    if plugin == "lstm":
        rnn = nn.LSTM(*sizes, dropout=dropout)
    elif plugin == "gru":
        rnn = nn.GRU(*sizes, dropout=dropout)
    else:
        rnn = nn.RNN(*sizes, nonlinearity=options.nonlinearity, dropout=dropout)
    output = nn.Linear(options.hidden_size, vocab_size)
    drop = nn.Dropout(options.dropout)
    return embedding, rnn, output, drop


def _detach(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return None if state is None else state.detach()


def bare_run(
    ids: torch.Tensor,
    vocab_size: int,
    plugin: str,
    options,
    steps: int,
    network: tuple[nn.Module, ...] | None = None,
) -> float:
    """The same model and step written as a plain torch loop (no harness at all)."""
    embedding, rnn, output, drop = network or bare_model(vocab_size, plugin, options)
    for module in (embedding, rnn, output, drop):
        module.train()
    params = [*embedding.parameters(), *rnn.parameters(), *output.parameters()]
    optimizer = (
        torch.optim.Adam(params, lr=options.lr)
        if options.optimizer == "adam"
        else torch.optim.SGD(params, lr=options.lr)
    )
    rows = len(ids) // options.batch_size
    data = ids[: rows * options.batch_size].view(options.batch_size, rows).t().contiguous()
    state = None
    tokens = 0
    start = time.perf_counter()
    for step, i in enumerate(range(0, rows - 1, options.bptt)):
        if step >= steps:
            break
        length = min(options.bptt, rows - 1 - i)
        x, y = data[i : i + length], data[i + 1 : i + 1 + length]
        state = _detach(state)
        hidden, state = rnn(drop(embedding(x)), state)
        logits = output(drop(hidden))
        loss = nn.functional.cross_entropy(logits.view(-1, vocab_size), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, options.clip)
        optimizer.step()
        tokens += y.numel()
    return tokens / (time.perf_counter() - start)


def bare_evaluate(
    ids: torch.Tensor,
    vocab_size: int,
    network: tuple[nn.Module, ...],
    bptt: int = 35,
    batch_size: int = 10,
) -> tuple[float, float]:
    """pytorch/examples' evaluate(): the split cut into ``batch_size`` parallel columns
    (each starting from a zero state, so not the stream protocol), ``bptt`` steps at a
    time, full logits. Returns (tokens/s, mean loss)."""
    embedding, rnn, output, drop = network
    for module in (embedding, rnn, output, drop):
        module.eval()
    rows = len(ids) // batch_size
    data = ids[: rows * batch_size].view(batch_size, rows).t().contiguous()
    state, total, tokens = None, 0.0, 0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, rows - 1, bptt):
            length = min(bptt, rows - 1 - i)
            x, y = data[i : i + length], data[i + 1 : i + 1 + length]
            hidden, state = rnn(drop(embedding(x)), state)
            logits = output(drop(hidden))
            total += (
                length
                * nn.functional.cross_entropy(logits.view(-1, vocab_size), y.reshape(-1)).item()
                * batch_size
            )
            tokens += y.numel()
    return tokens / (time.perf_counter() - start), total / tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    parser.add_argument("--steps", type=int, default=150, help="training steps per trial")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (fewer: less noise on a shared machine) [default: torch's]",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    host = load_plugins()
    workdir = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    runner = Runner(
        host,
        Store(f"sqlite:///{workdir / 'bench.db'}"),
        workdir,
        progress=False,
        echo=lambda message: None,
    )
    # the bare loop gets exactly the tokens and options the harness trains on
    from bench.configuration.options import parse_assignments, validate_options
    from bench.corpora import load_corpus

    model_class = host.models.get(args.plugin)
    options = validate_options(model_class.Options, parse_assignments(args.settings), args.plugin)
    corpus = load_corpus(args.corpus, host.corpora, workdir, progress=False)
    tokenizer = host.tokenizers.get(corpus.default_tokenizer)(
        host.tokenizers.get(corpus.default_tokenizer).Options()
    )
    tokenizer.fit(corpus.splits["train"], workdir / "tokenizers")
    ids = torch.as_tensor(tokenizer.encode("train", corpus.splits["train"]).ids)

    harness, bare = [], []
    for repeat in range(args.repeats):
        # alternate which goes first, so warm-up and drift do not favour either
        trials = [
            lambda: harness.append(
                harness_run(runner, args.plugin, args.corpus, args.settings, args.steps)
            ),
            lambda: bare.append(
                bare_run(ids, len(tokenizer.vocab), args.plugin, options, args.steps)
            ),
        ]
        for trial in trials if repeat % 2 == 0 else trials[::-1]:
            trial()
    h, b = statistics.median(harness), statistics.median(bare)
    print(
        f"{args.plugin} on corpus {corpus.name}, {args.steps} steps x {args.repeats} repeats, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"harness train tokens/s: median {h:,.0f}  (all: {', '.join(f'{v:,.0f}' for v in harness)})"
    )
    print(f"bare    train tokens/s: median {b:,.0f}  (all: {', '.join(f'{v:,.0f}' for v in bare)})")
    print(
        f"harness time / bare time: {b / h:.3f}  (overhead {100 * (b / h - 1):+.1f}%; goal <= +5%)"
    )


if __name__ == "__main__":
    main()
