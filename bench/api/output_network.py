"""Output layers, the torch half: the network contract and the chunked exact softmax.

Imported only when a model is built (``OutputLayer.build``), never by listings.
Shapes: ``features`` [N, hidden], ``targets`` [N] (token ids); the model flattens its
time and batch dimensions before calling the layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OutputNetwork(nn.Module):
    """What every output layer's ``build`` returns.

    ``exact`` says whether ``training_loss`` is the exact mean negative log-likelihood;
    the training loop reports a train perplexity only then. Models are always scored
    with ``target_logprobs``, which must be exact and normalised whatever the training
    objective. Everything needed to score a restored model lives in ``state_dict``.
    """

    exact: bool = True
    # Set by the model from its ``sparse_grad`` option. A layer whose training step reads
    # a few rows of a word matrix may then give that matrix a sparse gradient (rows not
    # read get none), which SGD and Adagrad apply to those rows alone; others ignore it.
    sparse_grad: bool = False
    # False for a layer that may leave some parameters out of a step's loss (the rare
    # clusters of an adaptive softmax): DistributedDataParallel then looks for them.
    uses_every_parameter: bool = True

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training objective, a mean over the N positions (exact layers: the NLL)."""
        return -self.target_logprobs(features, targets).mean()

    def target_logprobs(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Exact, normalised natural-log probabilities [N] of ``targets``."""
        raise NotImplementedError

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """The full log-distribution [N, vocab] (generation; may be expensive)."""
        raise NotImplementedError


def take_rows(matrix: torch.Tensor, ids: torch.Tensor, sparse: bool) -> torch.Tensor:
    """``matrix[ids]``; with ``sparse`` the gradient it sends ``matrix`` is a sparse tensor
    over the rows read (as nn.Embedding(sparse=True) gives), not a dense one of zeros."""
    return F.embedding(ids, matrix, sparse=sparse)


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Normalise in float32 or better: half-precision logits lose the tail of the softmax."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def chunked_target_logprobs(
    features: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    chunk: int,
) -> torch.Tensor:
    """log softmax(features @ weight.T + bias)[targets], ``chunk`` vocabulary rows at a time.

    Memory is N x chunk instead of N x vocab, so an 800k-word vocabulary can be scored
    in eval batches of thousands of positions. With one chunk it is the plain softmax.
    """
    vocab = weight.size(0)
    if vocab <= chunk:
        logits = at_least_float32(F.linear(features, weight, bias))
        return F.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    # Each target's logit is taken from the very chunk logits that enter the normaliser:
    # computed apart (a dot product instead of the matmul) it can round above its own
    # share of the normaliser when logits are large, giving a log-probability above 0.
    target_logits = features.new_zeros(targets.shape, dtype=torch.float32)
    normaliser = None
    for start in range(0, vocab, chunk):
        rows = slice(start, start + chunk)
        logits = at_least_float32(
            F.linear(features, weight[rows], None if bias is None else bias[rows])
        )
        part = torch.logsumexp(logits, dim=-1)
        normaliser = part if normaliser is None else torch.logaddexp(normaliser, part)
        inside = (targets >= start) & (targets < start + logits.size(-1))
        if inside.any():
            where = inside.nonzero(as_tuple=True)
            picked = logits[where + ((targets[inside] - start),)]
            target_logits = target_logits.to(picked.dtype).index_put(where, picked)
    assert normaliser is not None
    return target_logits - normaliser


def counts_tensor(counts: object, vocab_size: int) -> torch.Tensor | None:
    """The train counts as a float64 tensor [vocab], or None (a layer rebuilt for a checkpoint)."""
    if counts is None:
        return None
    tensor = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if tensor.numel() != vocab_size:
        raise ValueError(f"counts hold {tensor.numel()} entries for a vocabulary of {vocab_size}")
    return tensor


def frequency_ranks(counts: torch.Tensor | None, vocab_size: int) -> torch.Tensor:
    """rank[id]: 0 for the most frequent token of train, ties broken by id.

    Without counts (a layer rebuilt to load a checkpoint, which restores the ranks) the
    ids themselves are the ranks.
    """
    if counts is None:
        return torch.arange(vocab_size)
    order = torch.argsort(-counts, stable=True)
    ranks = torch.empty(vocab_size, dtype=torch.long)
    ranks[order] = torch.arange(vocab_size)
    return ranks
