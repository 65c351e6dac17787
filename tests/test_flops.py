"""Model FLOPs per token: the count agrees with torch's own FLOP counter where it sees the
products (GRU and Elman layers; the CPU's fused LSTM kernel is invisible to it)."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.training.flops import (
    TrainingUtilisation,
    fraction_of_peak,
    peak_flops,
    recurrent_forward_flops,
    training_flops,
    training_utilisation,
)


@pytest.mark.parametrize(("cell", "layer_class"), [("gru", torch.nn.GRU), ("rnn", torch.nn.RNN)])
def test_forward_flops_match_torchs_counter(cell, layer_class):
    embedding, layers, output = (
        torch.nn.Embedding(50, 12),
        layer_class(12, 16, 2),
        torch.nn.Linear(16, 50),
    )
    steps, batch = 7, 3
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        hidden, _ = layers(embedding(torch.randint(50, (steps, batch))))
        output(hidden)
    assert counter.get_total_flops() == steps * batch * recurrent_forward_flops(cell, 2, 12, 16, 50)


def test_ptb_small_lstm_by_hand():
    # per layer 2 x 4 gates x 200 x (200 + 200); the softmax 2 x 200 x 10,000
    forward = recurrent_forward_flops("lstm", 2, 200, 200, 10_000)
    assert forward == 2 * (2 * 4 * 200 * 400) + 2 * 200 * 10_000 == 5_280_000
    assert training_flops(forward) == 15_840_000
    # a projection shrinks the recurrent input and the softmax, and adds its own product
    projected = recurrent_forward_flops("lstm", 1, 100, 400, 1000, projection_size=50)
    assert projected == 2 * 4 * 400 * (100 + 50) + 2 * 400 * 50 + 2 * 50 * 1000


def test_fraction_of_peak_needs_a_known_device():
    assert peak_flops("NVIDIA H200", "bf16") == pytest.approx(989.4e12)
    assert peak_flops("AMD EPYC (2 cores)") is None
    assert fraction_of_peak(1e6, 1e6, None) is None
    assert fraction_of_peak(15_840_000, 124_000, peak_flops("NVIDIA H200")) == pytest.approx(
        15_840_000 * 124_000 / 67e12
    )


def test_training_utilisation_is_per_device():
    one = training_utilisation(5_280_000, 124_000, "NVIDIA H200", "fp32")
    assert one.flops_per_second_per_device == pytest.approx(15_840_000 * 124_000)
    assert one.fraction == pytest.approx(15_840_000 * 124_000 / 67e12)
    two = training_utilisation(5_280_000, 124_000, "2 x NVIDIA H200", "bf16", devices=2)
    assert two.fraction == pytest.approx(15_840_000 * 62_000 / 989.4e12)
    assert two.describe() == (
        "5.28 MFLOP/token forward (x3 trained), 982 GFLOP/s per device, 0.1% of its bf16 peak"
    )
    assert set(two.metrics()) == {
        "model_flops_per_token",
        "train_model_flops_per_second_per_device",
        "train_fraction_of_peak",
    }
    assert TrainingUtilisation.from_metrics(two.metrics(), "bf16") == two
    assert TrainingUtilisation.from_metrics({"train_ppl": 3.0}, "fp32") is None
    cpu = training_utilisation(5_280_000, 4_000, "AMD EPYC (2 cores)")
    assert cpu.fraction is None and "train_fraction_of_peak" not in cpu.metrics()
    assert cpu.describe().endswith("63.4 GFLOP/s per device (no listed peak for this device)")
