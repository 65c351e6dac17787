"""Plugin objects for the plugin-system tests, loaded through fake entry points."""

import math

import numpy as np

from bench import hookimpl
from bench.model import LanguageModel, ScoredTokens
from bench.options import Options


class UniformModel(LanguageModel):
    """Uniform distribution over the vocabulary."""

    def score(self, split, protocol):
        yield ScoredTokens.of(np.arange(len(split)), np.full(len(split), -math.log(len(self.vocab))))


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
    events: list = []

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


class Failing:
    @hookimpl
    def register_models(self, register):
        register("failing", FailingModel)
        register("interrupted", InterruptedModel)


failing = Failing()
