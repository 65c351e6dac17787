"""Model FLOPs per token: the count agrees with torch's own FLOP counter where it sees the
products (GRU and Elman layers; the CPU's fused LSTM kernel is invisible to it)."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.flops import (
    fraction_of_peak,
    peak_flops,
    recurrent_forward_flops,
    training_flops,
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
