"""Output layers as a plugin point: the light half of the contract (no torch here).

A neural model plugin turns features (one vector per position) into a distribution over
the vocabulary with an *output layer*. bench lets the user choose it with
``--set output=NAME`` and ``--set output.KEY=VALUE``; plugins add layers through the
``register_output_layers`` hook.

Two halves, so that listing layers (``bench output-layers``) never imports torch:

- :class:`OutputLayer` (this module) is what a plugin registers: a small class with
  its ``Options``, a description, whether its training loss is the exact
  log-likelihood, and a ``build`` classmethod that imports torch lazily and returns
  the module that does the work.
- :class:`bench.output_network.OutputNetwork` is that torch module: the training
  objective, exact normalised log-probabilities of targets, and the full distribution.

:class:`OutputLayerChoice` is the options mixin a model plugin adds to take part; the
plugin host validates the chosen layer's options against that layer (see
:meth:`bench.plugins.PluginHost.model_options`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr

from bench.configuration.options import Options, validate_options
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.api.output_network import OutputNetwork
    from bench.api.registry import Registry

DEFAULT_OUTPUT = "full"


class OutputLayer:
    """Base class of what ``register_output_layers`` registers.

    Class attributes:
        Options: the layer's pydantic options (``--set output.KEY=VALUE``).
        description: one line for ``bench output-layers``; defaults to the docstring's first.
        exact: True when the training loss is the exact negative log-likelihood (full,
            adaptive and class softmax); False for sampling approximations, whose models
            are always scored with exact normalised probabilities instead.
        tieable: True when the built module has a single ``weight`` [vocab, hidden] used
            for every word, so a model may tie it to its input embedding.
        scored_by: for an approximate layer, how its model is scored (shown in labels).
    """

    Options: ClassVar[type[Options]] = Options
    description: ClassVar[str] = ""
    exact: ClassVar[bool] = True
    tieable: ClassVar[bool] = False
    scored_by: ClassVar[str] = "full softmax"

    @classmethod
    def build(
        cls, hidden_size: int, vocab_size: int, counts: Sequence[float] | None, options: Options
    ) -> OutputNetwork:
        """The torch module (a :class:`bench.output_network.OutputNetwork`).

        ``counts`` are the train split's token counts (index = token id). It is None when
        the module is rebuilt to load a checkpoint: everything derived from the counts
        (proposal distribution, frequency order, classes) must then be a buffer, so the
        checkpoint restores it. Import torch inside this method, not at module level.
        """
        raise NotImplementedError

    @classmethod
    def describe(cls, options: Options, vocab_size: int) -> str:
        """Short words for labels, e.g. "sampled softmax 1024"; defaults to the class name."""
        return cls.__name__

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


class OutputLayerChoice(Options):
    """Options mixin for model plugins whose output layer is a user's choice.

    ``output`` names a registered layer; ``output_options`` holds its options. Once the
    plugin host has resolved them, ``output_options`` is the validated options with
    defaults filled in (so the stored configuration and its hash show them) and
    :meth:`output_layer` returns the layer class with its options object.
    """

    output: str = Field(
        DEFAULT_OUTPUT,
        description="output layer (bench output-layers): full, "
        "sampled, nce, blackout, adaptive, class, or a plugin's",
    )
    output_options: dict[str, Any] = Field(
        default_factory=dict, description="the output layer's options (--set output.KEY=VALUE)"
    )

    _layer: Any = PrivateAttr(default=None)
    _layer_options: Any = PrivateAttr(default=None)

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        """Reject combinations the model cannot build (override; raise BenchError)."""

    def output_layer(self) -> tuple[type[OutputLayer], Options]:
        """The chosen layer class and its validated options.

        The plugin host resolves a run's options (``PluginHost.model_options``), so it
        knows every installed plugin's layers. Options built directly (a script, a test)
        are resolved on first use against bench's built-in layers only; a plugin's layer
        needs the host (or :func:`resolve_output_layer` with its registry).
        """
        if self._layer is None:
            resolve_output_layer(self, builtin_output_layers())
        return self._layer, self._layer_options

    def changed_output_options(self) -> dict[str, Any]:
        """The output options that differ from the chosen layer's defaults."""
        layer, layer_options = self.output_layer()
        defaults = layer.Options().model_dump()
        return {
            key: value
            for key, value in layer_options.model_dump().items()
            if defaults.get(key) != value
        }


def resolve_output_layer(
    options: OutputLayerChoice, registry: Registry[type[OutputLayer]]
) -> OutputLayerChoice:
    """Validate ``options.output_options`` against the chosen layer, in place.

    Unknown layers, unknown keys and bad values raise a BenchError that names the layer.
    ``output`` becomes the layer's registered name (not an alias) and ``output_options``
    the full validated dict (defaults filled in).
    """
    entry = registry.entry(options.output)
    layer = entry.item
    layer_options = validate_options(
        layer.Options, dict(options.output_options), owner=f"output layer {entry.name}"
    )
    options.check_output_layer(layer, layer_options)
    # stored by canonical name (an alias gives the same configuration hash) and in full
    options.output = entry.name
    options.output_options = layer_options.model_dump(mode="json")
    options._layer, options._layer_options = layer, layer_options
    return options


@functools.cache
def builtin_output_layers() -> Registry[type[OutputLayer]]:
    """The layers bench itself ships (full, sampled, nce, ...), without loading any plugin
    host: what options built outside a run resolve against."""
    from bench.api.registry import Registry
    from bench_plugins import output_layers as output_builtin

    registry: Registry[type[OutputLayer]] = Registry("output layer")
    output_builtin.register_output_layers(
        lambda name, layer, *, aliases=(): registry.add(
            name, layer, plugin="output-layers", aliases=tuple(aliases)
        )
    )
    return registry


def output_label(options: Options, vocab_size: int) -> str:
    """What a model label adds for its output layer: nothing for the full softmax, else
    the layer and how the model is scored, e.g. ", sampled softmax 1024 (scored by full
    softmax)" or ", adaptive softmax 2000 (exact)"."""
    if not isinstance(options, OutputLayerChoice):
        return ""
    layer, layer_options = options.output_layer()
    if options.output == DEFAULT_OUTPUT:
        return ""
    how = "exact" if layer.exact else f"scored by {layer.scored_by}"
    return f", {layer.describe(layer_options, vocab_size)} ({how})"


def check_registrable(name: str, layer: Any) -> None:
    """What the host checks before registering an output layer."""
    if not (isinstance(layer, type) and issubclass(layer, OutputLayer)):
        raise BenchError(f"output layer {name!r} must be a subclass of bench.OutputLayer")
