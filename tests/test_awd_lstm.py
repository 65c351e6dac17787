"""The awd-lstm plugin, one test per mechanism against its definition (Merity et al. 2018
and the authors' code): weight drop, embedding dropout, locked dropout, AR/TAR,
variable-length BPTT and its lr, NT-ASGD's switch and averages, and exact resume."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench import TrainingContext
from bench.api.plugin_host import get_host
from bench.cli import cli
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.store import Store
from bench_plugins.awd_lstm import AWDLSTMOptions
from bench_plugins.awd_lstm import training as awd_training
from bench_plugins.awd_lstm.network import (
    AWDLSTMNetwork,
    WeightDroppedLSTM,
    activation_regularisation,
    embedding_dropout,
    locked_dropout,
    temporal_activation_regularisation,
)
from bench_plugins.awd_lstm.training import (
    Progress,
    build_optimizer,
    draw_window_length,
    nonmonotone_trigger,
)


def lstm_by_hand(layer, x, w_hh):
    """The LSTM recurrence step by step, with ``w_hh`` at every step (torch's gate order)."""
    lstm = layer.lstm
    h = x.new_zeros(x.size(1), lstm.hidden_size)
    c = torch.zeros_like(h)
    outputs = []
    for x_t in x:
        gates = x_t @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ w_hh.T + lstm.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs)


def test_weight_drop_is_one_mask_per_window_fresh_per_window_and_off_in_eval():
    torch.manual_seed(0)
    layer = WeightDroppedLSTM(6, 5, weight_drop=0.5)
    x = torch.randn(7, 3, 6)
    torch.manual_seed(1)
    w_hh = layer.recurrent_weight()  # the first draw of a forward pass under this seed
    dropped = (w_hh == 0) & (layer.lstm.weight_hh_l0 != 0)
    assert 0 < dropped.float().mean() < 1
    kept = ~dropped
    assert torch.allclose(w_hh[kept], layer.lstm.weight_hh_l0[kept] * 2)  # 1 / (1 - 0.5)
    torch.manual_seed(1)
    output, _ = layer(x, None)
    # every step of the window used that one matrix
    assert torch.allclose(output, lstm_by_hand(layer, x, w_hh), atol=1e-6)
    second, _ = layer(x, None)  # the next window: a fresh mask
    assert not torch.allclose(second, output)
    layer.eval()
    evaluated, _ = layer(x, None)
    assert torch.allclose(evaluated, lstm_by_hand(layer, x, layer.lstm.weight_hh_l0), atol=1e-6)
    assert torch.equal(evaluated, layer(x, None)[0])


def test_weight_drop_trains_the_raw_matrix():
    layer = WeightDroppedLSTM(4, 3, weight_drop=0.5)
    layer(torch.randn(5, 2, 4), None)[0].sum().backward()
    assert layer.lstm.weight_hh_l0.grad is not None
    assert layer.lstm.weight_hh_l0.grad.abs().sum() > 0


def test_embedding_dropout_drops_whole_words_and_rescales():
    torch.manual_seed(0)
    weight = torch.randn(50, 8)
    words = torch.arange(50).repeat(3).view(3, 50)  # every word, three times
    embedded = embedding_dropout(weight, words, 0.3, training=True)
    zero_rows = (embedded == 0).all(-1)
    assert zero_rows.any() and not zero_rows.all()
    # a dropped word is dropped at every occurrence, a kept one scaled by 1 / (1 - p)
    assert torch.equal(zero_rows[0], zero_rows[1]) and torch.equal(zero_rows[0], zero_rows[2])
    kept = ~zero_rows[0]
    assert torch.allclose(embedded[0, kept], weight[kept] / 0.7)
    assert torch.equal(embedding_dropout(weight, words, 0.3, training=False), weight[words])


def test_every_word_row_including_the_last_is_trained_through_the_input_lookup():
    # The authors' embedded_dropout passes padding_idx=-1, which meant "no padding" in the
    # torch the paper ran on; today's torch reads -1 as the last row and drops its gradient
    # (docs/awd-lstm.md, side by side). bench trains every row, as the code did then.
    weight = torch.randn(50, 8, requires_grad=True)
    words = torch.arange(50).view(5, 10)
    for p, training in [(0.0, True), (0.3, False)]:
        weight.grad = None
        embedding_dropout(weight, words, p, training=training).sum().backward()
        assert torch.equal(weight.grad, torch.ones_like(weight))


def test_locked_dropout_shares_one_mask_over_time():
    torch.manual_seed(0)
    x = torch.ones(9, 4, 6)
    dropped = locked_dropout(x, 0.5, training=True)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert (dropped == dropped[0]).all()  # the same mask at every time step
    assert not (dropped[0] == dropped[0, 0]).all()  # but not the same everywhere
    assert torch.equal(locked_dropout(x, 0.5, training=False), x)


def test_ar_and_tar_equal_their_formulas():
    output = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]], [[0.0, 0.0]]])  # [time 3, batch 1, 2]
    # AR: alpha * mean of squares: (1 + 4 + 9 + 1 + 0 + 0) / 6
    assert activation_regularisation(output, 2.0).item() == pytest.approx(2.0 * 15 / 6)
    # TAR: beta * mean of squared differences: ((2^2 + 3^2) + (3^2 + 1^2)) / 4
    assert temporal_activation_regularisation(output, 0.5).item() == pytest.approx(0.5 * 23 / 4)


def test_the_loss_adds_ar_on_the_dropped_output_and_tar_on_the_raw_output(monkeypatch):
    options = AWDLSTMOptions(layers=2, embedding_size=4, hidden_size=6, alpha=3.0, beta=5.0)
    network = AWDLSTMNetwork(20, options)
    inputs = torch.randint(0, 20, (6, 2))
    torch.manual_seed(3)
    loss, cross_entropy, _ = network.training_loss(inputs, inputs, None)
    torch.manual_seed(3)
    output, _, raw = network(inputs, None)
    expected = cross_entropy + 3.0 * output.pow(2).mean() + 5.0 * (raw[1:] - raw[:-1]).pow(2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert not torch.equal(output, raw)  # the output dropout lies between the two


def test_window_lengths_follow_the_bptt_distribution():
    options = AWDLSTMOptions(bptt=70)
    np.random.seed(0)
    lengths = np.array([draw_window_length(options) for _ in range(20000)])
    half = lengths < 52  # 70 / 2 = 35 with std 5: never above 52; 70: never below 52
    assert half.mean() == pytest.approx(0.05, abs=0.006)
    assert lengths[~half].mean() == pytest.approx(69.5, abs=0.15)  # int() truncates: -0.5
    assert lengths[~half].std() == pytest.approx(5.0, abs=0.15)
    assert lengths[half].mean() == pytest.approx(34.5, abs=0.5)
    assert lengths.min() >= options.bptt_min


def test_each_step_runs_at_lr_scaled_by_its_window_length(monkeypatch):
    options = AWDLSTMOptions(
        layers=1, embedding_size=4, hidden_size=4, bptt=10, batch_size=2, lr=2.0
    )
    network = AWDLSTMNetwork(10, options)
    drawn, seen = [], []
    real_draw = awd_training.draw_window_length

    def draw(o):
        drawn.append(real_draw(o))
        return drawn[-1]

    optimizer = build_optimizer(list(network.parameters()), options, Progress(lr=2.0))
    real_step = optimizer.step
    monkeypatch.setattr(
        optimizer, "step", lambda: (seen.append(optimizer.param_groups[0]["lr"]), real_step())
    )
    monkeypatch.setattr(awd_training, "draw_window_length", draw)
    data = torch.randint(0, 10, (200, 2))
    progress = Progress(lr=2.0)
    context = SimpleNamespace(record_train_throughput=lambda *a: None)
    awd_training._train_epoch(
        network, optimizer, data, progress, options, context, None, _NoGuard(), None
    )
    assert len(seen) == len(drawn) > 5
    assert seen == pytest.approx([2.0 * n / 10 for n in drawn])
    assert optimizer.param_groups[0]["lr"] == 2.0  # put back after each step
    assert progress.position == sum(drawn)


class _NoGuard:
    def step(self):
        return _Nothing()


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def scripted_context(tmp_path, valid_losses, seen=None):
    """A training context whose validation returns the scripted losses in turn (and hands
    ``seen`` a copy of the weights it was given)."""
    losses = iter(valid_losses)
    network_holder = {}

    def evaluate(split):
        if seen is not None:
            seen.append([p.detach().clone() for p in network_holder["net"].parameters()])
        return SimpleNamespace(ppl=math.exp(next(losses)))

    context = TrainingContext(
        train=SimpleNamespace(ids=np.arange(400) % 10),
        valid=None,
        device="cpu",
        seed=0,
        artifacts_dir=tmp_path,
        evaluate=evaluate,
        log_metrics=lambda *a: None,
        progress=lambda it, **k: it,
        record_train_throughput=lambda *a: None,
        record_artifact=lambda *a: None,
    )
    return context, network_holder


def small_options(**extra):
    values = dict(layers=2, embedding_size=4, hidden_size=6, batch_size=2, bptt=6, lr=1.0)
    return AWDLSTMOptions(**{**values, **extra})


def test_nt_asgd_switches_exactly_when_valid_loss_is_not_the_best_of_the_epochs_before(tmp_path):
    # nonmono 2: epoch e switches when its loss is worse than the best of epochs 1..e-3
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0]
    options = small_options(nonmono=2, epochs=7)
    network = AWDLSTMNetwork(10, options)
    context, holder = scripted_context(tmp_path, losses)
    holder["net"] = network
    progress = Progress(lr=options.lr)
    optimizer = build_optimizer(list(network.parameters()), options, progress)
    switched_at = []
    for epoch in range(1, 8):
        optimizer = awd_training._end_epoch(
            network, optimizer, progress, options, context, tmp_path
        )
        switched_at += [epoch] if progress.averaging and not switched_at else []
    assert switched_at == [6]  # 3.1 > min(5, 4, 3); epoch 4's 3.5 < 5 and 5's 3.2 < 4 did not
    assert isinstance(optimizer, torch.optim.ASGD) and progress.history == losses[:6]
    assert nonmonotone_trigger([5.0, 4.0, 3.0], 3.5, 2) is False
    assert nonmonotone_trigger([5.0, 4.0, 3.0, 3.5, 3.2], 3.1, 2) is True


def test_after_the_switch_validation_and_the_kept_model_use_the_averages(tmp_path):
    options = small_options(nonmono=1, epochs=3)
    network = AWDLSTMNetwork(10, options)
    seen = []
    context, holder = scripted_context(tmp_path, [1.0, 0.5, 0.4], seen)
    holder["net"] = network
    progress = Progress(lr=options.lr, averaging=True)
    optimizer = build_optimizer(list(network.parameters()), options, progress)
    data = awd_training.batchify(np.arange(400) % 10, 2, "cpu")
    awd_training._train_epoch(
        network, optimizer, data, progress, options, context, None, _NoGuard(), None
    )
    raw = [p.detach().clone() for p in network.parameters()]
    averages = [optimizer.state[p]["ax"].clone() for p in network.parameters()]
    assert not all(torch.equal(a, r) for a, r in zip(averages, raw, strict=True))
    awd_training._end_epoch(network, optimizer, progress, options, context, tmp_path)
    assert all(torch.equal(s, a) for s, a in zip(seen[0], averages, strict=True))
    assert all(torch.equal(p, r) for p, r in zip(network.parameters(), raw, strict=True))
    kept = torch.load(tmp_path / "best.pt")["model"]
    names = [name for name, _ in network.named_parameters()]
    assert all(torch.equal(kept[n], a) for n, a in zip(names, averages, strict=True))


def test_fine_tuning_restarts_averaging_from_the_best_model_and_stops_by_the_rule(tmp_path):
    options = small_options(nonmono=1, epochs=3, finetune_epochs=10)
    network = AWDLSTMNetwork(10, options)
    # main stage 3.0, 2.0 (best), 2.5; fine-tuning 1.9, 1.8, 1.95: 1.95 > min(1.9) stops it
    context, holder = scripted_context(tmp_path, [3.0, 2.0, 2.5, 1.9, 1.8, 1.95, 1.0])
    holder["net"] = network
    progress = Progress(lr=options.lr)
    optimizer = build_optimizer(list(network.parameters()), options, progress)
    epochs = 0
    while not progress.done:
        if progress.stage == "main" and progress.epoch == 2:
            best = {k: v.clone() for k, v in network.state_dict().items()}
        with torch.no_grad():  # training moves the weights between validations
            for p in network.parameters():
                p.add_(0.01)
        optimizer = awd_training._end_epoch(
            network, optimizer, progress, options, context, tmp_path
        )
        epochs += 1
        if progress.stage == "finetune" and progress.epoch == 1:
            assert isinstance(optimizer, torch.optim.ASGD) and not optimizer.state
            for k, v in network.state_dict().items():  # epoch 2's, not the last epoch's
                assert torch.allclose(v, best[k] + 0.01)
    assert epochs == 6 and progress.history == [1.9, 1.8, 1.95]
    assert progress.best_loss == 1.8


# two layers, every dropout, weight decay, a switch to averaging in the main stage and a
# fine-tuning stage: every piece of state a resume has to bring back is in play
RESUMABLE = (
    "layers=2",
    "embedding_size=8",
    "hidden_size=12",
    "batch_size=4",
    "bptt=8",
    "epochs=3",
    "finetune_epochs=2",
    "max_steps_per_epoch=6",
    "lr=5",
    "eval_chunk=64",
)


def run_config(corpus):
    return build_config({}, {"plugin": "awd-lstm", "corpus": str(corpus)}, RESUMABLE)


def curve(store, run_id):
    timings = ("resumed", "train_tokens_per_second", "epoch_seconds")
    return sorted(
        (m["name"], m["step"], m["epoch"], m["value"])
        for m in store.get_run(run_id)["metrics"]
        if m["name"] not in timings
    )


@pytest.mark.parametrize("call", [15, 22], ids=["averaging in the main stage", "fine-tuning"])
def test_resume_after_the_switch_gives_the_numbers_of_a_run_never_stopped(
    tmp_path, tiny_corpus, monkeypatch, call
):
    # the switch fires at the end of epoch 2 whatever the losses, so that step 15 (epoch 3)
    # is averaged SGD and step 22 is in the fine-tuning stage
    monkeypatch.setattr(awd_training, "nonmonotone_trigger", lambda history, *a: len(history) > 0)
    runner = Runner(get_host(), Store(), tmp_path / "data", progress=False, echo=lambda m: None)
    reference = runner.run(run_config(tiny_corpus), "x").run_id
    training_loss, calls = AWDLSTMNetwork.training_loss, {"n": 0}

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return training_loss(self, *args)

    monkeypatch.setattr(AWDLSTMNetwork, "training_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(run_config(tiny_corpus), "x")
    monkeypatch.setattr(AWDLSTMNetwork, "training_loss", training_loss)
    (stopped,) = [r["id"] for r in runner.store.list_runs() if r["id"] != reference]
    runner.resume(stopped)
    ref, res = runner.store.get_run(reference), runner.store.get_run(stopped)
    for split in ("valid", "test"):
        expected = next(e["ppl"] for e in ref["evaluations"] if e["split"] == split)
        assert [e["ppl"] for e in res["evaluations"] if e["split"] == split] == [
            pytest.approx(expected, rel=1e-6)
        ]
    expected, got = curve(runner.store, reference), curve(runner.store, stopped)
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [row[3] for row in got] == pytest.approx([row[3] for row in expected], rel=1e-6)
    names = {row[0] for row in expected}
    assert {"asgd_switch", "main_stage_valid_ppl"} <= names


def test_bench_models_documents_every_option():
    result = CliRunner().invoke(cli, ["models", "awd-lstm"])
    assert result.exit_code == 0, result.output
    for name, field in AWDLSTMOptions.model_fields.items():
        assert name in result.output and field.description
