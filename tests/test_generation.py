"""Sampling text from the Transformer plugins (`bench generate`): one token sampler for every
model, the transformer's sliding window, Transformer-XL's memory as scoring carries it,
and each greedy token the argmax of the model's own scoring of the text before it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.api.contract_types import EvalProtocol
from bench.cli import cli
from bench.tokenization.tokens import Vocabulary
from bench.training import TokenSampler

VOCAB = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(11))])  # eos is id 0


def transformer(**options):
    from bench_plugins.transformer import TransformerModel, TransformerOptions

    torch.manual_seed(0)
    settings = dict(layers=2, d_model=16, heads=2, ffn_size=32, tokens_per_sample=8, dropout=0.0)
    model = TransformerModel(TransformerOptions(**{**settings, **options}), VOCAB, "cpu")
    model.network.double()  # float64: no near-tie decided by rounding
    return model


def transformer_xl(**options):
    from bench_plugins.transformer_xl import TransformerXLModel, TransformerXLOptions

    torch.manual_seed(0)
    settings = dict(layers=3, d_model=16, heads=2, d_head=8, d_inner=32, dropout=0.0)
    settings.update(mem_len=5, eval_bptt=4)
    model = TransformerXLModel(TransformerXLOptions(**{**settings, **options}), VOCAB, "cpu")
    model.network.double()
    return model


@pytest.fixture
def handed():
    """The log-probabilities every TokenSampler.draw is handed, in order."""
    given: list[torch.Tensor] = []
    draw = TokenSampler.draw
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            TokenSampler, "draw", lambda self, p: given.append(p.clone()) or draw(self, p)
        )
        yield given


def prompt_of(n, seed=1):
    return np.random.default_rng(seed).integers(1, len(VOCAB), n).tolist()


def split_of(ids):
    return SimpleNamespace(name="test", ids=np.asarray(ids, dtype=np.int64))  # all scoring reads


def scoring_protocol(model):
    if model.scoring_mode == "window":  # stride 1: each token sees the whole window before it
        return EvalProtocol("window", 4, context=model.options.tokens_per_sample, stride=1)
    return model.eval_protocol(None)


def next_token_scores(model, text):
    """The model's own scores of every id as the one after ``text``: the log-probability
    ``model.score`` gives the last position of ``text + [id]``."""
    found = []
    for candidate in range(len(VOCAB)):
        split = split_of([*text, candidate])
        last = [
            chunk.logprobs[chunk.positions == len(text)]
            for chunk in model.score(split, scoring_protocol(model))
        ]
        found.append(float(np.concatenate(last)[0]))
    return np.array(found)


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


# --------------------------------------------------------------------------- both models

MODELS = {"transformer": transformer, "transformer-xl": transformer_xl}


@pytest.mark.parametrize("name", MODELS)
def test_the_same_seed_gives_the_same_text(name):
    model, prompt = MODELS[name](), prompt_of(5)
    first = model.generate(prompt, 30, seed=3, top_p=0.95)
    assert first == model.generate(prompt, 30, seed=3, top_p=0.95)
    assert first != model.generate(prompt, 30, seed=4, top_p=0.95)
    assert all(0 <= token < len(VOCAB) for token in first)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("prompt_length", [0, 3, 13])
def test_each_token_is_drawn_from_the_models_own_scoring_greedy_takes_its_argmax(
    name, prompt_length, handed
):
    """Across the transformer's window (8) and the XL's segments (4) and memory (5)."""
    model, prompt = MODELS[name](), prompt_of(prompt_length)
    drawn = model.generate(prompt, 12, top_k=1)
    assert len(handed) == 12
    for i, token in enumerate(drawn):
        scores = next_token_scores(model, [*prompt, *drawn[:i]])
        assert np.exp(scores).sum() == pytest.approx(1.0)  # the whole distribution
        np.testing.assert_allclose(handed[i].numpy(), scores, rtol=0, atol=1e-9)
        assert token == int(np.argmax(scores)), i


# --------------------------------------------------------------------------- transformer


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_the_transformers_window_slides_and_never_exceeds_tokens_per_sample(positions, handed):
    model = transformer(positions=positions)  # learned positions end at position 8
    seen: list[int] = []
    forward = model.network.forward

    def recording(inputs):
        seen.append(inputs.size(0))
        return forward(inputs)

    model.network.forward = recording
    prompt = prompt_of(20)

    def distributions(prompt):
        handed.clear()
        drawn = model.generate(prompt, 30, seed=2)
        return drawn, torch.stack(handed)

    drawn, whole = distributions(prompt)
    assert max(seen) == 8 and len(seen) == 30
    # only the last 8 ids count: a prompt cut to them, or changed before them, gives the
    # same text from the same distributions; a change within them does not
    for same in (prompt[-8:], [*prompt[:-9], 3, *prompt[-8:]]):
        cut, given = distributions(same)
        assert cut == drawn and torch.equal(given, whole)
    _, changed = distributions([*prompt[:-2], 3, prompt[-1]])
    assert not torch.allclose(changed[:2], whole[:2])


# --------------------------------------------------------------------------- transformer-xl


def span_mask(n, segment, mem_len):
    """[n, n] True where a key is hidden: token i of a segment starting at s sees s - mem_len .. i."""
    starts = torch.arange(n) // segment * segment
    keys = torch.arange(n)[None, :]
    return (keys > torch.arange(n)[:, None]) | (keys < (starts - mem_len)[:, None])


@pytest.mark.parametrize("segment, mem_len", [(4, 5), (1, 3), (3, 0), (2, 12)])
def test_xl_sampling_with_memory_equals_sampling_from_the_whole_text_with_its_span(
    segment, mem_len, handed
):
    """The scoring segments and memory (eval_bptt, eval_mem_len), not training's mem_len (5)."""
    model = transformer_xl(eval_bptt=segment, eval_mem_len=mem_len)
    network, prompt = model.network, prompt_of(6)
    drawn = model.generate(prompt, 20, seed=5)
    text = [0, *prompt, *drawn]  # after the implicit end-of-sentence
    with torch.no_grad():  # the whole text at once, no memory: each query its span of keys
        ids = torch.tensor(text).unsqueeze(1)
        features, _ = network(ids, None, 0, hidden=span_mask(len(text), segment, mem_len))
        expected = network.output.log_probs(features[len(prompt) :, 0])
        plain, _ = network(ids, None, 0)  # every earlier key, which the span leaves out
    torch.testing.assert_close(torch.stack(handed), expected[:-1], rtol=0, atol=1e-9)
    if mem_len < len(text):
        assert not torch.allclose(network.output.log_probs(plain[len(prompt) :, 0]), expected)


# --------------------------------------------------------------------------- end to end

TINY = ["layers=1", "d_model=16", "heads=2", "batch_size=4", "epochs=1", "max_steps_per_epoch=20"]


@pytest.mark.parametrize(
    "plugin, sizes",
    [
        ("transformer", ["ffn_size=32", "tokens_per_sample=8", "positions=learned"]),
        ("transformer-xl", ["d_head=8", "d_inner=32", "bptt=8", "mem_len=8", "eval_bptt=8"]),
    ],
)
def test_bench_generate_samples_whole_lines_from_a_trained_run(tiny_corpus, plugin, sizes):
    settings = [part for setting in (*TINY, *sizes) for part in ("--set", setting)]
    run = CliRunner().invoke(
        cli, ["run", "--plugin", plugin, "--corpus", str(tiny_corpus), *settings]
    )
    assert run.exit_code == 0, run.output

    def generate(*options):
        result = CliRunner().invoke(cli, ["generate", "--run", "last", *options])
        assert result.exit_code == 0, result.output
        return result.stdout

    sample = generate("--prompt", "the cat", "-n", "3", "--seed", "4")
    assert sample.startswith("the cat") and len(sample.splitlines()) == 3
    assert sample == generate("--prompt", "the cat", "-n", "3", "--seed", "4")
    words = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "<unk>"}
    assert set(sample.split()) <= words
    assert len(generate("--tokens", "40", "--greedy").split()) <= 40
