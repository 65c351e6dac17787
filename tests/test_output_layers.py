"""Output layers: each estimator against what its theory claims, exactness of the exact
ones, chunked scoring, restoring from a checkpoint, training, options and the plugin point.

Everything runs in float64 on vocabularies of 10-200 words, so the checks are tight and
take well under a second each.
"""

import math
import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.api.output_network import chunked_target_logprobs
from bench.api.plugin_host import ENTRY_POINT_GROUP, get_host, load_plugins
from bench.configuration.run_config import build_config
from bench.errors import BenchError
from bench_plugins.output_layers.factored import frequency_classes
from bench_plugins.output_layers.sampling import (
    Proposal,
    blackout_loss,
    sampled_softmax_loss,
)

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: a second thread only adds hand-off costs (seconds of
    spinning when the machine is busy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def zipf_counts(vocab, scale=1000.0):
    """Zipfian train counts, deliberately not in id order (ids are shuffled ranks)."""
    ranks = torch.randperm(vocab, generator=torch.Generator().manual_seed(7))
    return (scale / (ranks + 1.0)).round()


def build(name, vocab, hidden=6, counts=None, **options):
    layer = get_host().output_layers.get(name)
    return layer.build(hidden, vocab, counts, layer.Options(**options)).double()


def random_problem(vocab=50, hidden=6, n=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, hidden, dtype=F64, generator=generator)
    weight = (torch.randn(vocab, hidden, dtype=F64, generator=generator) * 0.5).requires_grad_()
    bias = (torch.randn(vocab, dtype=F64, generator=generator) * 0.1).requires_grad_()
    targets = torch.randint(0, vocab, (n,), generator=generator)
    return features.requires_grad_(), targets, weight, bias


# ----------------------------------------------------------------- sampled softmax
def test_sampled_softmax_over_every_word_is_the_full_softmax():
    """Every word a candidate, each surely in the sample (log inclusion 0), accidental
    hits removed: the sampled softmax is the full softmax, loss and gradient."""
    features, targets, weight, bias = random_problem()
    vocab = weight.size(0)
    full = F.cross_entropy(F.linear(features, weight, bias), targets)
    sampled = sampled_softmax_loss(
        features,
        targets,
        weight,
        bias,
        torch.arange(vocab),
        torch.zeros(vocab, dtype=F64),
        torch.zeros(len(targets), dtype=F64),
    )
    assert sampled.item() == pytest.approx(full.item(), abs=1e-12)
    for a, b in zip(
        torch.autograd.grad(full, (weight, bias, features)),
        torch.autograd.grad(sampled, (weight, bias, features)),
        strict=True,
    ):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_sampled_layer_that_draws_every_word_matches_the_full_softmax():
    """The layer's own sampler and logQ correction: with 20,000 draws over 20 words every
    word is drawn and its inclusion probability is 1 to double precision."""
    torch.manual_seed(0)
    layer = build("sampled", 20, counts=zipf_counts(20), samples=20_000)
    features, targets, _, _ = random_problem(vocab=20, seed=1)
    full = F.cross_entropy(F.linear(features, layer.weight, layer.bias), targets)
    sampled = layer.training_loss(features, targets)
    assert sampled.item() == pytest.approx(full.item(), abs=1e-9)
    grads = [torch.autograd.grad(loss, layer.weight)[0] for loss in (full, sampled)]
    torch.testing.assert_close(grads[0], grads[1], atol=1e-9, rtol=0)


@pytest.mark.parametrize("kind", ["unigram", "log-uniform"])
def test_logq_correction_makes_the_sampled_gradient_consistent(kind):
    """Averaged over draws, the corrected sampled-softmax gradient approaches the full
    softmax gradient as the sample grows (Jean et al. 2015: consistent, biased for a
    finite sample), and is several times closer to it than without the correction."""
    vocab = 200
    features, _, weight, bias = random_problem(vocab=vocab, n=64)
    counts = 1000.0 / torch.arange(1, vocab + 1, dtype=F64)
    targets = torch.multinomial(
        counts / counts.sum(), 64, replacement=True, generator=torch.Generator().manual_seed(3)
    )
    exact = torch.autograd.grad(F.cross_entropy(F.linear(features, weight, bias), targets), weight)[
        0
    ]
    proposal = Proposal(vocab, counts, kind, alpha=1.0)

    def mean_gradient_error(draws, corrected, repeats=80):
        torch.manual_seed(1)
        total = torch.zeros_like(weight)
        for _ in range(repeats):
            candidates = torch.unique(proposal.draw(draws))
            log_q = proposal.log_inclusion(candidates, draws)
            target_log_q = proposal.log_inclusion(targets, draws)
            if not corrected:
                log_q, target_log_q = torch.zeros_like(log_q), torch.zeros_like(target_log_q)
            loss = sampled_softmax_loss(
                features, targets, weight, bias, candidates, log_q, target_log_q
            )
            total += torch.autograd.grad(loss, weight)[0]
        return ((total / repeats - exact).norm() / exact.norm()).item()

    small, large = mean_gradient_error(20, True), mean_gradient_error(400, True)
    assert large < 0.5 * small
    assert large < 0.5 * mean_gradient_error(400, False)


def test_accidental_hits_are_removed_per_position():
    features, targets, weight, bias = random_problem(vocab=10, n=3)
    targets = torch.tensor([1, 2, 3])
    candidates = torch.tensor([1, 5])  # a hit for position 0 only
    zeros = torch.zeros(2, dtype=F64)
    removed = sampled_softmax_loss(
        features[:1],
        targets[:1],
        weight,
        bias,
        candidates,
        zeros,
        torch.zeros(1, dtype=F64),
        remove_accidental_hits=True,
    )
    only_5 = sampled_softmax_loss(
        features[:1],
        targets[:1],
        weight,
        bias,
        candidates[1:],
        zeros[1:],
        torch.zeros(1, dtype=F64),
    )
    assert removed.item() == pytest.approx(only_5.item(), abs=1e-12)


# ------------------------------------------------------------------- NCE, BlackOut
DATA = torch.tensor([30, 20, 12, 10, 8, 6, 5, 4, 3, 2], dtype=F64) / 100


def data_targets():
    """100 targets whose frequencies are exactly DATA (an expectation over the data)."""
    return torch.repeat_interleave(torch.arange(10), (DATA * 100).round().long())


def mean_bias_gradient(module, bias, repeats, seed=0):
    """The bias gradient of the module's training loss, averaged over its random draws.

    With the word weights at zero the scores are the biases, the same at every position,
    so this is the expected gradient with respect to the scores of one context.
    """
    torch.manual_seed(seed)
    with torch.no_grad():
        module.weight.zero_()
        module.bias.copy_(bias)
    targets = data_targets()
    features = torch.randn(len(targets), module.weight.size(1), dtype=F64)
    total = torch.zeros(10, dtype=F64)
    for _ in range(repeats):
        module.zero_grad()
        module.training_loss(features, targets).backward()
        total += module.bias.grad
    return total / repeats


def nce_layer(samples, counts):
    return build("nce", 10, hidden=4, counts=counts, samples=samples)


def test_nce_expected_gradient_vanishes_where_the_model_is_the_data():
    """NCE is consistent for any number of noise samples k (Gutmann & Hyvarinen 2010;
    Mnih & Teh 2012): its expected gradient is zero when exp(score) equals the data
    distribution, and far from zero elsewhere."""
    layer = nce_layer(20, torch.full((10,), 5.0))
    at_truth = mean_bias_gradient(layer, DATA.log(), repeats=150)
    elsewhere = mean_bias_gradient(layer, torch.full((10,), -math.log(10), dtype=F64), 150)
    assert at_truth.abs().max() < 0.04  # Monte Carlo noise of 150 x 20 noise draws
    assert elsewhere.abs().max() > 0.15


def test_nce_gradient_tends_to_the_likelihood_gradient_as_k_grows():
    """As k grows the NCE gradient tends to the maximum-likelihood gradient (Mnih & Teh
    2012, section 3): with a normalised model, softmax(scores) - data."""
    uniform = torch.full((10,), -math.log(10), dtype=F64)
    likelihood = torch.softmax(uniform, 0) - DATA
    few = mean_bias_gradient(nce_layer(5, zipf_counts(10)), uniform, repeats=100)
    many = mean_bias_gradient(nce_layer(2000, zipf_counts(10)), uniform, repeats=20)
    assert F.cosine_similarity(many, likelihood, 0) > 0.995
    assert F.cosine_similarity(few, likelihood, 0) > 0.9  # downhill even with k = 5


def test_blackout_with_every_word_is_stationary_at_the_data_distribution():
    """BlackOut's discriminative loss over the whole vocabulary (uniform q):
    E[-log p(t) - sum_(j != t) log(1 - p(j))] has zero gradient at p = data (derivation in
    docs/output-layers.md), so it is Fisher-consistent; elsewhere the gradient is not 0."""
    targets = data_targets()
    weight = torch.zeros(10, 4, dtype=F64)
    features = torch.randn(len(targets), 4, dtype=F64)
    every = torch.arange(10)

    def gradient(scores):
        bias = scores.clone().requires_grad_()
        loss = blackout_loss(
            features,
            targets,
            weight,
            bias,
            every,
            torch.zeros(10, dtype=F64),
            torch.zeros(len(targets), dtype=F64),
        )
        return torch.autograd.grad(loss, bias)[0]

    assert gradient(DATA.log()).abs().max() < 1e-12
    assert gradient(torch.zeros(10, dtype=F64)).abs().max() > 0.1


def test_sampled_blackout_gradient_points_downhill():
    """With K = 5 of 10 words drawn from unigram^0.75, the expected BlackOut gradient is
    close in direction to the likelihood gradient (it is an approximation: at the data
    distribution it is small but not zero)."""
    layer = build("blackout", 10, hidden=4, counts=zipf_counts(10), samples=5)
    uniform = torch.full((10,), -math.log(10), dtype=F64)
    gradient = mean_bias_gradient(layer, uniform, repeats=100)
    assert F.cosine_similarity(gradient, torch.softmax(uniform, 0) - DATA, 0) > 0.9


def test_blackout_bias_at_the_data_distribution_is_small_with_many_draws():
    """Merged duplicates weighted by their inclusion probability keep BlackOut's expected
    gradient at the data distribution near zero when K is large (40 draws, 10 words);
    weighting them by 1/q, as a first version did, under-counts frequent words and gave
    0.13 at K = 20, growing with K (docs/output-layers.md)."""
    layer = build("blackout", 10, hidden=4, counts=zipf_counts(10), samples=40)
    at_truth = mean_bias_gradient(layer, DATA.log(), repeats=400)
    assert at_truth.abs().max() < 0.02


def test_log1mexp_is_finite_with_finite_gradients_at_both_ends():
    from bench_plugins.output_layers.sampling import log1mexp

    x = torch.tensor(
        [-1e-9, -1e-4, -0.5, -0.7, -3.0, -50.0, float("-inf")], dtype=F64, requires_grad=True
    )
    value = log1mexp(x)
    expected = torch.log(1 - torch.exp(x.detach().clamp(max=-1e-7)))
    torch.testing.assert_close(value[1:], expected[1:], rtol=1e-6, atol=1e-12)
    value.sum().backward()
    assert torch.isfinite(x.grad).all()


# ---------------------------------------------------------- exact factorisations
FACTORED = [
    ("adaptive", {"cutoffs": [5, 20], "div_value": 2.0}),
    ("adaptive", {}),
    ("class", {"classes": 7}),
    ("class", {"classes": 7, "binning": "sqrt"}),
    ("class", {"classes": 80}),
]  # more classes than words: some stay empty


@pytest.mark.parametrize("name, options", FACTORED)
def test_factored_softmaxes_are_normalised(name, options):
    torch.manual_seed(0)
    layer = build(name, 50, counts=zipf_counts(50), **options)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(torch.randn_like(parameter))  # not just the initial weights
    features, targets, _, _ = random_problem(vocab=50)
    log_probs = layer.log_probs(features)
    torch.testing.assert_close(
        log_probs.exp().sum(-1), torch.ones(len(features), dtype=F64), atol=1e-12, rtol=0
    )
    target = layer.target_logprobs(features, targets)
    torch.testing.assert_close(
        target, log_probs.gather(1, targets.unsqueeze(1)).squeeze(1), atol=1e-10, rtol=0
    )
    assert layer.training_loss(features, targets).item() == pytest.approx(-target.mean().item())


def test_frequency_binning_follows_mikolov():
    counts = torch.tensor([500, 1, 100, 50, 2, 300, 20, 5, 10, 12], dtype=F64)
    classes = frequency_classes(counts, 10, 4, "frequency")
    by_frequency = classes[torch.argsort(-counts, stable=True)]
    assert (by_frequency.diff() >= 0).all()  # rarer words never in an earlier class
    assert classes[0] == 0 and (classes == 0).sum() == 1  # 500/1000 of the mass: alone
    assert classes.max() <= 3
    sqrt_classes = frequency_classes(counts, 10, 4, "sqrt")
    assert (sqrt_classes == sqrt_classes.max()).sum() <= (classes == classes.max()).sum()


# -------------------------------------------------------------- full softmax, chunked
def test_chunked_full_softmax_equals_unchunked():
    features, targets, weight, bias = random_problem(vocab=50)
    whole = F.log_softmax(F.linear(features, weight, bias), -1).gather(1, targets[:, None])[:, 0]
    for chunk in (1, 7, 49, 50, 1000):
        torch.testing.assert_close(
            chunked_target_logprobs(features, targets, weight, bias, chunk),
            whole,
            atol=1e-12,
            rtol=0,
        )
    for name in ("full", "sampled", "nce", "blackout"):  # all scored the same way
        layer = build(name, 50, counts=zipf_counts(50), eval_chunk=7)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        torch.testing.assert_close(
            layer.target_logprobs(features, targets), whole, atol=1e-12, rtol=0
        )


# ------------------------------------------------------------------ restoring
@pytest.mark.parametrize(
    "name, options",
    [
        ("full", {}),
        ("sampled", {"proposal": "unigram"}),
        ("nce", {}),
        ("blackout", {}),
        *FACTORED[:3],
    ],
)
def test_a_layer_rebuilt_without_counts_scores_the_same_from_its_state_dict(name, options):
    """bench.restore rebuilds models without the train data: all a layer learnt from the
    counts must come back from its state_dict."""
    torch.manual_seed(0)
    trained = build(name, 50, counts=zipf_counts(50), **options)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(torch.randn_like(parameter))
    restored = build(name, 50, counts=None, **options)
    restored.load_state_dict(trained.state_dict())
    features, targets, _, _ = random_problem(vocab=50)
    torch.testing.assert_close(
        restored.target_logprobs(features, targets),
        trained.target_logprobs(features, targets),
        atol=0,
        rtol=0,
    )
    torch.testing.assert_close(
        restored.log_probs(features), trained.log_probs(features), atol=0, rtol=0
    )
    if hasattr(trained, "proposal"):
        assert torch.equal(restored.proposal.probs, trained.proposal.probs)


# ------------------------------------------------------------------ training
def patterned_stream(vocab=12, lines=300, seed=0):
    """Like tests/conftest.py's tiny corpus: runs of a cycle of words, an eos (0) after each."""
    rng = np.random.default_rng(seed)
    ids = []
    for _ in range(lines):
        start = rng.integers(vocab - 2)
        ids += [2 + (start + i) % (vocab - 2) for i in range(rng.integers(0, 8))] + [0]
    return torch.tensor(ids)


def exact_loss(network, stream):
    network.eval()
    with torch.no_grad():
        logprobs, _ = network.target_logprobs(stream[:-1, None], stream[1:, None], None)
    network.train()
    return -logprobs.mean().item()


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"output": "sampled", "output_options": {"samples": 6}},
        {"output": "sampled", "output_options": {"samples": 6, "proposal": "unigram"}},
        {"output": "nce", "output_options": {"samples": 6}},
        {"output": "blackout", "output_options": {"samples": 6}},
        {"output": "adaptive"},
        {"output": "class"},
        {"output": "class", "tied": True},
    ],
    ids=lambda s: "-".join(
        [
            s.get("output", "full"),
            *(["tied"] if s.get("tied") else []),
            *map(str, s.get("output_options", {}).values()),
        ]
    ),
)
def test_every_output_layer_trains_the_tiny_lstm(settings):
    """A few Adam steps on each layer's own objective lower the exact (normalised) loss."""
    from bench_plugins.recurrent.network import RecurrentNetwork

    torch.manual_seed(0)
    options = get_host().model_options(
        "lstm", {"layers": 1, "hidden_size": 16, "embedding_size": 16, "dropout": 0.0, **settings}
    )
    train, held_out = patterned_stream(seed=0), patterned_stream(lines=60, seed=1)
    network = RecurrentNetwork(12, options, "lstm", torch.bincount(train, minlength=12).numpy())
    optimizer = torch.optim.Adam(network.parameters(), lr=0.02)
    before = exact_loss(network, held_out)
    columns = train[: len(train) // 4 * 4].view(4, -1).t()  # 4 parallel streams
    state = None
    for step in range(40):
        start = step * 8 % (columns.size(0) - 9)
        inputs, targets = columns[start : start + 8], columns[start + 1 : start + 9]
        loss, state = network.training_loss(inputs, targets, state)
        state = tuple(s.detach() for s in state)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = exact_loss(network, held_out)
    assert after < 0.8 * before, (before, after)
    assert network.training_loss_is_nll == (options.output in ("full", "adaptive", "class"))


# ------------------------------------------------------------- options and errors
def test_options_are_resolved_with_defaults_and_the_canonical_name():
    config = build_config(
        {}, {"plugin": "lstm"}, ("output=sampled-softmax", "output.samples=64", "hidden_size=8")
    )
    assert config.options["output_options"] == {"samples": "64"}
    options = get_host().model_options("lstm", config.options)
    assert options.output == "sampled"
    assert options.output_options == {
        "samples": 64,
        "proposal": "log-uniform",
        "alpha": 0.75,
        "remove_accidental_hits": True,
        "eval_chunk": 16384,
    }
    assert options.changed_output_options() == {"samples": 64}
    cutoffs = get_host().model_options(
        "lstm", {"output": "adaptive", "output_options": {"cutoffs": "2000,10000"}}
    )
    assert cutoffs.output_options["cutoffs"] == [2000, 10000]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"output": "sampeld"}, "unknown output layer 'sampeld'. Did you mean: sampled"),
        (
            {"output": "sampled", "output_options": {"sampels": 9}},
            "unknown option for output layer sampled 'sampels'. Did you mean: samples",
        ),
        (
            {"output": "nce", "output_options": {"samples": 0}},
            "invalid option for output layer nce",
        ),
        ({"output_options": {"samples": 9}}, "option for output layer full 'samples'"),
        ({"output": "adaptive", "output_options": {"cutoffs": "20,10"}}, "strictly increasing"),
        ({"output": "class", "output_options": {"classes": "many"}}, "output layer class: classes"),
        (
            {"output": "adaptive", "tied": True, "embedding_size": 8, "hidden_size": 8},
            "tied=true needs an output layer with one word matrix",
        ),
    ],
)
def test_bad_output_options_are_clear_errors(options, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(".", r"\.")):
        get_host().model_options("lstm", options)


def test_adaptive_cutoffs_beyond_the_vocabulary_are_a_clear_error():
    with pytest.raises(BenchError, match=r"cutoffs \[5, 20\] must be below the vocabulary"):
        build("adaptive", 12, cutoffs=[5, 20])


def test_an_adaptive_tail_cluster_without_projection_units_is_a_clear_error():
    """hidden 6 // 4^2 = 0: the second tail cluster's words could not depend on context."""
    with pytest.raises(
        BenchError,
        match=r"tail cluster 2 \(frequency ranks 20 and up\) would "
        r"be projected to 6 // 4\^2 = 0 units.*output\.cutoffs=5 or a "
        r"div_value of at most 2\.45",
    ):
        build("adaptive", 50, cutoffs=[5, 20])
    build("adaptive", 50, cutoffs=[5, 20], div_value=2.0)  # 3 and 1 units: allowed


# ---------------------------------------------------------------- the plugin point
def host_with_output_plugin():
    extra = metadata.EntryPoint(
        name="output_layer_plugin",
        group=ENTRY_POINT_GROUP,
        value="sample_plugins:output_layer_plugin",
    )
    return load_plugins(list(metadata.entry_points(group=ENTRY_POINT_GROUP)) + [extra])


def test_a_plugin_output_layer_is_discovered_and_used(tmp_path, tiny_corpus):
    import sample_plugins

    from bench.run.runner import Runner
    from bench.store import Store

    host = host_with_output_plugin()
    assert host.output_layers.entry("counting").plugin == "output_layer_plugin"
    sample_plugins.CountingSoftmax.calls.clear()
    runner = Runner(host, Store(), tmp_path / "data", progress=False, echo=lambda message: None)
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": str(tiny_corpus)},
        (
            "layers=1",
            "hidden_size=8",
            "embedding_size=8",
            "epochs=1",
            "batch_size=4",
            "bptt=8",
            "max_steps_per_epoch=5",
            "output=counting",
            "output.scale=0.5",
        ),
    )
    result = runner.run(config, "x")
    calls = sample_plugins.CountingSoftmax.calls
    assert calls["built_with_counts"] and calls["training_loss"] == 5
    assert calls["target_logprobs"] > 0  # scored through the plugin's layer
    assert result.label == "LSTM 1x8, counting softmax x0.5 (exact)"
    record = runner.store.get_run(result.run_id)
    assert record["config"]["options"]["output_options"] == {"scale": 0.5}
    assert "output=counting" in record["key_options"]


def test_a_run_with_an_approximate_layer_is_labelled_and_restores(tmp_path, tiny_corpus):
    """The run says how it trained and how it was scored; the restored model (rebuilt
    without the train data) scores the test split exactly as the run did."""
    from bench.run.restore import restore_run
    from bench.run.runner import Runner
    from bench.scoring.exactly_once import evaluate
    from bench.store import Store

    runner = Runner(
        get_host(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )
    config = build_config(
        {},
        {"plugin": "lstm", "corpus": str(tiny_corpus)},
        (
            "layers=1",
            "hidden_size=8",
            "embedding_size=8",
            "epochs=1",
            "batch_size=4",
            "bptt=8",
            "max_steps_per_epoch=5",
            "output=class",
            "output.classes=3",
        ),
    )
    result = runner.run(config, "x")
    assert result.label == "LSTM 1x8, class softmax 3 (exact)"
    record = runner.store.get_run(result.run_id)
    assert "train_ppl" in {m["name"] for m in record["metrics"]}  # an exact objective
    # on the device it ran on: float32 on a GPU and on a CPU differ beyond 1e-9
    restored = restore_run(
        result.run_id, runner.store, runner.host, runner.data_dir, device=record["device"]
    )
    split = restored.tokenizer.encode("test", (tiny_corpus / "test.txt").read_text().splitlines())
    again = evaluate(split, restored.model.eval_protocol(split), restored.model.score)
    assert again.metrics.nll == pytest.approx(result.evaluations["test"].metrics.nll, rel=1e-9)

    sampled = runner.run(
        build_config(
            {},
            {"plugin": "lstm", "corpus": str(tiny_corpus)},
            (
                "layers=1",
                "hidden_size=8",
                "embedding_size=8",
                "epochs=1",
                "batch_size=4",
                "bptt=8",
                "max_steps_per_epoch=5",
                "output=sampled",
                "output.samples=4",
            ),
        ),
        "x",
    )
    assert sampled.label == "LSTM 1x8, sampled softmax 4 log-uniform (scored by full softmax)"
    metrics = {m["name"] for m in runner.store.get_run(sampled.run_id)["metrics"]}
    assert "train_loss" in metrics and "train_ppl" not in metrics  # not a likelihood


# ------------------------------------------------------------ the documented example
DOCS = Path(__file__).resolve().parent.parent / "docs" / "output-layers.md"
BLOCK = re.compile(r"```python file=(?P<name>\S+)\n(?P<body>.*?)```", re.DOTALL)


def test_the_documented_output_layer_plugin_works(tmp_path, monkeypatch):
    """docs/output-layers.md's example, loaded from its code blocks as a plugin."""
    files = {m["name"]: m["body"] for m in BLOCK.finditer(DOCS.read_text())}
    assert set(files) == {"bench_smoothed.py", "bench_smoothed_module.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = metadata.EntryPoint(name="smoothed", value="bench_smoothed", group=ENTRY_POINT_GROUP)
    host = load_plugins(list(metadata.entry_points(group=ENTRY_POINT_GROUP)) + [entry])
    assert next(r for r in host.records if r.name == "smoothed").status == "loaded"
    assert "bench_smoothed_module" not in sys.modules  # the torch half waits for build()
    options = host.model_options(
        "lstm",
        {
            "output": "smoothed",
            "hidden_size": 8,
            "embedding_size": 8,
            "tied": True,
            "dropout": 0.0,
            "output_options": {"smoothing": "0.2"},
        },
    )
    from bench_plugins.recurrent.network import RecurrentNetwork

    network = RecurrentNetwork(12, options, "lstm", np.ones(12))
    assert network.output.weight is network.embedding.weight  # tied
    assert not network.training_loss_is_nll
    inputs, targets = patterned_stream()[:50, None], patterned_stream()[1:51, None]
    loss, _ = network.training_loss(inputs, targets, None)
    logprobs, _ = network.target_logprobs(inputs, targets, None)
    features, _ = network(inputs, None)
    every = network.output.log_probs(features[:, 0])
    torch.testing.assert_close(every.exp().sum(-1), torch.ones(50))
    torch.testing.assert_close(logprobs[:, 0], every.gather(1, targets).squeeze(1))
    # the plugin's objective, with the smoothing the option asked for, trained the model
    expected = -0.8 * logprobs.mean() - 0.2 * every.mean()
    torch.testing.assert_close(loss, expected)


def test_chunked_log_probabilities_never_exceed_zero_with_large_logits():
    """The target's logit is read from the chunk logits that make the normaliser: computed
    apart, as a dot product, it rounded above its own share (log-probabilities up to +0.04
    here, which the core rightly refuses)."""
    g = torch.Generator().manual_seed(0)
    n, h, v = 512, 512, 1000
    features = torch.randn(n, h, generator=g) * 30
    weight = torch.randn(v, h, generator=g) * 3
    targets = torch.randint(0, v, (n,), generator=g)
    weight[targets] = features * 0.2  # a dominant logit of about 1e5 for every target
    bias = torch.randn(v, generator=g)
    got = chunked_target_logprobs(features, targets, weight, bias, 256)
    assert got.max().item() <= 0.0
    exact = F.log_softmax(F.linear(features.double(), weight.double(), bias.double()), -1)
    exact = exact.gather(-1, targets[:, None]).squeeze(-1)
    assert (got.double() - exact).abs().max().item() < 0.01
