"""The model plugin ``rnn-maxent``: an Elman RNN with hashed direct n-gram connections.

Mikolov's RNNME (rnnlm's ``-direct`` / ``-direct-order``): besides the recurrent path,
the n-gram history of each position (the previous 0, 1, ..., N-1 tokens) is hashed into
one shared weight table whose entries are added straight to the output logits, a
maximum-entropy n-gram model trained jointly with the RNN. Everything else (cell,
sizes, training loop, stream scoring, sampling) is the ``rnn`` plugin's. This module
stays free of torch imports; the network lives in ``bench_plugins.maxent_network``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from bench import hookimpl
from bench.configuration.options import Options
from bench.errors import BenchError
from bench_plugins.recurrent import RNNModel, RNNOptions

if TYPE_CHECKING:
    import numpy as np

    from bench.api.output_layers import OutputLayer

# The hash works modulo this prime (see maxent_network), so no table can be larger.
MAX_TABLE_SIZE = 2**31 - 1


class MaxEntOptions(RNNOptions):
    maxent_order: int = Field(
        3,
        ge=1,
        description="order N of the direct n-gram connections: "
        "orders 1..N, 1 is a per-word bias, 2 adds the previous token, ...",
    )
    maxent_size: int = Field(
        2**22,
        ge=1,
        le=MAX_TABLE_SIZE,
        description="hash table entries shared by all orders (rnnlm's "
        "-direct, given there in millions); vocab-size more are "
        "allocated so a word slice never wraps",
    )

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        super().check_output_layer(layer, layer_options)
        # the direct weights are added to logits before an exact softmax: the full one,
        # or both levels of the class softmax (as Mikolov's RNNME); sampled and other
        # approximate layers never form those logits
        if self.output not in ("full", "class"):
            raise BenchError(
                f"rnn-maxent adds its n-gram weights to the logits of an exact "
                f"softmax (output=full or class); output={self.output!r} is not "
                f"supported"
            )


class MaxEntRNNModel(RNNModel):
    """Elman RNN + hashed direct n-gram (maximum-entropy) connections, as Mikolov's RNNME."""

    Options = MaxEntOptions

    def build_network(self, counts: np.ndarray | None) -> Any:
        from bench_plugins.recurrent.maxent_network import MaxEntNetwork

        return MaxEntNetwork(len(self.vocab), self.options, self.vocab.eos_id, counts).to(
            self.device
        )

    def label(self) -> str:
        return f"{super().label()} + MaxEnt {self.options.maxent_order}-gram"


@hookimpl
def register_models(register: Any) -> None:
    register("rnn-maxent", MaxEntRNNModel, aliases=("rnnme",))
