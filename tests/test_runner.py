"""Runs end to end through the Runner: stored rows, failure modes, observer hooks, lstm."""

from importlib import metadata

import numpy as np
import pytest
from splits import random_split

from bench.api.model import EvalProtocol
from bench.api.plugin_host import ENTRY_POINT_GROUP, load_plugins
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench.run.runner import Runner
from bench.scoring.exactly_once import evaluate
from bench.store import Store
from bench.tokenization.tokens import Vocabulary
from bench.training.flops import recurrent_forward_flops

TINY_LSTM = (
    "layers=1",
    "hidden_size=16",
    "embedding_size=16",
    "epochs=2",
    "batch_size=4",
    "bptt=8",
    "max_steps_per_epoch=30",
    "lr=0.01",
)


def host_with_samples():
    extra = [
        metadata.EntryPoint(name=n, value=f"sample_plugins:{n}", group=ENTRY_POINT_GROUP)
        for n in ("failing", "observer")
    ]
    return load_plugins(list(metadata.entry_points(group=ENTRY_POINT_GROUP)) + extra)


@pytest.fixture
def runner(tmp_path):
    return Runner(
        host_with_samples(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )


def config(plugin, corpus, *settings):
    return build_config({}, {"plugin": plugin, "corpus": str(corpus)}, settings)


def test_lstm_run_is_stored_and_beats_unigram(runner, tiny_corpus):
    lstm = runner.run(config("lstm", tiny_corpus, *TINY_LSTM), "bench run ...")
    unigram = runner.run(config("unigram", tiny_corpus), "bench run ...")
    assert lstm.evaluations["test"].ppl < unigram.evaluations["test"].ppl
    record = runner.store.get_run(lstm.run_id)
    assert record["status"] == "finished"
    assert record["params"] == lstm.summary["params"] > 0
    assert record["train_tokens_per_second"] > 0
    assert {e["split"] for e in record["evaluations"]} == {"valid", "test"}
    assert [m["epoch"] for m in record["metrics"] if m["name"] == "valid_ppl"] == [1, 2]
    assert record["config"]["options"]["hidden_size"] == 16
    assert record["environment"]["torch"]
    assert record["artifacts"] and record["artifacts"][0]["kind"] == "checkpoint"
    test = next(e for e in record["evaluations"] if e["split"] == "test")
    # every token of the test split: words + one end-of-sentence per line
    text = (tiny_corpus / "test.txt").read_text().splitlines()
    assert test["tokens"] == sum(len(line.split()) for line in text) + len(text)


def test_failed_run_is_recorded_with_its_error(runner, tiny_corpus):
    with pytest.raises(
        BenchError,
        match=r"model plugin 'failing' raised RuntimeError: "
        r"exploded in epoch 1 \(at sample_plugins.py:\d+, in fit\); run 1 ",
    ):
        runner.run(config("failing", tiny_corpus), "bench run --plugin failing")
    (row,) = runner.store.list_runs()
    record = runner.store.get_run(row["id"])
    assert record["status"] == "failed"
    assert "exploded in epoch 1" in record["error"]
    assert record["metrics"][0]["value"] == 1.5  # what was logged before the crash is kept


def test_interrupted_run_is_recorded(runner, tiny_corpus):
    with pytest.raises(KeyboardInterrupt):
        runner.run(config("interrupted", tiny_corpus), "bench run --plugin interrupted")
    (row,) = runner.store.list_runs()
    assert row["status"] == "interrupted"


def test_observer_hooks_see_the_lifecycle(runner, tiny_corpus):
    import sample_plugins

    sample_plugins.Observer.events.clear()
    result = runner.run(config("lstm", tiny_corpus, *TINY_LSTM, "epochs=1"), "bench run")
    events = sample_plugins.Observer.events
    assert events[0] == ("started", result.run_id)
    assert (
        "metrics",
        1,
        [
            "epoch_seconds",
            "grad_norm_max",
            "grad_norm_mean",
            "lr",
            "train_loss",
            "train_ppl",
            "train_tokens_per_second",
            "valid_ppl",
        ],
    ) in events
    assert events[-1] == ("finished", "finished", ["test", "valid"])


def test_user_mistakes_fail_before_a_run_is_recorded(runner, tiny_corpus, tmp_path):
    with pytest.raises(BenchError, match="Did you mean: lstm"):
        runner.run(config("lstn", tiny_corpus), "x")
    with pytest.raises(BenchError, match=r"hidden_sise.*Did you mean: hidden_size"):
        runner.run(config("lstm", tiny_corpus, "hidden_sise=3"), "x")
    with pytest.raises(BenchError, match="hidden_size"):
        runner.run(config("lstm", tiny_corpus, "hidden_size=many"), "x")
    with pytest.raises(BenchError, match="tied=true needs"):
        runner.run(config("lstm", tiny_corpus, "tied=true", "hidden_size=8"), "x")
    with pytest.raises(BenchError):
        runner.run(config("lstm", tmp_path / "nowhere"), "x")
    with pytest.raises(BenchError, match="tokenizer"):
        runner.run(
            build_config(
                {}, {"plugin": "lstm", "corpus": str(tiny_corpus), "tokenizer": "wrod"}, ()
            ),
            "x",
        )
    assert runner.store.list_runs() == []


def lstm_model(vocab_size=13, **options):
    import torch

    from bench_plugins.recurrent import LSTMModel, RecurrentOptions

    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(vocab_size - 2))])
    model = LSTMModel(
        RecurrentOptions(layers=2, hidden_size=12, embedding_size=8, **options), vocab, "cpu"
    )
    model.network.double()  # float64 end to end, so only chunking could change the sum
    return model


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64, 10_000])
def test_lstm_stream_scores_every_token_once_and_ignores_batch_size(batch_size):
    model = lstm_model()
    split = random_split()
    reference = evaluate(split, EvalProtocol("stream", 3), model.score)
    protocol = EvalProtocol("stream", batch_size)
    result = evaluate(split, protocol, model.score)  # raises unless every token scored once
    assert result.counts.tokens == len(split)
    assert result.metrics.nll == pytest.approx(reference.metrics.nll, rel=1e-6)
    assert result.protocol.batch_size == batch_size


def test_lstm_first_token_is_conditioned_on_eos():
    import torch

    model = lstm_model()
    split = random_split(n_lines=3)
    chunk = next(iter(model.score(split, model.eval_protocol(split))))
    with torch.no_grad():
        model.network.eval()
        features, _ = model.network(torch.tensor([[0]]), None)
        expected = model.network.output.log_probs(features[0])[0, split.ids[0]].item()
    assert chunk.logprobs[0] == pytest.approx(expected, rel=1e-6)  # float32


@pytest.mark.parametrize(
    "plugin, extra", [("lstm", ()), ("gru", ()), ("rnn", ()), ("rnn", ("nonlinearity=relu",))]
)
def test_every_cell_type_lowers_the_loss(runner, tiny_corpus, plugin, extra):
    result = runner.run(config(plugin, tiny_corpus, *TINY_LSTM, "log_every=1", *extra), "x")
    metrics = runner.store.get_run(result.run_id)["metrics"]
    step_losses = [m["value"] for m in metrics if m["name"] == "train_loss" and m["step"] == 1]
    last_epoch = max(m["epoch"] for m in metrics if m["epoch"] is not None)
    final = [
        m["value"]
        for m in metrics
        if m["name"] == "train_loss" and m["epoch"] == last_epoch and m["step"] is not None
    ]
    assert final[-1] < 0.8 * step_losses[0]
    # and it scores far better than a uniform guess over the 12-entry vocabulary
    assert result.evaluations["test"].ppl < 8
    label = {"lstm": "LSTM 1x16", "gru": "GRU 1x16", "rnn": "RNN-"}[plugin]
    assert result.label.startswith(label)


@pytest.mark.parametrize("tokenizer", ["word", "char"])
def test_generation_is_reproducible_with_a_seed(runner, tiny_corpus, tokenizer):
    from bench.run.restore import restore_run

    settings = (*TINY_LSTM, "epochs=1")
    result = runner.run(
        build_config(
            {}, {"plugin": "lstm", "corpus": str(tiny_corpus), "tokenizer": tokenizer}, settings
        ),
        "x",
    )
    restored = restore_run(result.run_id, runner.store, runner.host, runner.data_dir)
    prompt = restored.tokenizer.encode("prompt", ["the cat"]).ids[:-1].tolist()
    first = restored.model.generate(prompt, 40, seed=3, top_k=5)
    assert first == restored.model.generate(prompt, 40, seed=3, top_k=5)
    assert first != restored.model.generate(prompt, 40, seed=4, top_k=5)
    assert all(0 <= token < len(restored.tokenizer.vocab) for token in first)
    text = "\n".join(restored.tokenizer.decode([*prompt, *first]))
    assert text.startswith("the cat")


def test_generation_needs_a_checkpoint(runner, tiny_corpus):
    from bench.run.restore import restore_run

    result = runner.run(config("unigram", tiny_corpus), "x")
    with pytest.raises(BenchError, match="no checkpoint"):
        restore_run(result.run_id, runner.store, runner.host, runner.data_dir)


def inject_nan(monkeypatch, bad_calls):
    """Make the network's forward return NaN features on the given training calls."""
    from bench_plugins.recurrent.network import RecurrentNetwork

    forward = RecurrentNetwork.forward
    calls = {"n": 0}

    def patched(self, inputs, state):
        logits, state = forward(self, inputs, state)
        if self.training:
            calls["n"] += 1
            if calls["n"] in bad_calls:
                logits = logits * float("nan")
        return logits, state

    monkeypatch.setattr(RecurrentNetwork, "forward", patched)


def test_nan_loss_is_survived_and_recorded(runner, tiny_corpus, monkeypatch):
    inject_nan(monkeypatch, {5})
    result = runner.run(config("lstm", tiny_corpus, *TINY_LSTM, "log_every=2"), "x")
    record = runner.store.get_run(result.run_id)
    assert record["status"] == "finished"
    recoveries = [m for m in record["metrics"] if m["name"] == "nan_recovery"]
    assert len(recoveries) == 1 and recoveries[0]["epoch"] == 1
    lrs = [m["value"] for m in record["metrics"] if m["name"] == "lr"]
    assert lrs[0] == pytest.approx(0.005)  # halved from 0.01 by the recovery
    assert np.isfinite(result.evaluations["test"].ppl)


def test_nan_loss_every_time_gives_up_with_a_clear_error(runner, tiny_corpus, monkeypatch):
    inject_nan(monkeypatch, set(range(1, 10_000)))
    with pytest.raises(BenchError, match="training diverged"):
        runner.run(config("lstm", tiny_corpus, *TINY_LSTM, "max_nan_recoveries=2"), "x")
    (row,) = runner.store.list_runs()
    assert row["status"] == "failed"


def test_early_stopping(runner, tiny_corpus):
    # lr so small that valid ppl cannot improve much; patience 1 stops at the first miss
    result = runner.run(
        config(
            "lstm",
            tiny_corpus,
            *TINY_LSTM,
            "epochs=20",
            "patience=1",
            "optimizer=sgd",
            "lr=1e-9",
            "clip=0",
        ),
        "x",
    )
    metrics = runner.store.get_run(result.run_id)["metrics"]
    epochs = {m["epoch"] for m in metrics if m["name"] == "valid_ppl"}
    assert len(epochs) < 20
    assert any(m["name"] == "early_stop" for m in metrics)


def test_key_options_always_show_the_training_budget():
    """A 3-epoch row beside a 13-epoch one must say 3 even though 3 is the default."""
    from bench.api.plugin_host import get_host
    from bench.run.option_labels import key_options

    host = get_host()
    assert key_options(host.model_options("lstm", {})) == "epochs=3"
    assert key_options(host.model_options("lstm", {"lr": 5, "epochs": 13})) == "epochs=13 lr=5.0"
    assert key_options(host.model_options("unigram", {})) == ""  # nothing trained in epochs


def test_a_run_reports_its_training_arithmetic(runner, tiny_corpus):
    """The lstm plugin counts its FLOPs, so its run stores and returns the rate; a model
    that counts none (unigram) reports nothing."""
    lstm = runner.run(config("lstm", tiny_corpus, *TINY_LSTM), "bench run ...")
    vocab = runner.store.get_run(lstm.run_id)["vocab_size"]
    forward = recurrent_forward_flops("lstm", 1, 16, 16, vocab)
    assert lstm.utilisation is not None
    assert lstm.utilisation.forward_flops_per_token == forward
    assert lstm.utilisation.flops_per_second_per_device == pytest.approx(
        3 * forward * lstm.summary["train_tokens_per_second"]
    )
    metrics = {m["name"]: m["value"] for m in runner.store.get_run(lstm.run_id)["metrics"]}
    assert metrics["model_flops_per_token"] == forward
    assert runner.run(config("unigram", tiny_corpus), "bench run ...").utilisation is None
