"""Old import paths (issue 22): every module that moved still imports under its old name, as
the same module object, with a DeprecationWarning naming its new path; pickles naming old
paths load; and a plugin written to the first release's tutorial installs, runs and reaches
the leaderboard."""

import importlib
import pickle
import re
import sys
import warnings
from pathlib import Path

import pytest
from plugin_install import bench, install_plugin

import bench as bench_package
from bench._moved import MOVES, former_name
from bench.tokenization.tokenizers import WordTokenizer
from bench.tokenization.tokens import Vocabulary

FIRST_RELEASE_PLUGIN = Path(__file__).resolve().parent / "first_release_plugin"


def forget(old: str) -> None:
    """Make the next import of ``old`` go through the finder again."""
    sys.modules.pop(old, None)
    parent, _, child = old.rpartition(".")
    if parent in sys.modules and child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)


@pytest.mark.parametrize("old", sorted(MOVES))
def test_an_old_path_imports_the_same_module_and_warns(old):
    new = importlib.import_module(MOVES[old])
    forget(old)
    with pytest.warns(
        DeprecationWarning,
        match=f"{re.escape(old)} is deprecated: it moved to {re.escape(MOVES[old])}",
    ):
        module = importlib.import_module(old)
    assert module is new
    assert module.__spec__.name == MOVES[old]  # the alias does not take over the module's spec
    assert sys.modules[old] is new


def test_the_new_paths_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for new in MOVES.values():
            if new != "bench.api.output_layer_module":  # deprecated in itself, before the move
                importlib.import_module(new)


def test_old_names_of_classes_are_the_same_classes():
    with warnings.catch_warnings():  # said once per process, maybe by an earlier test
        warnings.simplefilter("ignore", DeprecationWarning)
        from bench.model import LanguageModel
        from bench.tokens import Vocabulary as OldVocabulary
        from bench_plugins.kn_disk import TempSpace
    from bench.api.model import LanguageModel as current
    from bench_plugins.kn.scratch import TempSpace as current_space

    assert LanguageModel is current and OldVocabulary is Vocabulary
    assert TempSpace is current_space


def test_an_old_module_is_an_attribute_of_bench_as_before():
    forget("bench.model")
    with pytest.warns(DeprecationWarning, match="bench.model is deprecated"):
        module = bench_package.model
    assert module is importlib.import_module("bench.api.model")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        bench_package.nothing  # noqa: B018


def test_the_training_package_keeps_the_loops_names():
    from bench.training import detach_state, train_bptt
    from bench.training.loop import detach_state as current_detach
    from bench.training.loop import train_bptt as current_train

    assert (train_bptt, detach_state) == (current_train, current_detach)


def test_a_pickle_naming_an_old_path_loads():
    vocab = Vocabulary(["<eos>", "<unk>", "a"])
    written = pickle.dumps(vocab, protocol=0)
    assert b"bench.tokenization.tokens" in written
    old = written.replace(b"bench.tokenization.tokens", b"bench.tokens")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = pickle.loads(old)
    assert type(loaded) is Vocabulary and loaded.sha256() == vocab.sha256()


def test_cache_keys_name_a_tokenizer_as_before_the_move():
    """Token and vocabulary caches hash the tokenizer's class name: the old name keeps the
    caches made before the move."""
    assert former_name(WordTokenizer) == "bench.tokenizers.WordTokenizer"
    assert former_name(Vocabulary) == "bench.tokens.Vocabulary"
    assert former_name(int) == "builtins.int"  # a class that never moved keeps its name


@pytest.fixture(scope="module")
def first_release_plugin(tmp_path_factory):
    files = {path.name: path.read_text() for path in FIRST_RELEASE_PLUGIN.iterdir()}
    assert "from bench.model import LanguageModel, ScoredTokens" in files["bench_bigram.py"]
    return install_plugin(files, tmp_path_factory.mktemp("first-release"))


def test_a_first_release_plugin_installs_runs_and_reaches_the_leaderboard(first_release_plugin):
    listed = bench(first_release_plugin, "plugins")
    assert re.search(r"^bigram\s+\[loaded\]", listed.stdout, re.MULTILINE), listed.stdout
    run = bench(first_release_plugin, "run", "--plugin", "bigram")
    assert run.returncode == 0, run.stderr
    assert re.search(r"test perplexity\s+[\d.]+", run.stdout)
    shown = bench(first_release_plugin, "leaderboard", "--corpus", "tinyshakespeare")
    assert "Bigram (add-0.1)" in shown.stdout
