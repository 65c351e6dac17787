"""What an output-layer plugin registers: the :class:`OutputLayer` class, and the check the
plugin host makes before registering one.

The light half of the output-layer contract (no torch here); the choice of a layer in a
model's options is :mod:`bench.api.output_layers`, the torch half
:mod:`bench.api.output_network`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bench.configuration.options import Options
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.api.output_network import OutputNetwork


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
        """The torch module (a :class:`bench.api.output_network.OutputNetwork`).

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


def check_registrable(name: str, layer: Any) -> None:
    """What the host checks before registering an output layer."""
    if not (isinstance(layer, type) and issubclass(layer, OutputLayer)):
        raise BenchError(f"output layer {name!r} must be a subclass of bench.OutputLayer")
