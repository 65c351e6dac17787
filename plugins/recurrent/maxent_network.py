"""The torch side of ``rnn-maxent``: hashed direct n-gram weights added to an RNN's logits.

As in Mikolov's rnnlm, for every order n = 1..N the n-1 tokens before a position (none
for n = 1) are hashed to a base index ``b_n < maxent_size`` into one shared table, and
the logit of word ``w`` gains ``table[b_n + w]``, summed over the orders::

    table  [0 ...................... maxent_size) [padding: vocab_size entries]
                 b_2 ┌── V weights ──┐
                     └ history "the" ┘     a history's weights for all V words are
           b_3 ┌── V weights ──┐           one contiguous slice; the padding keeps a
               └ "of the" ─────┘           slice that starts near the end whole

Different histories' slices may overlap (hash collisions, as in rnnlm); the table is
zero-initialised, so the model starts as the plain RNN. The last N-1 tokens travel in the
recurrent state, ``(rnn state, history [N-1, batch])``, so the n-grams continue across
BPTT windows and scoring chunks; a fresh state's history is all end-of-sentence, the
implicit token a scored stream starts after.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench_plugins.output_layers.factored import ClassSoftmaxModule
from bench_plugins.recurrent.maxent import MAX_TABLE_SIZE, MaxEntOptions
from bench_plugins.recurrent.network import RecurrentNetwork

# A prime: keys stay below 2**31, so a key plus a multiplier (< 2**31) times a token id
# (< 2**31) fits in int64 and hashing needs no overflow tricks.
HASH_MODULUS = MAX_TABLE_SIZE
HASH_SEED = 20110527  # fixed; the drawn constants are also saved in checkpoints as buffers

# On CPU a Python loop of contiguous slice additions beats building [positions, N, V]
# index tensors once slices are this wide (measured on the 2-core development machine:
# V = 10,000, order 3: 55 ms against 335 ms forward; at V = 256 the index tensors win).
LOOP_MIN_WIDTH = 512
# Index elements per chunk on the vectorised path (bounds its int64 index memory).
CHUNK_ELEMENTS = 1 << 24


def hash_bases(
    context: torch.Tensor, multipliers: torch.Tensor, offsets: torch.Tensor, size: int
) -> torch.Tensor:
    """Base indexes ``[T, batch, N]`` in ``[0, size)`` of the T positions that follow.

    ``context`` ``[N-1+T, batch]`` is the N-1 tokens before the window, then the window's
    inputs; position t is predicted after input t, so its order-n history is the n-1
    tokens ending there. The order-n key is a random linear combination of those tokens
    modulo a prime (one multiplier per distance, one offset per order), reduced to
    ``size``.
    """
    order = offsets.numel()
    steps = context.size(0) - (order - 1)
    key = torch.zeros_like(context[:steps])
    bases = []
    for n in range(order):
        if n:  # extend the order-n key with the n-th token back
            back = context[order - n : order - n + steps]
            key = (key + multipliers[n - 1] * back) % HASH_MODULUS
        bases.append((key + offsets[n]) % HASH_MODULUS % size)
    return torch.stack(bases, dim=-1)


def slice_sum(
    table: torch.Tensor, bases: torch.Tensor, width: int, *, vectorized: bool | None = None
) -> torch.Tensor:
    """``out[p] = sum_n table[bases[p, n] : bases[p, n] + width]``, ``[positions, width]``.

    Differentiable in ``table``; the backward pass adds each row of the output gradient
    to the slices it came from. ``vectorized`` picks the implementation (default: index
    tensors on accelerators and for narrow slices, a loop of slice additions otherwise);
    both give the same result.
    """
    if vectorized is None:
        vectorized = table.device.type != "cpu" or width < LOOP_MIN_WIDTH
    return _SliceSum.apply(table, bases, width, vectorized)


class _SliceSum(torch.autograd.Function):
    """Saves only the bases: the [positions, N, width] indexes are rebuilt when needed."""

    @staticmethod
    def forward(
        ctx: Any, table: torch.Tensor, bases: torch.Tensor, width: int, vectorized: bool
    ) -> torch.Tensor:
        ctx.save_for_backward(bases)
        ctx.width, ctx.vectorized, ctx.table_shape = width, vectorized, table.shape
        out = table.new_zeros(bases.size(0), width)
        if vectorized:
            for rows, chunk in _chunks(bases, width):
                out[rows] = table[_slice_indexes(chunk, width)].sum(1)
        else:
            for out_row, row_bases in zip(out, bases.tolist(), strict=True):
                for base in row_bases:
                    out_row += table[base : base + width]
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (bases,) = ctx.saved_tensors
        width, grad = ctx.width, grad.contiguous()
        grad_table = grad.new_zeros(ctx.table_shape)
        if ctx.vectorized:
            for rows, chunk in _chunks(bases, width):
                source = grad[rows].unsqueeze(1).expand(-1, chunk.size(1), -1)
                grad_table.index_add_(
                    0, _slice_indexes(chunk, width).reshape(-1), source.reshape(-1)
                )
        else:
            for grad_row, row_bases in zip(grad, bases.tolist(), strict=True):
                for base in row_bases:
                    grad_table[base : base + width].add_(grad_row)  # no write-back copy
        return grad_table, None, None, None


def _chunks(bases: torch.Tensor, width: int) -> Any:
    step = max(1, CHUNK_ELEMENTS // max(1, bases.size(1) * width))
    for start in range(0, bases.size(0), step):
        yield slice(start, start + step), bases[start : start + step]


def _slice_indexes(bases: torch.Tensor, width: int) -> torch.Tensor:
    return bases.unsqueeze(-1) + torch.arange(width, device=bases.device)


class DirectConnections(nn.Module):
    """The hashed n-gram weight table; maps a context to logit contributions."""

    def __init__(self, vocab_size: int, order: int, size: int) -> None:
        super().__init__()
        self.vocab_size, self.order, self.size = vocab_size, order, size
        self.weight = nn.Parameter(torch.zeros(size + vocab_size))  # zero, as in rnnlm
        generator = torch.Generator().manual_seed(HASH_SEED)
        self.register_buffer(
            "multipliers", torch.randint(1, HASH_MODULUS, (order - 1,), generator=generator)
        )
        self.register_buffer(
            "offsets", torch.randint(0, HASH_MODULUS, (order,), generator=generator)
        )

    def bases(self, context: torch.Tensor) -> torch.Tensor:
        """``context`` ``[order-1+T, batch]`` -> slice starts ``[T * batch, order]``."""
        bases = hash_bases(context, self.multipliers, self.offsets, self.size)
        return bases.reshape(-1, self.order)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """``context`` ``[order-1+T, batch]`` -> logit contributions ``[T, batch, vocab]``."""
        steps, batch = context.size(0) - (self.order - 1), context.size(1)
        summed = slice_sum(self.weight, self.bases(context), self.vocab_size)
        return summed.view(steps, batch, self.vocab_size)

    def pick(
        self, bases: torch.Tensor, groups: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> list[torch.Tensor]:
        """For each ``(rows, ids)`` group (a class's positions and words), the contributions
        ``[len(rows), len(ids)]`` to the logits of ``ids`` only, at positions with slice
        starts ``bases[rows]`` (``bases`` ``[positions, order]``). All groups are one gather,
        whose backward makes one dense gradient of the table: a gather per class made one
        each, hundreds per step (at One Billion Word's 2^28 entries, minutes per step)."""
        indexes = [(bases[rows].unsqueeze(-1) + ids).reshape(-1) for rows, ids in groups]
        values = self.weight[torch.cat(indexes)]
        # torch.split, whose backward is one concatenation (slices would each make a zero
        # gradient of the whole gather)
        pieces = torch.split(values, [index.numel() for index in indexes])
        return [
            piece.view(rows.numel(), self.order, ids.numel()).sum(1)
            for piece, (rows, ids) in zip(pieces, groups, strict=True)
        ]


class MaxEntNetwork(RecurrentNetwork):
    """An Elman :class:`RecurrentNetwork` whose logits also get the direct n-gram weights.

    The state is ``(rnn state, history)``: the last ``order-1`` input tokens of every
    column, so a window's first positions see the n-grams that began in the one before.
    """

    def __init__(
        self, vocab_size: int, options: MaxEntOptions, eos_id: int, counts: Any = None
    ) -> None:
        super().__init__(vocab_size, options, "rnn", counts)
        self.direct = DirectConnections(vocab_size, options.maxent_order, options.maxent_size)
        # With the class output layer (RNNME's factorisation) the direct weights enter both
        # softmaxes: a second table scores the classes, the first the words of a class.
        self.factored = isinstance(self.output, ClassSoftmaxModule)
        if self.factored:
            self.class_direct = DirectConnections(
                self.output.class_used.numel(), options.maxent_order, options.maxent_size
            )
        self.history_length = options.maxent_order - 1
        self.eos_id = eos_id

    def forward(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Output-layer inputs ``[time, batch, hidden]`` and the new ``(rnn state, history)``."""
        rnn_state, context = self._context(inputs, state)
        features, rnn_state = super().forward(inputs, rnn_state)
        return features, (rnn_state, self._history(context))

    def logits(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Logits ``[time, batch, vocab]``: the RNN's output layer plus the direct weights."""
        rnn_state, context = self._context(inputs, state)
        features, rnn_state = super().forward(inputs, rnn_state)
        # the full softmax's weights (the options allow no other output layer)
        logits = nn.functional.linear(features, self.output.weight, self.output.bias) + self.direct(
            context
        )
        return logits, (rnn_state, self._history(context))

    def training_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        if self.factored:
            logprobs, state = self.target_logprobs(inputs, targets, state)
            return -logprobs.mean(), state
        logits, state = self.logits(inputs, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return loss, state

    def target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        if self.factored:
            return self._factored_target_logprobs(inputs, targets, state)
        logits, state = self.logits(inputs, state)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1), state

    def next_logprobs(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        if self.factored:
            return self._factored_log_probs(inputs, state)
        logits, state = self.logits(inputs, state)
        return torch.log_softmax(logits[-1, 0].float(), dim=-1), state

    def _factored_target_logprobs(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        """Class softmax x within-class softmax, each with its direct n-gram weights."""
        rnn_state, context = self._context(inputs, state)
        features, rnn_state = super().forward(inputs, rnn_state)
        features = features.reshape(-1, features.size(-1))
        word_bases, class_bases = self.direct.bases(context), self.class_direct.bases(context)
        classes = self.class_direct.vocab_size
        class_logits = slice_sum(self.class_direct.weight, class_bases, classes)
        logprobs = self.output.target_logprobs(
            features,
            targets.reshape(-1),
            extra_class_logits=class_logits,
            extra_word_logits=lambda groups: self.direct.pick(word_bases, groups),
        )
        return logprobs.view(targets.shape), (rnn_state, self._history(context))

    def _factored_log_probs(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The last position's full log-distribution (generation)."""
        rnn_state, context = self._context(inputs, state)
        features, rnn_state = super().forward(inputs, rnn_state)
        last = context[-(self.history_length + 1) :, :1]
        extra = self.direct(last)[-1]
        class_extra = self.class_direct(last)[-1]
        logprobs = self.output.log_probs(
            features[-1, :1], extra_class_logits=class_extra, extra_logits=extra
        )
        return logprobs[0], (rnn_state, self._history(context))

    def _context(self, inputs: torch.Tensor, state: Any) -> tuple[Any, torch.Tensor]:
        """The RNN's state and the history followed by ``inputs`` ``[order-1+T, batch]``."""
        if state is None:  # a fresh stream or epoch: the history is end-of-sentence marks
            rnn_state = None
            history = inputs.new_full((self.history_length, inputs.size(1)), self.eos_id)
        else:
            rnn_state, history = state
        return rnn_state, torch.cat([history, inputs])

    def _history(self, context: torch.Tensor) -> torch.Tensor:
        return context[context.size(0) - self.history_length :]
