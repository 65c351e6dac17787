"""The transformer plugin: causality, the window protocol end to end, options, update_freq."""

import dataclasses

import numpy as np
import pytest
import torch
from splits import random_split
from test_runner import config, runner  # noqa: F401 (the runner fixture)

from bench.errors import BenchError
from bench.report.leaderboard import build_tables, render
from bench.report.published import load_published
from bench.scoring.exactly_once import evaluate
from bench.tokenization.tokens import Vocabulary

TINY = (
    "layers=2",
    "d_model=16",
    "heads=2",
    "ffn_size=32",
    "tokens_per_sample=8",
    "batch_size=4",
    "epochs=2",
    "max_steps_per_epoch=30",
    "lr=0.01",
    "warmup_steps=5",
)


def transformer(**options):
    from bench_plugins.transformer import TransformerModel, TransformerOptions

    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(11))])
    settings = dict(layers=2, d_model=8, heads=2, ffn_size=16, tokens_per_sample=8, dropout=0.0)
    model = TransformerModel(TransformerOptions(**{**settings, **options}), vocab, "cpu")
    model.network.double()  # float64: a changed score is a real dependence, not rounding
    return model


def scores(model, split, stride):
    from bench.api.contract_types import EvalProtocol

    protocol = EvalProtocol("window", 3, context=model.options.tokens_per_sample, stride=stride)
    return [chunk for chunk in model.score(split, protocol)]


def logprobs_of(model, split, stride):
    out = np.zeros(len(split))
    for chunk in scores(model, split, stride):
        out[chunk.positions] = chunk.logprobs
    return out


@pytest.mark.parametrize("norm, positions", [("pre", "learned"), ("post", "sinusoidal")])
@pytest.mark.parametrize("stride", [1, 3, 8])
def test_changing_token_t_never_changes_the_scores_before_it(norm, positions, stride):
    model = transformer(norm=norm, positions=positions)
    split = random_split(n_lines=12)
    before = logprobs_of(model, split, stride)
    for t in (0, 5, 7, 8, 9, 16, len(split) - 1):
        changed = split.ids.copy()
        changed[t] = 2 + (changed[t] - 1) % 11  # another word
        altered = dataclasses.replace(split, ids=changed)
        after = logprobs_of(model, altered, stride)
        assert np.array_equal(before[:t], after[:t]), t
        assert not np.array_equal(before[t:], after[t:])  # the change is seen where it may be


def test_the_window_protocol_scores_every_token_once_and_a_wider_stride_sees_less():
    model = transformer()
    split = random_split()
    protocol = model.eval_protocol(split)
    assert (protocol.mode, protocol.context, protocol.stride) == ("window", 8, 4)
    full = evaluate(split, protocol, model.score)  # raises unless each token scored once
    assert full.counts.tokens == len(split)
    # with stride 1 every position but the first 8 sees 7 tokens; with 8 blocks are disjoint
    close = logprobs_of(model, split, 1)
    disjoint = logprobs_of(model, split, 8)
    assert np.array_equal(close[:8], disjoint[:8])  # the first window is the same
    assert not np.allclose(close[8:], disjoint[8:])


def test_a_run_trains_scores_with_windows_and_the_leaderboard_shows_the_stride(
    runner,  # noqa: F811
    tiny_corpus,
):
    result = runner.run(config("transformer", tiny_corpus, *TINY, "log_every=1"), "bench run")
    unigram = runner.run(config("unigram", tiny_corpus), "bench run")
    assert result.evaluations["test"].ppl < unigram.evaluations["test"].ppl
    record = runner.store.get_run(result.run_id)
    test = next(e for e in record["evaluations"] if e["split"] == "test")
    assert (test["mode"], test["context"], test["stride"]) == ("window", 8, 4)
    tables = build_tables(runner.store.results_frame(), load_published())
    shown = "".join(render(table, "md") for table in tables.values())
    assert "window, batch 256, context 8, stride 4" in shown
    assert result.label.startswith("Transformer 2x16 pre-LN learned tied")


def test_update_freq_makes_one_update_of_several_batches(runner, tiny_corpus):  # noqa: F811
    settings = (*TINY, "epochs=1", "max_steps_per_epoch=3", "log_every=1", "update_freq=2")
    result = runner.run(config("transformer", tiny_corpus, *settings), "bench run")
    metrics = runner.store.get_run(result.run_id)["metrics"]
    steps = [m["step"] for m in metrics if m["name"] == "train_loss" and m["step"] is not None]
    assert sorted(set(steps)) == [1, 2, 3]  # three updates ...
    record = runner.store.get_run(result.run_id)
    assert record["train_tokens"] == 3 * 2 * 4 * 8  # ... of two 4 x 8 batches each


@pytest.mark.parametrize(
    "settings, message",
    [
        (("d_model=10", "heads=3"), "must divide by heads"),
        (("bptt=64",), "set tokens_per_sample"),
        (("tokens_per_sample=8", "eval_stride=9"), "cannot exceed tokens_per_sample"),
    ],
)
def test_bad_options_are_one_line_errors(runner, tiny_corpus, settings, message):  # noqa: F811
    with pytest.raises(BenchError, match=message):
        runner.run(config("transformer", tiny_corpus, *settings), "bench run")


def test_tokens_per_sample_is_the_loops_block_length():
    from bench_plugins.transformer import TransformerOptions

    assert TransformerOptions(tokens_per_sample=32).bptt == 32
    assert TransformerOptions(tokens_per_sample=32, bptt=32).bptt == 32
    options = TransformerOptions(tokens_per_sample=32)
    options.tokens_per_sample = 16
    assert options.bptt == 16
    assert TransformerOptions(**options.model_dump()).bptt == 16


# each block parameter and its counterpart in nn.TransformerEncoderLayer
ENCODER_LAYER_NAMES = {
    "attention.qkv.weight": "self_attn.in_proj_weight",
    "attention.qkv.bias": "self_attn.in_proj_bias",
    "attention.proj.weight": "self_attn.out_proj.weight",
    "attention.proj.bias": "self_attn.out_proj.bias",
    "ffn.0.weight": "linear1.weight",
    "ffn.0.bias": "linear1.bias",
    "ffn.3.weight": "linear2.weight",
    "ffn.3.bias": "linear2.bias",
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
}


def test_blocks_start_as_nn_transformer_starts_its_encoder_layers():
    """word_language_model's model is an nn.Transformer: Xavier matrices, attention biases
    at zero (nn.MultiheadAttention's), feed-forward biases drawn as nn.Linear draws them."""
    network = transformer(norm="post").network
    torch.manual_seed(0)
    reference = torch.nn.Transformer(
        8, 2, 1, 1, dim_feedforward=16, batch_first=True
    ).encoder.layers[0]
    theirs = dict(reference.named_parameters())
    ours = dict(network.blocks[0].named_parameters())
    assert set(ours) == set(ENCODER_LAYER_NAMES)
    for name, their_name in ENCODER_LAYER_NAMES.items():
        mine, reference_value = ours[name].detach().float(), theirs[their_name].detach()
        assert mine.shape == reference_value.shape, name
        assert (mine == 0).all() == (reference_value == 0).all(), name
        assert (mine == 1).all() == (reference_value == 1).all(), name
        if mine.dim() == 2:  # Xavier: uniform within sqrt(6 / (fan_in + fan_out))
            assert mine.abs().max() <= (6 / sum(mine.shape)) ** 0.5, name


def test_a_nan_restart_takes_the_per_update_schedule_back_to_the_epochs_start(
    runner,  # noqa: F811
    tiny_corpus,
    monkeypatch,
):
    from bench_plugins.transformer.network import TransformerNetwork

    forward, calls = TransformerNetwork.forward, {"n": 0}

    def nan_on_fifth_training_call(self, inputs):
        features = forward(self, inputs)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 5:
                features = features * float("nan")
        return features

    monkeypatch.setattr(TransformerNetwork, "forward", nan_on_fifth_training_call)
    settings = (*TINY, "epochs=1", "log_every=2", "lr_schedule=inverse_sqrt", "warmup_steps=0")
    result = runner.run(config("transformer", tiny_corpus, *settings), "bench run")
    metrics = runner.store.get_run(result.run_id)["metrics"]
    assert [m["value"] for m in metrics if m["name"] == "nan_recovery"] == [1]
    (lr,) = [m["value"] for m in metrics if m["name"] == "lr" and m["epoch"] == 1][-1:]
    # 30 updates after the restart, at half the lr: 0.005 / sqrt(31)
    assert lr == pytest.approx(0.005 / 31**0.5)


def test_ctrl_c_mid_way_and_resume_match_an_uninterrupted_run_with_update_freq(
    runner,  # noqa: F811
    tiny_corpus,
    monkeypatch,
):
    import os
    import signal

    from test_resume import assert_same_run

    from bench_plugins.transformer.network import TransformerNetwork

    settings = (*TINY, "dropout=0.3", "update_freq=2", "log_every=3", "lr_schedule=cosine")
    reference = runner.run(config("transformer", tiny_corpus, *settings), "x").run_id
    training_loss, calls = TransformerNetwork.training_loss, {"n": 0}

    def sigint_on_call_47(self, inputs, targets, state=None):
        calls["n"] += 1
        if calls["n"] == 47:  # the first batch of epoch 2's 9th update
            os.kill(os.getpid(), signal.SIGINT)  # held back until the update has finished
        return training_loss(self, inputs, targets, state)

    monkeypatch.setattr(TransformerNetwork, "training_loss", sigint_on_call_47)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config("transformer", tiny_corpus, *settings), "x")
    monkeypatch.setattr(TransformerNetwork, "training_loss", training_loss)
    (interrupted,) = [r["id"] for r in runner.store.list_runs() if r["id"] != reference]
    runner.resume(interrupted)
    assert_same_run(runner.store, reference, interrupted)


# --- adaptive input ------------------------------------------------------------------
ADAPTIVE = dict(adaptive_input=True, output="adaptive")
ADAPTIVE["output_options"] = {"cutoffs": [4, 9], "div_value": 2.0}


def test_adaptive_input_has_the_softmax_bands_and_shares_them_when_tied():
    """13 words in bands of 4, 5 and 4, 8 / 4 / 2 dimensions wide (d_model 8, factor 2);
    tied, band 0 reads the softmax head's rows and the tail bands are the clusters'."""
    tied = transformer(**ADAPTIVE, tied=True)
    net = tied.network
    softmax = net.output.softmax
    assert [net.embedding.embedding(i).shape for i in range(3)] == [(4, 8), (5, 4), (4, 2)]
    assert net.embedding.embedding(0).data_ptr() == softmax.head.weight.data_ptr()
    assert net.embedding.embedding(1) is softmax.tail[0][1].weight
    assert net.embedding.projection(2) is softmax.tail[1][0].weight
    untied = transformer(**ADAPTIVE, tied=False)
    shared = sum(
        net.embedding.embedding(i).numel() + (i > 0) * net.embedding.projection(i).numel()
        for i in range(3)
    )
    assert tied.num_parameters() == untied.num_parameters() - shared
    words_only = transformer(**ADAPTIVE, tied=True, tie_projections=False)
    assert words_only.num_parameters() == tied.num_parameters() + 4 * 8 + 2 * 8
    features = net(torch.randint(0, 13, (8, 2)))
    assert features.shape == (8, 2, 8)
    assert "adaptive input" in tied.label()


def test_adaptive_input_is_scored_exactly_once_and_changes_what_the_model_sees():
    plain = transformer(output="adaptive", output_options=ADAPTIVE["output_options"], tied=False)
    adaptive = transformer(**ADAPTIVE)
    split = random_split(20, 13, seed=3)
    positions = np.concatenate([chunk.positions for chunk in scores(adaptive, split, 4)])
    assert sorted(positions.tolist()) == list(range(len(split)))
    logprobs = logprobs_of(adaptive, split, 4)
    assert np.all(logprobs <= 0)
    assert not np.allclose(logprobs, logprobs_of(plain, split, 4))


def test_a_checkpoint_restores_the_adaptive_model_and_its_frequency_order(tmp_path):
    trained = transformer(**ADAPTIVE)
    # train counts that reverse the id order, so a lost order would change every score
    trained._network = trained.build_network(np.arange(1.0, 14.0)).double()
    torch.save({"model": trained.network.state_dict()}, tmp_path / "best.pt")
    loaded = transformer(**ADAPTIVE)
    loaded.load_checkpoint(tmp_path / "best.pt")
    split = random_split(10, 13, seed=1)
    np.testing.assert_allclose(logprobs_of(loaded, split, 4), logprobs_of(trained, split, 4))


def test_adaptive_input_without_the_adaptive_softmax_is_a_clear_error():
    with pytest.raises(BenchError, match="output=adaptive"):
        transformer(adaptive_input=True).network  # noqa: B018


@pytest.mark.parametrize(
    "name, extra",
    [
        ("baevski-auli-wt103", ("output.cutoffs=4,8",)),
        ("baevski-auli-1bw", ("output.cutoffs=4,6,8", "tokenizer.min_count=1", "d_model=64")),
    ],
)
def test_the_baevski_auli_recipes_train_end_to_end_when_shrunk(tiny_corpus, name, extra):
    """Never run at full size here: adaptive input tied to the adaptive softmax, update_freq
    and the warm-up schedule exercised together on a tiny corpus."""
    from click.testing import CliRunner

    from bench.cli import cli
    from bench.store import Store

    shrink = (
        "epochs=1",
        "max_steps_per_epoch=3",
        "warmup_steps=2",
        "batch_size=2",
        "tokens_per_sample=8",
        "eval_stride=4",
        "layers=1",
        "d_model=16",
        "heads=2",
        "ffn_size=32",
        *extra,
    )
    arguments = [part for setting in shrink for part in ("--set", setting)]
    result = CliRunner().invoke(
        cli, ["reproduce", name, "--corpus", str(tiny_corpus), *arguments], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    (stored,) = Store().list_runs()
    assert stored["status"] == "finished" and stored["plugin"] == "transformer"
    assert stored["config"]["options"]["adaptive_input"] and stored["config"]["options"]["tied"]
