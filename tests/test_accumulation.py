"""Gradient accumulation (update_freq): accumulated batches give the large batch's update."""

import pytest
import torch

from bench.training.optimization import build_optimizer
from bench.training.options import TrainingOptions
from bench.training.update import accumulated_update, groups_of


class TinyLM(torch.nn.Module):
    """Embedding -> linear -> softmax; ``training_loss`` as the networks of bench have it."""

    def __init__(self, vocab=11, width=6):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(vocab, width)
        self.out = torch.nn.Linear(width, vocab)
        self.double()

    def training_loss(self, inputs, targets, state):
        logits = self.out(self.embedding(inputs))
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()), state


def update(group, optimizer="sgd", clip=0.0):
    """The parameters after one accumulated update over ``group``."""
    model = TinyLM()
    options = TrainingOptions(optimizer=optimizer, lr=0.5, clip=clip)
    params = list(model.parameters())
    opt = build_optimizer(params, options)
    loss_sum, norm, _ = accumulated_update(
        model.training_loss, group, None, params, opt, None, options, "cpu"
    )
    return [p.detach().clone() for p in params], loss_sum, norm


def batches(rows, columns, seed):
    generator = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 11, (rows + 1, columns), generator=generator)
    return data[:-1], data[1:]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_two_accumulated_batches_give_the_update_of_one_twice_as_large(optimizer, clip):
    (x1, y1), (x2, y2) = batches(7, 3, seed=1), batches(7, 3, seed=2)
    large = (torch.cat([x1, x2], dim=1), torch.cat([y1, y2], dim=1))
    accumulated, loss_a, norm_a = update([(x1, y1), (x2, y2)], optimizer, clip)
    single, loss_s, norm_s = update([large], optimizer, clip)
    for a, s in zip(accumulated, single, strict=True):
        torch.testing.assert_close(a, s, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss_a, loss_s)
    torch.testing.assert_close(norm_a, norm_s)
    assert not torch.equal(accumulated[0], TinyLM().embedding.weight)  # it did update


def test_batches_of_unequal_length_weigh_by_their_tokens():
    # an epoch's last window may be shorter: the update is that of the mean over all tokens
    (x1, y1), (x2, y2) = batches(9, 2, seed=3), batches(2, 2, seed=4)
    accumulated, _, _ = update([(x1, y1), (x2, y2)])
    model = TinyLM()
    logits = [model.out(model.embedding(x)) for x in (x1, x2)]
    nll = torch.cat(
        [
            torch.nn.functional.cross_entropy(lg.flatten(0, 1), y.flatten(), reduction="none")
            for lg, y in zip(logits, (y1, y2), strict=True)
        ]
    ).mean()
    nll.backward()
    with torch.no_grad():
        expected = [p - 0.5 * p.grad for p in model.parameters()]
    for a, e in zip(accumulated, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_groups_of_keeps_order_and_a_short_last_group():
    assert list(groups_of(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(groups_of(range(2), 1)) == [[0], [1]]
