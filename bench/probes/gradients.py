"""The vanishing-gradient picture, measured: ‖∂J(t)/∂h(t−k)‖ for k = 1…K on real tokens.

Indices follow stream scoring (``bench.tokenization.batching``): step ``t`` reads the input at
position ``t`` of the split (the token before it, or an implicit end-of-sentence for
``t = 0``) and predicts token ``t``.

- ``h(t)`` is the recurrent network's hidden state after step ``t``: the ``h`` of **every
  layer, concatenated** (an LSTM's ``h``, not its cell; a GRU's or Elman cell's state).
  For an LSTM the cell state ``c(t)`` is measured too, as a second series.
- ``J(t) = −log p(token t | tokens before it)``, the loss scored at position ``t``.
- ``∂J(t)/∂h(t−k)`` is the gradient with respect to the state *tensor* ``h(t−k)`` that
  step ``t−k+1`` receives (for an LSTM, with ``c(t−k)`` as a separate input): exactly what
  truncated BPTT sends back through ``k`` steps of the recurrence.

For each of ``positions`` positions ``t`` spread evenly over the split, the state is
carried from the start of the split up to ``h(t−K)`` without gradients (as when scoring),
then the ``K`` steps up to ``t`` run one at a time with gradients, and one backward pass
gives every ``∂J(t)/∂h(t−k)``. Positions are independent columns of one batch, so one
backward pass serves them all. The result is the mean over positions of the gradient's
L2 norm, for each ``k``. The network is in eval mode (no dropout), its weights untouched.

The network must follow the recurrent network contract of ``bench_plugins.recurrent.network``:
``forward(inputs [T, B], state) -> (features, state)`` and ``target_logprobs(inputs,
targets, state) -> (logprobs [T, B], state)``, with a state that is a tensor (GRU, Elman)
or an ``(h, c)`` pair (LSTM) of shape ``[layers, batch, hidden]``. torch is imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import BenchError


@dataclass(frozen=True)
class GradientNorms:
    """Mean gradient norms per distance ``k`` (``distances`` is 1…K)."""

    distances: np.ndarray
    hidden: np.ndarray
    cell: np.ndarray | None  # LSTM cell state; None for cells without one
    positions: np.ndarray  # the positions t averaged over (indices into the split)

    def series(self) -> dict[str, np.ndarray]:
        """``{"h": ..., "c": ...}`` (``c`` only for an LSTM), in the order they are shown."""
        return {"h": self.hidden} if self.cell is None else {"h": self.hidden, "c": self.cell}


def choose_positions(length: int, distance: int, count: int, split: str = "split") -> np.ndarray:
    """``count`` distinct positions spread evenly over ``[distance, length − 1]``.

    Position ``t`` needs ``distance`` steps before it (``h(t − K)`` must exist), so the
    first usable one is ``t = K``. Deterministic: the same split gives the same positions.
    """
    usable = length - distance
    if usable < 1:
        raise BenchError(
            f"distance {distance} is too large for the {split} split "
            f"({length:,} tokens): use at most {max(length - 1, 0):,}"
        )
    if count > usable:
        raise BenchError(
            f"{count:,} positions do not fit the {split} split with distance "
            f"{distance} ({length:,} tokens leave {usable:,} usable positions)"
        )
    # count <= usable keeps the spacing at 1 or more, so rounding never merges two positions
    return np.linspace(distance, length - 1, count).round().astype(np.int64)


def stream_inputs(ids: np.ndarray, eos_id: int) -> np.ndarray:
    """What step ``t`` reads: the split shifted right by one, end-of-sentence in front."""
    inputs = np.empty_like(ids)
    inputs[0] = eos_id
    inputs[1:] = ids[:-1]
    return inputs


def measure_gradient_norms(
    network: Any,
    ids: np.ndarray,
    eos_id: int,
    *,
    distance: int,
    positions: int,
    device: str = "cpu",
    split: str = "split",
) -> GradientNorms:
    """Mean ‖∂J(t)/∂h(t−k)‖ for k = 1…``distance`` over ``positions`` positions of ``ids``.

    See the module docstring for what ``h``, ``J`` and the positions are.
    """
    import torch

    ids = np.asarray(ids, dtype=np.int64)
    chosen = choose_positions(len(ids), distance, positions, split)
    inputs = torch.as_tensor(stream_inputs(ids, eos_id), device=device)
    was_training = network.training
    network.eval()  # no dropout: the gradient of the model as it scores
    try:
        start_state = _carried_states(network, inputs, chosen - distance)
        hidden, cell = _backprop_norms(
            network, inputs, torch.as_tensor(ids, device=device), chosen, distance, start_state
        )
    finally:
        network.train(was_training)
    return GradientNorms(
        distances=np.arange(1, distance + 1), hidden=hidden, cell=cell, positions=chosen
    )


def _carried_states(network: Any, inputs: Any, ends: np.ndarray) -> Any:
    """The state after step ``e`` for each ``e`` in ``ends`` (ascending), batched along dim 1.

    One pass over the stream from its start, without gradients, as scoring carries it.
    """
    import torch

    collected = []
    state = None
    done = 0
    with torch.no_grad():
        for end in ends.tolist():
            _, state = network(inputs[done : end + 1].unsqueeze(1), state)
            done = end + 1
            collected.append(_map_state(state, torch.Tensor.clone))
    return _stack_states(collected)


def _backprop_norms(
    network: Any, inputs: Any, targets: Any, chosen: np.ndarray, distance: int, start_state: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run steps t−K+1…t with gradients from the carried h(t−K); norms per k (k=1 first)."""
    import torch

    steps = torch.as_tensor(chosen, device=inputs.device)
    with torch.enable_grad(), _without_cudnn():
        state = _map_state(start_state, lambda s: s.detach().requires_grad_())
        states = [state]  # states[j] is the state after step t − K + j
        for j in range(1, distance):
            _, state = network(inputs[steps - distance + j].unsqueeze(0), state)
            states.append(state)
        logprobs, _ = network.target_logprobs(
            inputs[steps].unsqueeze(0), targets[steps].unsqueeze(0), state
        )
        loss = -logprobs.sum()  # columns are independent: the sum's gradient is each J(t)'s
        hiddens = [_hidden_of(s) for s in states]
        cells = [_cell_of(s) for s in states] if _cell_of(states[0]) is not None else []
        grads = torch.autograd.grad(loss, hiddens + cells)
    norms = [_mean_column_norm(g) for g in grads]
    hidden = np.array(norms[:distance][::-1])  # states[K − k] is h(t − k)
    cell = np.array(norms[distance:][::-1]) if cells else None
    return hidden, cell


@contextmanager
def _without_cudnn() -> Iterator[None]:
    """cuDNN's RNN backward refuses eval mode; torch's own kernels give the same gradient."""
    import torch

    with torch.backends.cudnn.flags(enabled=False):
        yield


def _mean_column_norm(gradient: Any) -> float:
    """[layers, batch, hidden] -> the L2 norm of each column's layers concatenated, averaged."""
    per_column = gradient.double().transpose(0, 1).reshape(gradient.size(1), -1).norm(dim=1)
    return float(per_column.mean())


def _hidden_of(state: Any) -> Any:
    return state[0] if isinstance(state, tuple) else state


def _cell_of(state: Any) -> Any:
    return state[1] if isinstance(state, tuple) else None


def _map_state(state: Any, fn: Any) -> Any:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _stack_states(states: list[Any]) -> Any:
    import torch

    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, dim=1) for parts in zip(*states, strict=True))
    return torch.cat(states, dim=1)
