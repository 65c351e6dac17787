"""Per-update learning-rate schedules: linear warm-up, then inverse square root or cosine."""

import itertools
import math

import pytest
import torch

from bench.training.optimization import build_optimizer, build_schedule
from bench.training.options import TrainingOptions


def lrs(schedule_name, updates, warmup):
    options = TrainingOptions(lr=1.0, lr_schedule=schedule_name, warmup_steps=warmup)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], options)
    schedule = build_schedule(optimizer, options, total_updates=updates)
    seen = []
    for _ in range(updates):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def test_warm_up_is_linear_to_the_full_rate():
    assert lrs("inverse_sqrt", 4, warmup=4) == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_inverse_sqrt_decays_as_one_over_the_root_of_the_update():
    seen = lrs("inverse_sqrt", 16, warmup=4)
    assert seen[15] == pytest.approx(math.sqrt(4 / 16))
    assert seen[8] == pytest.approx(math.sqrt(4 / 9))


def test_cosine_reaches_zero_at_the_last_update_and_half_midway():
    seen = lrs("cosine", 12, warmup=2)
    assert seen[1] == pytest.approx(1.0)
    assert seen[-1] == pytest.approx(0.0, abs=1e-12)
    assert seen[6] == pytest.approx(0.5)  # (7 - 2) / (12 - 2) of the way
    assert all(a >= b for a, b in itertools.pairwise(seen[1:]))


def test_epoch_schedules_are_not_stepped_per_update():
    assert not TrainingOptions(lr_schedule="plateau").schedule_per_update
    assert TrainingOptions(lr_schedule="cosine").schedule_per_update
