"""Recurrent options beyond the defaults: locked (variational) dropout and mixed precision."""

import pytest
import torch

from bench.api.plugin_host import get_host
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.store import Store
from bench_plugins.recurrent.network import LockedDropout, LockedStack, recurrent_layers

TINY = (
    "layers=2",
    "hidden_size=16",
    "embedding_size=16",
    "epochs=3",
    "batch_size=4",
    "bptt=8",
    "max_steps_per_epoch=30",
    "lr=0.03",
    "log_every=1",
)


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


@pytest.mark.parametrize(
    "settings",
    [
        ("variational=true", "dropout=0.3"),
        ("precision=bf16",),
        ("optimizer=adagrad", "lr=0.1"),
        ("projection_size=8",),
        pytest.param(("precision=fp16", "device=cuda"), marks=GPU),
    ],
    ids=["variational", "bf16", "adagrad", "projection", "fp16"],
)
def test_option_trains_and_lowers_the_loss(runner, tiny_corpus, settings):
    device = "cuda" if "device=cuda" in settings else "cpu"
    settings = tuple(s for s in settings if not s.startswith("device="))
    config = build_config(
        {}, {"plugin": "lstm", "corpus": str(tiny_corpus), "device": device}, (*TINY, *settings)
    )
    result = runner.run(config, "x")
    losses = [
        m["value"]
        for m in runner.store.get_run(result.run_id)["metrics"]
        if m["name"] == "train_loss" and m["step"] is not None
    ]
    assert losses[-1] < 0.8 * losses[0]
    assert result.evaluations["test"].ppl < 8  # a uniform guess over 12 entries scores 12


def test_fp16_on_a_cpu_is_a_clear_error(runner, tiny_corpus):
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": str(tiny_corpus), "device": "cpu"},
        (*TINY, "precision=fp16"),
    )
    with pytest.raises(BenchError, match="precision=fp16 needs a CUDA GPU"):
        runner.run(config, "x")
    assert runner.store.list_runs() == []  # a user mistake, caught before any row is written


def test_a_projected_lstm_feeds_its_projection_to_the_output_layer(runner, tiny_corpus):
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": str(tiny_corpus)},
        (*TINY, "epochs=1", "projection_size=8", "embedding_size=8", "tied=true"),
    )
    result = runner.run(config, "x")
    assert result.label.startswith("LSTM 2x16-8 tied")
    with pytest.raises(BenchError, match="projection_size"):
        runner.run(
            build_config(
                {}, {"plugin": "gru", "corpus": str(tiny_corpus)}, (*TINY, "projection_size=8")
            ),
            "x",
        )


# ------------------------------------------------------------------- sparse gradients
def training_record(runner, corpus, *settings):
    config = build_config(
        {}, {"plugin": "lstm", "corpus": str(corpus)}, (*TINY, "epochs=2", *settings)
    )
    result = runner.run(config, "x")
    curve = [
        (m["name"], m["step"], m["value"])
        for m in runner.store.get_run(result.run_id)["metrics"]
        if m["name"] in ("train_loss", "grad_norm_mean", "valid_ppl")
    ]
    return curve, result.evaluations["test"].ppl


@pytest.mark.parametrize(
    "settings",
    [
        ("output=sampled", "output.samples=4"),
        ("output=nce", "output.samples=4"),
        ("output=blackout", "output.samples=4"),
        ("output=class", "optimizer=adagrad", "lr=0.1"),
        ("optimizer=sgd", "lr=1", "tied=true"),
    ],
    ids=["sampled", "nce", "blackout", "class-adagrad", "full-tied"],
)
def test_sparse_gradients_train_the_model_dense_ones_train(runner, tiny_corpus, settings):
    """Rows a step did not read get a zero gradient either way, and SGD and Adagrad leave
    such rows as they are: sparse_grad changes the speed, not the training (float sums
    in another order aside). Clipping is in play (clip 0.25)."""
    settings = ("optimizer=sgd", "lr=1", *settings)  # later settings win
    dense_curve, dense_ppl = training_record(runner, tiny_corpus, *settings)
    sparse_curve, sparse_ppl = training_record(runner, tiny_corpus, *settings, "sparse_grad=true")
    assert [row[:2] for row in sparse_curve] == [row[:2] for row in dense_curve]
    assert [row[2] for row in sparse_curve] == pytest.approx(
        [row[2] for row in dense_curve], rel=1e-5
    )
    assert sparse_ppl == pytest.approx(dense_ppl, rel=1e-5)


def test_sparse_gradients_are_sparse_where_a_layer_reads_rows():
    host = get_host()
    for output, sparse_output in (("sampled", True), ("class", True), ("full", False)):
        options = host.model_options(
            "lstm",
            {
                "sparse_grad": True,
                "output": output,
                "hidden_size": 8,
                "embedding_size": 8,
                "optimizer": "sgd",
            },
        )
        from bench_plugins.recurrent.network import RecurrentNetwork

        network = RecurrentNetwork(50, options, "lstm", counts=[50 - i for i in range(50)])
        loss, _ = network.training_loss(
            torch.randint(0, 50, (5, 2)), torch.randint(0, 50, (5, 2)), None
        )
        loss.backward()
        assert network.embedding.weight.grad.is_sparse
        assert network.output.weight.grad.is_sparse == sparse_output, output


def test_clipping_sparse_gradients_equals_clipping_their_dense_form():
    from bench.training.optimization import clip_gradients

    torch.manual_seed(0)
    rows = torch.tensor([3, 1, 3])  # row 3 twice: the sparse gradient is uncoalesced
    table = torch.randn(6, 4, requires_grad=True)
    dense = torch.randn(5, requires_grad=True)
    twins = [table.detach().clone().requires_grad_(), dense.detach().clone().requires_grad_()]
    for params, sparse in ((table, dense), True), (tuple(twins), False):
        weights, vector = params
        loss = (torch.nn.functional.embedding(rows, weights, sparse=sparse) ** 2).sum() + (
            vector**3
        ).sum()
        loss.backward()
    got = clip_gradients([table, dense], 0.5)
    expected = torch.nn.utils.clip_grad_norm_(twins, 0.5)
    assert table.grad.is_sparse
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(table.grad.to_dense(), twins[0].grad)
    torch.testing.assert_close(dense.grad, twins[1].grad)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"optimizer": "adam"}, "sparse_grad=true needs optimizer sgd or adagrad"),
        ({"optimizer": "sgd", "weight_decay": 0.01}, "sparse_grad=true needs weight_decay=0"),
    ],
)
def test_sparse_gradients_with_a_dense_update_are_a_clear_error(settings, message):
    with pytest.raises(BenchError, match=f"^invalid option for lstm: {message}"):
        get_host().model_options("lstm", {"sparse_grad": True, **settings})


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_adagrad_initial_accumulator_sets_the_size_of_the_first_step(sparse):
    """torch's Adagrad starts its sum of squared gradients at 0, so a first step moves every
    weight with a gradient by lr whatever the gradient's size (what threw the full-size One
    Billion Word rehearsal off); the papers' TensorFlow and Torch7 code start it above 0, so a
    small clipped gradient makes a small step: lr * g / sqrt(accumulator + g^2)."""
    from bench.training.optimization import build_optimizer
    from bench.training.options import TrainingOptions

    rows = torch.tensor([0, 2])
    gradient = torch.tensor([[1e-3, -2e-3], [0.0, 0.0], [4e-3, 5e-4]])
    for accumulator in (0.0, 0.1):
        table = torch.zeros(3, 2, requires_grad=True)
        options = TrainingOptions(
            optimizer="adagrad", lr=0.2, adagrad_initial_accumulator=accumulator
        )
        optimizer = build_optimizer([table], options)
        looked_up = torch.nn.functional.embedding(rows, table, sparse=sparse)
        (looked_up * gradient[rows]).sum().backward()
        optimizer.step()
        expected = -0.2 * gradient / (torch.sqrt(accumulator + gradient**2) + 1e-10)
        torch.testing.assert_close(table.detach(), expected)
    assert table.detach().abs().max() < 0.01  # with 0.1: about lr * g / 0.32, not lr
