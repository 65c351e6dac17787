"""The hooks a bench plugin can implement.

A plugin is a module (or object) with functions marked ``@bench.hookimpl`` whose names
match the specs below; it is found through the ``bench.plugins`` entry-point group.
Registration hooks receive a ``register`` callback so the core owns naming, aliases and
duplicate checks. Observer hooks see a run's lifecycle and metrics, as the records of
:mod:`bench.api.contract_types`. Hooks only ever gain arguments, and pluggy passes an implementation
only the arguments it names, so plugins written against an older bench keep working.

docs/hooks.md documents every hook with the signature below (a test compares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click

    from bench.api.contract_types import RunInfo, SplitEvaluation
    from bench.api.eval_method import EvalMethod
    from bench.api.model import LanguageModel
    from bench.api.output_layer_base import OutputLayer
    from bench.corpora import CorpusSpec
    from bench.tokenization.tokenizers import Tokenizer

PROJECT = "bench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterModel(Protocol):
    def __call__(
        self, name: str, model_class: type[LanguageModel], *, aliases: tuple[str, ...] = ()
    ) -> None: ...


class RegisterCorpus(Protocol):
    def __call__(self, spec: CorpusSpec) -> None: ...


class RegisterTokenizer(Protocol):
    def __call__(
        self, name: str, tokenizer_class: type[Tokenizer], *, aliases: tuple[str, ...] = ()
    ) -> None: ...


@hookspec
def register_models(register: RegisterModel) -> None:
    """Register model plugins.

    Call ``register(name, model_class, aliases=(...))`` once per model, where
    ``model_class`` subclasses :class:`bench.LanguageModel`. ``bench run --plugin
    NAME`` then builds it with its validated ``Options``. Names must be unique across all
    installed plugins; a clash is reported by ``bench plugins`` and the later one is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def register_corpora(register: RegisterCorpus) -> None:
    """Register corpora by name.

    Call ``register(spec)`` with a :class:`bench.CorpusSpec`: where each split
    comes from (URL, optional archive member), its sha256, expected token counts, licence
    and citation. ``bench corpora fetch NAME`` downloads and verifies it.

    .. versionadded:: 0.1
    """


@hookspec
def register_tokenizers(register: RegisterTokenizer) -> None:
    """Register tokenizers.

    Call ``register(name, tokenizer_class, aliases=(...))`` with a subclass of
    :class:`bench.Tokenizer`. A tokenizer learns its vocabulary from the train
    split only and turns each split into a stream with one end-of-sentence per line.

    .. versionadded:: 0.1
    """


class RegisterOutputLayer(Protocol):
    def __call__(
        self, name: str, layer_class: type[OutputLayer], *, aliases: tuple[str, ...] = ()
    ) -> None: ...


@hookspec
def register_output_layers(register: RegisterOutputLayer) -> None:
    """Register output layers that neural models can train with (``--set output=NAME``).

    Call ``register(name, layer_class, aliases=(...))`` with a subclass of
    :class:`bench.OutputLayer`: its ``Options`` (``--set output.KEY=VALUE``),
    whether its training loss is exact, and a ``build(hidden_size, vocab_size, counts,
    options)`` classmethod returning a :class:`bench.OutputNetwork`.
    Keep torch imports inside ``build`` so that listing layers stays instant.

    .. versionadded:: 0.1
    """


class RegisterEvalMethod(Protocol):
    def __call__(
        self, name: str, method_class: type[EvalMethod], *, aliases: tuple[str, ...] = ()
    ) -> None: ...


@hookspec
def register_eval_methods(register: RegisterEvalMethod) -> None:
    """Register evaluation methods for ``bench rescore RUN --method NAME``.

    Call ``register(name, method_class, aliases=(...))`` with a subclass of
    :class:`bench.EvalMethod`: something done to a trained model while it scores (a
    cache, dynamic evaluation). Its ``score`` yields log-probabilities of every token
    from what came before that token only; the core checks exactly-once scoring, tries
    the method's ``search`` grid on the validation split, scores test once with the
    settings chosen there, and stores the result as a new run that names its parent.
    Keep torch imports inside ``score`` so that ``bench rescore --help`` stays instant.

    .. versionadded:: 0.2
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``bench`` command line (a click group).

    .. versionadded:: 0.1
    """


@hookspec
def run_started(run: RunInfo) -> None:
    """A run has been recorded as ``running`` and is about to load data and train.

    ``run`` carries the run id, plugin, corpus, device and the full configuration.

    .. versionadded:: 0.1
    """


@hookspec
def log_metrics(
    run: RunInfo, metrics: dict[str, float], step: int | None, epoch: int | None
) -> None:
    """A model logged training metrics (loss, learning rate, valid perplexity, ...).

    They are already stored in bench's database; implement this to send them elsewhere.

    .. versionadded:: 0.1
    """


@hookspec
def run_finished(
    run: RunInfo,
    status: str,
    evaluations: dict[str, SplitEvaluation],
    error: str | None,
    summary: dict[str, Any],
) -> None:
    """A run ended as ``finished``, ``failed`` or ``interrupted``.

    ``evaluations`` maps split names to their :class:`bench.SplitEvaluation`
    (empty when the run did not get that far); ``error`` is the message when it failed;
    ``summary`` holds throughput, wall time, peak memory and parameter count.

    .. versionadded:: 0.1
    """
