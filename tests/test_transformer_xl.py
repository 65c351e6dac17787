"""The transformer-xl plugin: causality, memory equal to the concatenation with the same
attention span, exactly-once stream scoring, adaptive input tied to the adaptive softmax,
and a run interrupted mid-epoch resuming with its memory."""

import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.api.plugin_host import get_host
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.store import Store
from bench_plugins.transformer_xl import TransformerXLModel
from bench_plugins.transformer_xl.network import TransformerXLNetwork, causal_mask
from bench_plugins.transformer_xl.options import TransformerXLOptions

VOCAB = 30
SMALL = dict(layers=2, d_model=16, heads=2, d_head=8, d_inner=32, dropout=0.0, tied=False)


def network(**changes):
    torch.manual_seed(0)
    net = TransformerXLNetwork(VOCAB, TransformerXLOptions(**{**SMALL, **changes}))
    return net.eval()


def tokens(n, seed=1):
    return torch.randint(0, VOCAB, (n, 1), generator=torch.Generator().manual_seed(seed))


def in_segments(net, ids, segment, mem_len):
    """Features of ``ids`` computed ``segment`` tokens at a time, the memory carried."""
    memory, pieces = None, []
    with torch.no_grad():
        for start in range(0, ids.size(0), segment):
            features, memory = net(ids[start : start + segment], memory, mem_len)
            pieces.append(features)
    return torch.cat(pieces)


def test_changing_a_token_never_changes_what_comes_before_it():
    net = network()
    ids = tokens(12)
    with torch.no_grad():
        before, _ = net(ids, None, 0)
        for t in (0, 5, 11):
            changed = ids.clone()
            changed[t] = (changed[t] + 1) % VOCAB
            after, _ = net(changed, None, 0)
            torch.testing.assert_close(after[:t], before[:t], rtol=0, atol=0)
            assert not torch.allclose(after[t], before[t])


def test_a_memory_as_long_as_the_stream_equals_scoring_it_whole():
    net = network()
    ids = tokens(24)
    with torch.no_grad():
        whole, _ = net(ids, None, 0)
    for segment in (1, 5, 8):
        torch.testing.assert_close(in_segments(net, ids, segment, mem_len=24), whole)


@pytest.mark.parametrize("segment,mem_len", [(4, 3), (4, 6), (5, 5), (3, 0)])
def test_a_shorter_memory_equals_the_whole_stream_with_the_same_attention_span(segment, mem_len):
    """Token i of a segment starting at s sees keys s - mem_len .. i in every layer."""
    net = network(layers=3)
    ids = tokens(23)
    n = ids.size(0)
    starts = torch.arange(n) // segment * segment
    keys = torch.arange(n)[None, :]
    hidden = (keys > torch.arange(n)[:, None]) | (keys < (starts - mem_len)[:, None])
    with torch.no_grad():
        whole, _ = net(ids, None, 0, hidden=hidden)
    segmented = in_segments(net, ids, segment, mem_len)
    torch.testing.assert_close(segmented, whole)
    if mem_len:  # and the span matters: plain causal attention over everything differs
        assert not torch.allclose(segmented, net(ids, None, 0)[0])


def test_the_memory_holds_the_last_states_without_gradient():
    net = network().train()
    _, memory = net(tokens(6), None, 4)
    assert len(memory) == 2 and memory[0].shape == (4, 1, 16)
    assert not any(m.requires_grad for m in memory)
    assert net(tokens(6), None, 0)[1] is None
    assert causal_mask(2, 1, "cpu").tolist() == [[False, False, True], [False, False, False]]


def model(**changes):
    from bench import Vocabulary

    vocab = Vocabulary(["<unk>", "<eos>"] + [f"w{i}" for i in range(VOCAB - 2)])
    options = TransformerXLOptions(**{**SMALL, **changes})
    torch.manual_seed(0)
    return TransformerXLModel(options, vocab, "cpu")


def split_of(n):
    ids = np.random.default_rng(0).integers(0, VOCAB, n).astype(np.int64)
    return SimpleNamespace(name="valid", ids=ids)  # all that stream scoring reads


def scored(model, split, segment):
    protocol = model.eval_protocol(split)
    positions, logprobs = [], []
    for piece in model.score(split, type(protocol)(protocol.mode, segment, protocol.context)):
        positions.append(piece.positions)
        logprobs.append(piece.logprobs)
    return np.concatenate(positions), np.concatenate(logprobs)


@pytest.mark.parametrize("n,segment", [(1, 4), (17, 4), (16, 4), (9, 20), (30, 7)])
def test_stream_scoring_scores_every_token_once_in_order(n, segment):
    positions, logprobs = scored(model(eval_mem_len=64), split_of(n), segment)
    assert positions.tolist() == list(range(n))
    assert np.all(logprobs <= 0)


def test_stream_scoring_with_enough_memory_does_not_depend_on_the_segment_length():
    xl, split = model(eval_mem_len=64), split_of(40)
    _, whole = scored(xl, split, 40)
    for segment in (3, 8):
        np.testing.assert_allclose(scored(xl, split, segment)[1], whole, rtol=1e-5, atol=1e-5)


def test_adaptive_input_and_softmax_tied_share_their_bands():
    changes = dict(adaptive_input=True, tied=True, output="adaptive")
    changes["output_options"] = {"cutoffs": [5, 12], "div_value": 2.0}
    xl = model(**changes)
    net = xl.network
    softmax = net.output.softmax
    assert net.words.embedding(1) is softmax.tail[0][1].weight
    assert net.words.projection(2) is softmax.tail[1][0].weight
    untied = model(**{**changes, "tied": False}).network
    shared = sum(
        net.words.embedding(i).numel() + (i > 0) * net.words.projection(i).numel() for i in range(3)
    )
    assert xl.num_parameters() == sum(p.numel() for p in untied.parameters()) - shared
    positions, logprobs = scored(xl, split_of(13), 4)
    assert positions.tolist() == list(range(13)) and np.all(logprobs <= 0)


def test_adaptive_input_without_the_adaptive_softmax_is_a_clear_error():
    from bench import BenchError

    with pytest.raises(BenchError, match="output=adaptive"):
        model(adaptive_input=True).network  # noqa: B018


# --- whole runs ----------------------------------------------------------------------
RUN = (
    "layers=2",
    "d_model=16",
    "heads=2",
    "d_head=8",
    "d_inner=32",
    "mem_len=8",
    "bptt=8",
    "eval_bptt=8",
    "batch_size=4",
    "epochs=2",
    "max_steps_per_epoch=15",
    "dropout=0.2",
    "lr=0.003",
    "log_every=5",
)


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def run(runner, corpus):
    config = build_config({}, {"plugin": "transformer-xl", "corpus": str(corpus)}, RUN)
    return runner.run(config, "x").run_id


def ppls(store, run_id):
    return {e["split"]: e["ppl"] for e in store.get_run(run_id)["evaluations"]}


def test_a_run_trains_and_is_scored_exactly_once_by_the_core(runner, tiny_corpus):
    run_id = run(runner, tiny_corpus)
    stored = runner.store.get_run(run_id)
    assert stored["status"] == "finished"
    assert 1 < ppls(runner.store, run_id)["test"] < 12  # 10 words and </s>: it learnt


def test_an_interrupted_run_resumes_mid_epoch_with_its_memory(runner, tiny_corpus, monkeypatch):
    reference = ppls(runner.store, run(runner, tiny_corpus))
    original = TransformerXLNetwork.training_loss
    calls = {"n": 0, "memory": None}

    def interrupting(self, inputs, targets, memory):
        calls["n"] += 1
        if calls["n"] == 20:  # in epoch 2, with a memory from step 19
            calls["memory"] = memory
            os.kill(os.getpid(), signal.SIGINT)  # held back until the step has finished
        return original(self, inputs, targets, memory)

    monkeypatch.setattr(TransformerXLNetwork, "training_loss", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(runner, tiny_corpus)
    monkeypatch.setattr(TransformerXLNetwork, "training_loss", original)
    assert calls["memory"] is not None
    (interrupted,) = [r["id"] for r in runner.store.list_runs() if r["status"] == "interrupted"]
    runner.resume(interrupted)
    assert ppls(runner.store, interrupted) == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize(
    "name, extra",
    [
        ("dai-transformer-xl-wt103-base", ("output.cutoffs=4,8",)),
        ("dai-transformer-xl-1bw", ("output.cutoffs=4,8", "tokenizer.min_count=1")),
    ],
)
def test_the_recipes_train_end_to_end_when_shrunk(tiny_corpus, name, extra):
    """Never run at full size here: adaptive input tied to the adaptive softmax (div_value
    1 for WikiText-103 base), memory and clamping exercised together on a tiny corpus."""
    from click.testing import CliRunner

    from bench.cli import cli

    shrink = (
        "epochs=1",
        "max_steps_per_epoch=3",
        "batch_size=4",
        "bptt=8",
        "mem_len=8",
        "eval_bptt=8",
        "eval_mem_len=16",
        "layers=2",
        "d_model=16",
        "heads=2",
        "d_head=8",
        "d_inner=32",
        *extra,
    )
    arguments = [part for setting in shrink for part in ("--set", setting)]
    result = CliRunner().invoke(
        cli, ["reproduce", name, "--corpus", str(tiny_corpus), *arguments], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (stored,) = Store().list_runs()
    assert stored["status"] == "finished" and stored["plugin"] == "transformer-xl"
