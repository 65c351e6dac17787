"""Adaptive input representations (bench.training.AdaptiveInput): band shapes, parameter
counts per band, frequency order, and tying to the adaptive output layer."""

import pytest
import torch

from bench import BenchError
from bench.training import AdaptiveInput
from bench_plugins.output_layers.factored import AdaptiveSoftmaxModule

VOCAB, D = 50, 16
CUTOFFS = [5, 20]


def counts():
    # id 49 is the most frequent word, id 0 the rarest: ranks reverse the ids
    return torch.arange(1, VOCAB + 1, dtype=torch.float64)


def test_each_band_has_its_width_and_a_projection_to_the_model_width():
    module = AdaptiveInput(VOCAB, D, CUTOFFS, factor=2.0, counts=counts())
    assert module.widths == [16, 8, 4]
    assert [tuple(module.embedding(i).shape) for i in range(3)] == [(5, 16), (15, 8), (30, 4)]
    assert [tuple(module.projection(i).shape) for i in range(3)] == [(16, 16), (8, 16), (4, 16)]
    per_band = [5 * 16 + 16 * 16, 15 * 8 + 8 * 16, 30 * 4 + 4 * 16]
    assert sum(p.numel() for p in module.parameters()) == sum(per_band)
    out = module(torch.tensor([[0, 49], [30, 7]]))
    assert out.shape == (2, 2, D)


def test_a_word_is_embedded_by_the_band_of_its_frequency_rank():
    module = AdaptiveInput(VOCAB, D, CUTOFFS, factor=2.0, counts=counts(), scale=3.0)
    # id 49 has rank 0 (band 0, row 0); id 40 rank 9 (band 1, row 4); id 0 rank 49 (band 2)
    for word, band, row in [(49, 0, 0), (40, 1, 4), (0, 2, 29)]:
        expected = module.embedding(band)[row] @ module.projection(band) * 3.0
        torch.testing.assert_close(module(torch.tensor([word]))[0], expected)


def test_a_band_narrower_than_one_dimension_is_a_clear_error():
    with pytest.raises(BenchError, match="band 2 would be"):
        AdaptiveInput(VOCAB, 4, CUTOFFS, factor=4.0)
    with pytest.raises(BenchError, match="cutoffs"):
        AdaptiveInput(VOCAB, D, [20, 5], factor=2.0)


def tied_pair(projections=True):
    softmax = AdaptiveSoftmaxModule(D, VOCAB, CUTOFFS, 2.0, counts())
    inputs = AdaptiveInput(VOCAB, D, CUTOFFS, factor=2.0, counts=None)
    inputs.tie_to(softmax, projections=projections)
    return inputs, softmax


def same_storage(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def test_tying_shares_the_word_matrices_and_projections_of_every_band():
    inputs, softmax = tied_pair()
    head, tail = softmax.softmax.head, softmax.softmax.tail
    assert same_storage(inputs.embedding(0), head.weight)
    assert inputs.embedding(0).data_ptr() == head.weight.data_ptr()  # the shortlist rows
    assert inputs.embedding(0).shape == (5, D)
    for band in (1, 2):
        assert inputs.embedding(band) is tail[band - 1][1].weight
        assert inputs.projection(band) is tail[band - 1][0].weight
    assert torch.equal(inputs.rank_of, softmax.rank_of)


def test_tying_shares_nothing_else():
    inputs, softmax = tied_pair()
    own = {id(p) for p in softmax.parameters()}
    # only band 0's projection is the input's own; the head's cluster rows stay the head's
    assert [p for p in inputs.parameters() if id(p) not in own] == [inputs.projection(0)]
    both = torch.nn.ModuleList([inputs, softmax])
    untied = AdaptiveInput(VOCAB, D, CUTOFFS, factor=2.0)
    total = sum(p.numel() for p in both.parameters())
    shared = sum(p.numel() for p in untied.parameters()) - D * D
    assert total == sum(p.numel() for p in softmax.parameters()) + D * D
    assert shared == 5 * 16 + 15 * 8 + 8 * 16 + 30 * 4 + 4 * 16


def test_without_projections_only_the_word_matrices_are_shared():
    inputs, softmax = tied_pair(projections=False)
    for band in (1, 2):
        assert inputs.embedding(band) is softmax.softmax.tail[band - 1][1].weight
        assert inputs.projection(band) is not softmax.softmax.tail[band - 1][0].weight


def test_a_training_step_moves_the_shared_weights_from_both_ends():
    inputs, softmax = tied_pair()
    ids = torch.tensor([49, 40, 0])  # one word of each band
    loss = softmax.training_loss(inputs(ids), ids)
    loss.backward()
    head_grad = softmax.softmax.head.weight.grad
    assert head_grad[:5].abs().sum() > 0 and inputs.projection(0).grad is not None
    assert softmax.softmax.tail[1][1].weight.grad[29].abs().sum() > 0  # rank 49 fed in


def test_tying_refuses_another_layer_or_other_cutoffs():
    with pytest.raises(BenchError, match="output=adaptive"):
        AdaptiveInput(VOCAB, D, CUTOFFS, 2.0).tie_to(torch.nn.Linear(D, VOCAB))
    softmax = AdaptiveSoftmaxModule(D, VOCAB, [5, 25], 2.0, counts())
    with pytest.raises(BenchError, match="differ"):
        AdaptiveInput(VOCAB, D, CUTOFFS, 2.0).tie_to(softmax)
    softmax = AdaptiveSoftmaxModule(D, VOCAB, CUTOFFS, 4.0, counts())
    with pytest.raises(BenchError, match="factor = div_value"):
        AdaptiveInput(VOCAB, D, CUTOFFS, 2.0).tie_to(softmax)


def test_a_tied_pair_saves_and_loads_through_its_state_dict():
    inputs, softmax = tied_pair()
    both = torch.nn.ModuleList([inputs, softmax])
    with torch.no_grad():
        softmax.softmax.head.weight.add_(1.0)
    fresh_inputs, fresh_softmax = tied_pair()
    fresh = torch.nn.ModuleList([fresh_inputs, fresh_softmax])
    fresh.load_state_dict(both.state_dict())
    ids = torch.tensor([49, 40, 0, 3])
    torch.testing.assert_close(fresh_inputs(ids), inputs(ids))
