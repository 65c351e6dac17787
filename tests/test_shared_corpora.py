"""Optional checks against the verified corpora in ../shared/corpora (skipped when absent)."""

from pathlib import Path

import pytest

from bench.api.plugin_host import load_plugins

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"

pytestmark = [
    pytest.mark.corpora,
    pytest.mark.skipif(not (SHARED / "ptb" / "test.txt").exists(), reason="no ../shared/corpora"),
]


def test_ptb_folder_is_recognised_and_test_has_82430_tokens(tmp_path):
    host = load_plugins()
    from bench.corpora import load_corpus

    corpus = load_corpus(str(SHARED / "ptb"), host.corpora, tmp_path)
    assert corpus.name == "ptb" and corpus.verified
    tokenizer = host.tokenizers.get("word")(host.tokenizers.get("word").Options())
    tokenizer.fit(corpus.splits["train"], tmp_path)
    test = tokenizer.encode("test", corpus.splits["test"])
    assert len(tokenizer.vocab) == 10_000
    assert test.counts.tokens == 82_430 == test.counts.words  # words + one <eos> per line
    assert test.counts.oov == 0
