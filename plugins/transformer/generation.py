"""Sampling from the ``transformer`` plugin: each token drawn from the network reading the
last ``tokens_per_sample`` ids of the text so far, the window sliding once the text is
longer (positions past the trained block length do not exist)."""

from __future__ import annotations

import torch
from torch import nn

from bench.training import TokenSampler


@torch.inference_mode()
def sample(
    network: nn.Module, context: list[int], tokens: int, sampler: TokenSampler, device: str
) -> list[int]:
    """``tokens`` ids drawn after ``context``, each seeing the ``network.context`` ids
    before it (fewer at the start): the context the window protocol's last window gives
    the token it scores at stride 1."""
    network.eval()
    text = list(context)
    for _ in range(tokens):
        window = torch.as_tensor(text[-network.context :], device=device).unsqueeze(1)
        logprobs, _ = network.next_logprobs(window)
        text.append(sampler.draw(logprobs))
    return text[len(context) :]
