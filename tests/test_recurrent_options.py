"""Recurrent options beyond the defaults: locked (variational) dropout and mixed precision."""

import pytest
import torch

from bench.config import build_config
from bench.errors import BenchError
from bench.plugins import get_host
from bench.runner import Runner
from bench.store import Store
from bench_plugins.recurrent_network import LockedDropout, LockedStack, recurrent_layers

TINY = ("layers=2", "hidden_size=16", "embedding_size=16", "epochs=3", "batch_size=4", "bptt=8",
        "max_steps_per_epoch=30", "lr=0.03", "log_every=1")


@pytest.fixture
def runner(tmp_path):
    return Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)


def test_locked_dropout_uses_one_mask_for_every_time_step():
    torch.manual_seed(0)
    drop = LockedDropout(0.5).train()
    out = drop(torch.ones(7, 3, 50))
    assert torch.equal(out, out[:1].expand_as(out))  # same mask at every step
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept units are rescaled by 1/(1-p)
    assert torch.equal(drop.eval()(torch.ones(7, 3, 50)), torch.ones(7, 3, 50))


@pytest.mark.parametrize("cell, projection", [("lstm", 0), ("lstm", 4), ("gru", 0), ("rnn", 0)])
def test_locked_stack_computes_what_the_stacked_layers_compute(cell, projection):
    """Without dropout the per-layer stack is the multi-layer module, state shapes included."""
    torch.manual_seed(0)
    stacked = recurrent_layers(cell, 5, 6, 3, 0.0, projection_size=projection)
    locked = LockedStack(cell, 5, 6, 3, 0.0, "tanh", projection)
    for index, layer in enumerate(locked.layers):
        for name, value in layer.named_parameters():
            value.data.copy_(getattr(stacked, name.replace("_l0", f"_l{index}")))
    x = torch.randn(4, 2, 5)
    expected, expected_state = stacked(x, None)
    got, state = locked(x, None)
    torch.testing.assert_close(got, expected)
    again, _ = locked(x, state)
    torch.testing.assert_close(again, stacked(x, expected_state)[0])


GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 training needs CUDA")


@pytest.mark.parametrize("settings", [("variational=true", "dropout=0.3"), ("precision=bf16",),
                                      ("optimizer=adagrad", "lr=0.1"),
                                      ("projection_size=8",),
                                      pytest.param(("precision=fp16", "device=cuda"), marks=GPU)],
                         ids=["variational", "bf16", "adagrad", "projection", "fp16"])
def test_option_trains_and_lowers_the_loss(runner, tiny_corpus, settings):
    device = "cuda" if "device=cuda" in settings else "cpu"
    settings = tuple(s for s in settings if not s.startswith("device="))
    config = build_config({}, {"plugin": "lstm", "corpus": str(tiny_corpus), "device": device},
                          (*TINY, *settings))
    result = runner.run(config, "x")
    losses = [m["value"] for m in runner.store.get_run(result.run_id)["metrics"]
              if m["name"] == "train_loss" and m["step"] is not None]
    assert losses[-1] < 0.8 * losses[0]
    assert result.evaluations["test"].ppl < 8  # a uniform guess over 12 entries scores 12


def test_fp16_on_a_cpu_is_a_clear_error(runner, tiny_corpus):
    config = build_config({}, {"plugin": "lstm", "corpus": str(tiny_corpus), "device": "cpu"},
                          (*TINY, "precision=fp16"))
    with pytest.raises(BenchError, match="precision=fp16 needs a CUDA GPU"):
        runner.run(config, "x")
    assert runner.store.list_runs() == []  # a user mistake, caught before any row is written


def test_a_projected_lstm_feeds_its_projection_to_the_output_layer(runner, tiny_corpus):
    config = build_config({}, {"plugin": "lstm", "corpus": str(tiny_corpus)},
                          (*TINY, "epochs=1", "projection_size=8", "embedding_size=8",
                           "tied=true"))
    result = runner.run(config, "x")
    assert result.label.startswith("LSTM 2x16-8 tied")
    with pytest.raises(BenchError, match="projection_size"):
        runner.run(build_config({}, {"plugin": "gru", "corpus": str(tiny_corpus)},
                                (*TINY, "projection_size=8")), "x")
