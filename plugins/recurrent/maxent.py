"""The model plugin ``rnn-maxent``: an Elman RNN with hashed direct n-gram connections.

Mikolov's RNNME (rnnlm's ``-direct`` / ``-direct-order``): besides the recurrent path,
the n-gram history of each position (the previous 0, 1, ..., N-1 tokens) is hashed into
one shared weight table whose entries are added straight to the output logits, a
maximum-entropy n-gram model trained jointly with the RNN. Everything else (cell,
sizes, training loop, stream scoring, sampling) is the ``rnn`` plugin's. This module
stays free of torch imports; the network lives in ``bench_plugins.recurrent.maxent_network``,
the options in ``bench_plugins.recurrent.options``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench import LanguageModel, hookimpl
from bench_plugins.recurrent import RNNModel
from bench_plugins.recurrent.options import MaxEntOptions

if TYPE_CHECKING:
    import numpy as np


class MaxEntRNNModel(RNNModel):
    """Elman RNN + hashed direct n-gram (maximum-entropy) connections, as Mikolov's RNNME."""

    Options = MaxEntOptions
    # its probabilities also come from the direct n-gram connections, not from the hidden
    # state alone: the continuous cache's scoring with hidden states is not offered
    score_with_hidden = LanguageModel.score_with_hidden

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
