"""Output layers as a plugin point: the light half of the contract (no torch here).

A neural model plugin turns features (one vector per position) into a distribution over
the vocabulary with an *output layer*. bench lets the user choose it with
``--set output=NAME`` and ``--set output.KEY=VALUE``; plugins add layers through the
``register_output_layers`` hook.

Two halves, so that listing layers (``bench output-layers``) never imports torch:

- :class:`OutputLayer` is what a plugin registers: a small class with
  its ``Options``, a description, whether its training loss is the exact
  log-likelihood, and a ``build`` classmethod that imports torch lazily and returns
  the module that does the work.
- :class:`bench.api.output_network.OutputNetwork` is that torch module: the training
  objective, exact normalised log-probabilities of targets, and the full distribution.

:class:`OutputLayerChoice` is the options mixin a model plugin adds to take part; the
plugin host validates the chosen layer's options against that layer (see
:meth:`bench.api.plugin_host.PluginHost.model_options`). :class:`OutputLayer` itself is
defined in :mod:`bench.api.output_layer_base` (the plugin host checks registrations
against it without this module) and imported here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from bench.api.output_layer_base import OutputLayer
from bench.configuration.options import Options, validate_options

if TYPE_CHECKING:
    from bench.api.plugin_host import PluginHost
    from bench.api.registry import Registry

DEFAULT_OUTPUT = "full"


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

        The plugin host resolves a run's options (``PluginHost.model_options`` calls
        :meth:`resolve`). Options built directly (a script, a test) are resolved on first
        use against the installed plugins' layers.
        """
        if self._layer is None:
            resolve_output_layer(self, installed_output_layers())
        return self._layer, self._layer_options

    def resolve(self, host: PluginHost) -> None:
        """Validate the chosen layer's options against the layers ``host`` knows."""
        resolve_output_layer(self, host.output_layers)

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


def installed_output_layers() -> Registry[type[OutputLayer]]:
    """The layers of the installed plugins (the process-wide plugin host's): what options
    built outside a run resolve against."""
    from bench.api.plugin_host import get_host

    return get_host().output_layers


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
