"""The token sampler every model that generates draws with (bench.training.TokenSampler)."""

import pytest
import torch

from bench.training import TokenSampler

# --------------------------------------------------------------------------- the sampler


def test_nucleus_keeps_the_likeliest_ids_holding_top_p():
    from bench.api.sampling import nucleus

    scores = torch.log(torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05]))
    kept = torch.isfinite(nucleus(scores, 0.7)).tolist()
    assert kept == [False, True, False, True, False]  # 0.5 + 0.3 reach 0.7
    assert torch.isfinite(nucleus(scores, 0.01)).tolist() == [False, True, False, False, False]


def test_the_sampler_draws_among_top_k_and_repeats_with_its_seed():
    logprobs = torch.log_softmax(torch.tensor([0.0, 3.0, 1.0, 2.5, -1.0]), -1)

    def draws(seed, **options):
        sampler = TokenSampler(seed=seed, **options)
        return [sampler.draw(logprobs) for _ in range(300)]

    assert draws(7) == draws(7) != draws(8)
    assert set(draws(7)) == {0, 1, 2, 3, 4}
    assert set(draws(7, top_k=2)) == {1, 3}
    assert set(draws(7, top_k=1)) == {1}
    cold = draws(7, temperature=0.2)  # sharper: the likeliest id far more often
    assert cold.count(1) > 1.5 * draws(7).count(1)
    with pytest.raises(ValueError, match="temperature"):
        TokenSampler(temperature=0)
