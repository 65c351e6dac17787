"""The public contract: what a plugin imports from `bench`, and the import paths it keeps."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import bench

PACKAGE = Path(bench.__file__).resolve().parent
CONTRACT = [
    "LanguageModel",
    "TrainingContext",
    "ScoredTokens",
    "EvalProtocol",
    "Options",
    "OutputLayer",
    "OutputLayerChoice",
    "OutputNetwork",
    "RunInfo",
    "SplitEvaluation",
    "Tokenizer",
    "TokenizedSplit",
    "Vocabulary",
    "CorpusSpec",
    "SplitFile",
    "hookimpl",
]


def test_a_plugin_imports_everything_from_bench():
    from bench import LanguageModel, Options, ScoredTokens, TrainingContext, hookimpl

    assert LanguageModel.__module__ == "bench.api.model"
    assert TrainingContext.__module__ == "bench.api.model"
    assert Options.__module__ == "bench.configuration.options"
    assert ScoredTokens.__module__ == "bench.api.contract_types"
    assert callable(hookimpl)
    for name in CONTRACT:
        assert name in bench.__all__ and getattr(bench, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        bench.Nothing  # noqa: B018


def test_importing_bench_does_not_import_torch_or_the_runner():
    code = (
        "import sys, bench; from bench import LanguageModel, Options, ScoredTokens, RunInfo; "
        "print(sorted(m for m in ('torch', 'bench.run.runner', 'bench.api.plugin_host', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_old_import_paths_still_work():
    from bench.evaluation import Evaluation
    from bench.model import EvalProtocol, LanguageModel, ScoredTokens
    from bench.options import Options
    from bench.output_layers import OutputLayer, OutputLayerChoice
    from bench.runner import RunInfo

    assert (
        LanguageModel,
        ScoredTokens,
        EvalProtocol,
        Options,
        OutputLayer,
        OutputLayerChoice,
        RunInfo,
    ) == (
        bench.LanguageModel,
        bench.ScoredTokens,
        bench.EvalProtocol,
        bench.Options,
        bench.OutputLayer,
        bench.OutputLayerChoice,
        bench.RunInfo,
    )
    assert Evaluation is bench.SplitEvaluation


def test_the_renamed_torch_module_warns_and_still_works():
    sys.modules.pop("bench.output_layer_module", None)
    with pytest.warns(DeprecationWarning, match="bench.output_layer_module is deprecated"):
        from bench.output_layer_module import OutputModule, chunked_target_logprobs
    from bench.api.output_network import chunked_target_logprobs as current

    assert OutputModule is bench.OutputNetwork and chunked_target_logprobs is current
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from bench import OutputNetwork  # noqa: F401  the new path is silent


def test_optional_capabilities_are_declared_on_the_contract():
    from bench_plugins.recurrent import LSTMModel
    from bench_plugins.unigram import UnigramModel

    for capability in ("load_checkpoint", "generate", "network"):
        assert LSTMModel.supports(capability)
        assert not UnigramModel.supports(capability)
    with pytest.raises(ValueError, match="unknown capability 'fly'"):
        UnigramModel.supports("fly")
    from bench.errors import BenchError
    from bench.tokenization.tokens import Vocabulary

    model = UnigramModel(UnigramModel.Options(), Vocabulary(["<eos>", "<unk>", "a"]), "cpu")
    assert model.network is None
    with pytest.raises(BenchError, match="cannot generate text"):
        model.generate([2], 3)
    with pytest.raises(BenchError, match="cannot load checkpoints"):
        model.load_checkpoint(Path("best.pt"))
