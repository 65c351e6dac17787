"""rnn-maxent: hashing, slice sums over the padded table, history across chunks, learning."""

import random

import pytest
import torch
from splits import random_split

from bench.api.model import EvalProtocol
from bench.api.plugin_host import load_plugins
from bench.configuration.run_config import build_config
from bench.run.runner import Runner
from bench.scoring.exactly_once import evaluate
from bench.store import Store
from bench.tokenization.tokens import Vocabulary
from bench_plugins.recurrent.maxent import MaxEntOptions, MaxEntRNNModel
from bench_plugins.recurrent.maxent_network import hash_bases, slice_sum
from bench_plugins.recurrent.network import RecurrentNetwork


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: a second thread only adds waiting on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def next_token(two_back, one_back):
    """The corpus rule: a function of the previous two tokens, of neither one alone."""
    return (one_back + 3 * two_back + 1) % 8


@pytest.fixture
def trigram_corpus(tmp_path):
    """Lines of 24 tokens over 8 words: two random tokens, then each follows the rule."""
    rng = random.Random(0)

    def lines(n):
        out = []
        for _ in range(n):
            tokens = [rng.randrange(8), rng.randrange(8)]
            while len(tokens) < 24:
                tokens.append(next_token(tokens[-2], tokens[-1]))
            out.append(" ".join(f"w{t}" for t in tokens))
        return "\n".join(out) + "\n"

    folder = tmp_path / "trigram"
    folder.mkdir()
    for split, n in (("train", 300), ("valid", 20), ("test", 20)):
        (folder / f"{split}.txt").write_text(lines(n))
    return folder


# A recurrent layer of 2 units cannot hold two previous tokens; the direct weights can.
TINY = (
    "layers=1",
    "hidden_size=2",
    "embedding_size=4",
    "dropout=0",
    "epochs=2",
    "batch_size=16",
    "bptt=16",
    "lr=0.05",
    "log_every=1",
    "maxent_size=4096",
)


def test_direct_connections_learn_what_the_rnn_cannot(tmp_path, trigram_corpus):
    from bench.run.restore import restore_run

    runner = Runner(
        load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )

    def run(plugin, *settings):
        return runner.run(
            build_config({}, {"plugin": plugin, "corpus": str(trigram_corpus)}, settings), "x"
        )

    plain = run("rnn", *(s for s in TINY if not s.startswith("maxent")))
    unigram_only = run("rnn-maxent", *TINY, "maxent_order=1")
    trigram = run("rnn-maxent", *TINY, "maxent_order=3")
    # 8 equally likely words (plus end-of-sentence): about 8 unless the rule is learnt
    assert plain.evaluations["test"].ppl > 5 and unigram_only.evaluations["test"].ppl > 5
    assert trigram.evaluations["test"].ppl < 2.5
    assert trigram.label == "RNN-tanh 1x2 + MaxEnt 3-gram"

    metrics = runner.store.get_run(trigram.run_id)["metrics"]
    losses = [m["value"] for m in metrics if m["name"] == "train_loss" and m["step"] is not None]
    assert losses[-1] < 0.5 * losses[0]

    # the restored checkpoint generates by the rule (greedy, after a two-token prompt)
    restored = restore_run(trigram.run_id, runner.store, runner.host, runner.data_dir)
    vocab = restored.tokenizer.vocab
    prompt = restored.tokenizer.encode("prompt", ["w5 w2"]).ids[:-1].tolist()
    drawn = restored.model.generate(prompt, 6, top_k=1)
    words = [int(vocab.tokens[i][1:]) for i in [*prompt, *drawn]]
    assert all(words[i] == next_token(words[i - 2], words[i - 1]) for i in range(2, 8))


def maxent_model(order=4, vocab_size=13, size=97):
    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(vocab_size - 2))])
    options = MaxEntOptions(
        layers=1, hidden_size=6, embedding_size=5, dropout=0, maxent_order=order, maxent_size=size
    )
    model = MaxEntRNNModel(options, vocab, "cpu")
    model.network.double()  # float64 end to end, so only chunking could change the sum
    with torch.no_grad():  # trained-looking direct weights, so every n-gram counts
        model.network.direct.weight.normal_()
    return model


def test_scores_do_not_depend_on_the_eval_batch_size():
    model = maxent_model()
    split = random_split()
    reference = evaluate(split, EvalProtocol("stream", 10_000), model.score)
    for batch_size in (1, 2, 7):  # chunks shorter than the 3-token history, too
        result = evaluate(split, EvalProtocol("stream", batch_size), model.score)
        assert result.metrics.nll == pytest.approx(reference.metrics.nll, rel=1e-9)


def test_a_fresh_history_is_end_of_sentence_and_the_state_keeps_the_last_tokens():
    network = maxent_model(order=4).network.eval()
    inputs = torch.tensor([[5, 6], [7, 8]])
    with torch.no_grad():
        whole, state = network.logits(inputs, None)
        explicit, _ = network.logits(inputs, (None, torch.zeros(3, 2, dtype=torch.long)))
        assert torch.equal(whole, explicit)  # eos_id is 0
        assert state[1].tolist() == [[0, 0], [5, 6], [7, 8]]
        _, forward_state = network(inputs, None)
        assert torch.equal(forward_state[1], state[1])
        # a window continued from the carried state equals the longer window's tail
        longer, _ = network.logits(torch.tensor([[5, 6], [7, 8], [9, 10]]), None)
        tail, _ = network.logits(torch.tensor([[9, 10]]), state)
        assert torch.allclose(longer[2:], tail, rtol=1e-12)


def test_hash_bases_depend_on_exactly_the_n_minus_1_previous_tokens():
    generator = torch.Generator().manual_seed(1)
    multipliers = torch.randint(1, 2**31 - 1, (3,), generator=generator)
    offsets = torch.randint(0, 2**31 - 1, (4,), generator=generator)
    context = torch.randint(0, 1000, (3 + 50, 4), generator=generator)
    bases = hash_bases(context, multipliers, offsets, size=10_007)
    assert bases.shape == (50, 4, 4)
    assert bases.min() >= 0 and bases.max() < 10_007
    assert (bases[..., 0] == bases[0, 0, 0]).all()  # order 1: no history, one slice
    # change the token 2 back from position 10: orders 1-2 keep their slice, 3-4 move
    changed = context.clone()
    changed[3 + 10 - 1, 0] += 1
    moved = hash_bases(changed, multipliers, offsets, size=10_007)[10, 0] != bases[10, 0]
    assert moved.tolist() == [False, False, True, True]
    # distinct two-token histories rarely share a slice in a big table
    pairs = torch.cartesian_prod(torch.arange(100), torch.arange(100)).t()  # [2, 10,000]
    context = torch.cat([torch.zeros_like(pairs[:1]), pairs])  # one position per pair
    order3 = hash_bases(context, multipliers[:2], offsets[:3], size=2**22)[0, :, 2]
    assert order3.unique().numel() > 0.99 * 10_000


@pytest.mark.parametrize("vectorized", [True, False])
def test_slice_sums_cover_the_padded_table(vectorized):
    size, width = 50, 7
    table = torch.randn(size + width, dtype=torch.float64, requires_grad=True)
    # the first and last base, overlapping slices and one base used twice in a row
    bases = torch.tensor([[0, size - 1, 3], [4, 4, size - 1], [10, 12, 0]])
    out = slice_sum(table, bases, width, vectorized=vectorized)
    expected = torch.stack([sum(table[b : b + width] for b in row) for row in bases.tolist()])
    assert torch.equal(out, expected)
    grad = torch.randn(3, width, dtype=torch.float64)
    out.backward(grad)
    expected_grad = torch.zeros_like(table)
    for row, row_bases in zip(grad, bases.tolist(), strict=True):
        for b in row_bases:
            expected_grad[b : b + width] += row
    assert torch.allclose(table.grad, expected_grad, rtol=1e-12)
    assert table.grad[-1] == 0 and table.grad[-2] != 0  # a base < size reaches size+width-2
    assert torch.autograd.gradcheck(
        lambda t: slice_sum(t, bases, width, vectorized=vectorized),
        (table.detach().requires_grad_(),),
    )


def test_only_the_full_softmax_carries_the_direct_weights():
    from bench.api.plugin_host import get_host
    from bench.configuration.options import validate_options
    from bench.errors import BenchError

    host = get_host()
    with pytest.raises(BenchError, match="output='sampled' is not supported"):
        host.model_options("rnn-maxent", {"output": "sampled"})
    assert validate_options(MaxEntOptions, {}, owner="rnn-maxent").output == "full"


# ------------------------------------------------- the class output layer (RNNME's factoring)


def class_maxent_model(order=3, vocab_size=13, size=97, classes=4):
    torch.manual_seed(0)
    vocab = Vocabulary(["<eos>", "<unk>", *(f"w{i}" for i in range(vocab_size - 2))])
    options = MaxEntOptions(
        layers=1,
        hidden_size=6,
        embedding_size=5,
        dropout=0,
        maxent_order=order,
        maxent_size=size,
        output="class",
        output_options={"classes": classes},
    )
    model = MaxEntRNNModel(options, vocab, "cpu")  # no counts: classes of equal size
    model.network.double()
    with torch.no_grad():  # trained-looking direct weights in both tables
        model.network.direct.weight.normal_()
        model.network.class_direct.weight.normal_()
    return model


def test_class_output_probabilities_sum_to_one_and_match_the_targets_scores():
    network = class_maxent_model().network.eval()
    assert network.factored and network.output.class_used.sum() > 1
    vocab = network.direct.vocab_size
    rng = random.Random(3)
    with torch.no_grad():
        for _ in range(5):  # many contexts
            prompt = torch.tensor([[rng.randrange(vocab)] for _ in range(rng.randrange(1, 6))])
            full, _ = network.next_logprobs(prompt, None)
            assert float(full.exp().sum()) == pytest.approx(1.0, abs=1e-12)
            # every word's target score agrees with the full distribution
            inputs = prompt.expand(-1, vocab).contiguous()
            targets = torch.cat(
                [
                    torch.zeros(prompt.size(0) - 1, vocab, dtype=torch.long),
                    torch.arange(vocab).unsqueeze(0),
                ]
            )
            scored, _ = network.target_logprobs(inputs, targets, None)
            assert torch.allclose(scored[-1], full, atol=1e-12)


def test_class_output_direct_weights_change_the_scores():
    network = class_maxent_model().network.eval()
    inputs, targets = torch.tensor([[2], [3], [4]]), torch.tensor([[3], [4], [5]])
    with torch.no_grad():
        before, _ = network.target_logprobs(inputs, targets, None)
        network.direct.weight.zero_()
        network.class_direct.weight.zero_()
        after, _ = network.target_logprobs(inputs, targets, None)
    assert not torch.allclose(before, after)


def test_class_output_scores_do_not_depend_on_the_eval_batch_size():
    model = class_maxent_model(vocab_size=20)
    split = random_split(vocab_size=20)
    reference = evaluate(split, EvalProtocol("stream", 10_000), model.score)
    for batch_size in (1, 2, 7):
        result = evaluate(split, EvalProtocol("stream", batch_size), model.score)
        assert result.metrics.nll == pytest.approx(reference.metrics.nll, rel=1e-9)


def test_class_output_learns_the_trigram_rule(tmp_path, trigram_corpus):
    runner = Runner(
        load_plugins(), Store(), tmp_path / "data", progress=False, echo=lambda message: None
    )
    result = runner.run(
        build_config(
            {},
            {"plugin": "rnn-maxent", "corpus": str(trigram_corpus)},
            (*TINY, "maxent_order=3", "output=class", "output.classes=3"),
        ),
        "x",
    )
    assert result.evaluations["test"].ppl < 2.5


def test_class_output_trains_the_direct_weights_as_the_full_distribution_does():
    """The targets' scores gather the direct weights of every class present at once; their
    gradient must equal that of the same log-probabilities read off the full factored
    distribution, whose direct weights come through slice sums."""
    network = class_maxent_model(vocab_size=20).network.train()
    torch.manual_seed(1)
    inputs = torch.randint(0, 20, (6, 3))
    targets = torch.randint(0, 20, (6, 3))
    scored, _ = network.target_logprobs(inputs, targets, None)
    scored.sum().backward()
    got = [network.direct.weight.grad.clone(), network.class_direct.weight.grad.clone()]
    network.zero_grad()
    rnn_state, context = network._context(inputs, None)
    features, _ = RecurrentNetwork.forward(network, inputs, rnn_state)
    full = network.output.log_probs(
        features.reshape(-1, features.size(-1)),
        extra_class_logits=network.class_direct(context).reshape(
            -1, network.output.class_used.numel()
        ),
        extra_logits=network.direct(context).reshape(-1, 20),
    )
    torch.testing.assert_close(full.gather(1, targets.reshape(-1, 1)).view(6, 3), scored.detach())
    full.gather(1, targets.reshape(-1, 1)).sum().backward()
    torch.testing.assert_close(network.direct.weight.grad, got[0])
    torch.testing.assert_close(network.class_direct.weight.grad, got[1])
    assert got[0].abs().sum() > 0
