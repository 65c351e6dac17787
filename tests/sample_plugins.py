"""Plugin objects for the plugin-system tests, loaded through fake entry points."""

import math
from typing import ClassVar

import numpy as np

from bench import LanguageModel, Options, ScoredTokens, hookimpl


class UniformModel(LanguageModel):
    """Uniform distribution over the vocabulary."""

    def score(self, split, protocol):
        yield ScoredTokens.of(
            np.arange(len(split)), np.full(len(split), -math.log(len(self.vocab)))
        )


class Good:
    @hookimpl
    def register_models(self, register):
        register("sample-uniform", UniformModel, aliases=("uniform",))


class BrokenRegister:
    @hookimpl
    def register_models(self, register):
        raise RuntimeError("boom while registering")


class Clash:
    @hookimpl
    def register_models(self, register):
        register("unigram", UniformModel)


class NotAModel:
    @hookimpl
    def register_models(self, register):
        register("not-a-model", Options)


class Observer:
    events: ClassVar[list] = []

    @hookimpl
    def run_started(self, run):
        self.events.append(("started", run.run_id))

    @hookimpl
    def log_metrics(self, run, metrics, epoch):  # names only the arguments it needs
        self.events.append(("metrics", epoch, sorted(metrics)))

    @hookimpl
    def run_finished(self, run, status, evaluations):
        self.events.append(("finished", status, sorted(evaluations)))


# entry points name these instances (pluggy calls the bound methods)
good = Good()
broken_register = BrokenRegister()
clash = Clash()
not_a_model = NotAModel()
observer = Observer()


class FailingModel(UniformModel):
    """Raises while training, like a model with a bug."""

    def fit(self, context):
        context.log_metrics({"train_loss": 1.5}, epoch=1)
        raise RuntimeError("exploded in epoch 1")


class InterruptedModel(UniformModel):
    """Behaves as if the user pressed Ctrl-C during training."""

    def fit(self, context):
        raise KeyboardInterrupt


class BrokenInitModel(UniformModel):
    """Raises while being built, like a plugin with a bug in __init__."""

    def __init__(self, options, vocab, device):
        raise ValueError("hidden size must be even")


class WrongScoreModel(UniformModel):
    """Yields a bare number from score instead of ScoredTokens."""

    def score(self, split, protocol):
        import numpy as np

        yield np.float64(0.5)


class Failing:
    @hookimpl
    def register_models(self, register):
        register("failing", FailingModel)
        register("interrupted", InterruptedModel)
        register("broken-init", BrokenInitModel)
        register("wrong-score", WrongScoreModel)


failing = Failing()


# --------------------------------------------------------------- an output-layer plugin
from pydantic import Field  # noqa: E402

from bench import OutputLayer  # noqa: E402


class CountingOptions(Options):
    scale: float = Field(1.0, gt=0, description="multiplies the logits (a temperature)")


class CountingSoftmax(OutputLayer):
    """A full softmax with a fixed temperature that counts how bench calls it."""

    Options = CountingOptions
    exact = True
    calls: ClassVar[dict] = {}

    @classmethod
    def build(cls, hidden_size, vocab_size, counts, options):
        import torch
        import torch.nn.functional as F

        from bench import OutputNetwork

        calls = cls.calls
        calls["built_with_counts"] = counts is not None

        class Module(OutputNetwork):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(hidden_size, vocab_size)

            def target_logprobs(self, features, targets):
                calls["target_logprobs"] = calls.get("target_logprobs", 0) + 1
                return self.log_probs(features).gather(1, targets.unsqueeze(1)).squeeze(1)

            def log_probs(self, features):
                return F.log_softmax(self.linear(features) * options.scale, dim=-1)

            def training_loss(self, features, targets):
                calls["training_loss"] = calls.get("training_loss", 0) + 1
                return super().training_loss(features, targets)

        return Module()

    @classmethod
    def describe(cls, options, vocab_size):
        return f"counting softmax x{options.scale:g}"


class OutputLayerPlugin:
    @hookimpl
    def register_output_layers(self, register):
        register("counting", CountingSoftmax)


output_layer_plugin = OutputLayerPlugin()


class Misspelled:
    """A plugin whose hook name has a typo: bench must say so, not ignore it."""

    @hookimpl
    def register_model(self, register):
        register("never-registered", UniformModel)

    @hookimpl
    def run_started(self, run):
        raise AssertionError("a plugin with an unknown hook is unregistered")


misspelled = Misspelled()


class Tracing:
    @hookimpl
    def register_models(self, register):
        register("traced-uniform", UniformModel)


tracing = Tracing()
