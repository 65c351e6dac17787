"""The window protocol: every token scored exactly once, with its promised context."""

import numpy as np
import pytest
from splits import random_split

from bench.api.contract_types import EvalProtocol
from bench.scoring.exactly_once import evaluate
from bench.tokenization.windows import sliding_windows, window_starts


def check_windows(tokens, length, stride):
    ids = np.arange(tokens, dtype=np.int64) + 1
    scored = np.zeros(tokens, dtype=np.int64)
    for window in sliding_windows(ids, 0, length, stride):
        assert 1 <= len(window.targets) <= length
        # inputs are the targets shifted right by one, the split's first behind an eos
        previous = ids[window.start - 1] if window.start else 0
        assert window.inputs[0] == previous
        assert np.array_equal(window.inputs[1:], window.targets[:-1])
        assert np.array_equal(
            window.targets, ids[window.start : window.start + len(window.targets)]
        )
        positions = window.positions
        assert np.array_equal(ids[positions], window.targets[window.scored_from :])
        scored[positions] += 1
        # tokens of context inside the window before each scored position
        context = positions - window.start
        assert np.all(context >= np.minimum(positions, length - stride))
    assert np.all(scored == 1), (tokens, length, stride)


def test_every_token_is_scored_once_with_at_least_length_minus_stride_context():
    for tokens in [*range(1, 40), 97, 128, 129, 1000]:
        for length in (1, 2, 3, 5, 8, 16, 64):
            for stride in sorted({1, 2, 3, length // 2 or 1, length - 1 or 1, length}):
                if stride <= length:
                    check_windows(tokens, length, stride)


def test_window_starts_follow_the_stride():
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(4, 4, 2) == [0]
    assert window_starts(5, 4, 4) == [0, 4]
    with pytest.raises(ValueError):
        window_starts(10, 4, 5)


def test_the_protocol_records_its_stride():
    protocol = EvalProtocol("window", 8, context=64, stride=32)
    assert protocol.describe() == "window, batch 8, context 64, stride 32"
    with pytest.raises(ValueError):
        EvalProtocol("window", 8, context=64)  # a window protocol without its stride
    with pytest.raises(ValueError):
        EvalProtocol("stream", 8, stride=4)


def test_the_core_accepts_the_window_scores_of_a_split():
    split = random_split()

    def score(split, protocol):  # a uniform model, scored window by window
        from bench.api.contract_types import ScoredTokens

        for window in sliding_windows(split.ids, 0, protocol.context, protocol.stride):
            yield ScoredTokens.of(window.positions, np.full(len(window.positions), -np.log(13)))

    result = evaluate(split, EvalProtocol("window", 1, context=16, stride=5), score)
    assert result.counts.tokens == len(split)
    assert result.ppl == pytest.approx(13)


def test_a_window_model_must_say_its_context_and_stride():
    from bench.api.model import LanguageModel
    from bench.errors import BenchError
    from bench.tokenization.tokens import Vocabulary

    class Windowed(LanguageModel):
        scoring_mode = "window"

        def score(self, split, protocol):
            return []

    model = Windowed(None, Vocabulary(["<eos>"]), "cpu")
    with pytest.raises(BenchError, match="context=L, stride=S"):
        model.eval_protocol(random_split())
