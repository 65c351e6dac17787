"""Sampling approximations of the softmax for training: sampled softmax, NCE and BlackOut.

Each trains on the target and a few words drawn from a proposal distribution, drawn
once per batch and shared by every position (one [N, hidden] x [hidden, K] product
instead of [N, hidden] x [hidden, vocab]). Each is scored exactly, by the softmax over
the same weights (:class:`bench_plugins.output_layers.softmax.LinearOutput`): an approximate
training objective never stands in for a probability.

The three losses are plain functions of (features, targets, weights, samples and their
proposal log-probabilities), so tests can hand them any sample, the whole vocabulary
included.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.training import at_least_float32, counts_tensor, frequency_ranks, take_rows
from bench_plugins.output_layers.softmax import LinearOutput


class Proposal(nn.Module):
    """A distribution over the vocabulary to draw words from (buffers: saved with the model).

    ``log-uniform``: P(rank r) = log((r + 2) / (r + 1)) / log(V + 1) over train frequency
    ranks, the Zipfian proposal of TensorFlow's log_uniform_candidate_sampler used by
    Jozefowicz et al. 2016. ``unigram``: (count + 1)^alpha, normalised; the add-one keeps
    every word drawable (and its correction finite).
    """

    def __init__(self, vocab_size: int, counts: Any, kind: str, alpha: float = 1.0) -> None:
        super().__init__()
        counts = counts_tensor(counts, vocab_size)
        if kind == "log-uniform":
            ranks = frequency_ranks(counts, vocab_size).double()
            probs = torch.log1p(1.0 / (ranks + 1.0)) / math.log(vocab_size + 1.0)
        elif kind == "unigram":
            base = torch.ones(vocab_size, dtype=torch.float64) if counts is None else counts + 1.0
            probs = base.pow(alpha)
        else:
            raise ValueError(f"unknown proposal {kind!r}")
        probs = probs / probs.sum()
        self.register_buffer("probs", probs)
        self.register_buffer("cdf", torch.cumsum(probs, 0))

    def draw(self, n: int) -> torch.Tensor:
        """``n`` ids drawn independently (with replacement)."""
        u = torch.rand(n, dtype=self.cdf.dtype, device=self.cdf.device) * self.cdf[-1]
        return torch.searchsorted(self.cdf, u, right=True).clamp_(max=self.cdf.numel() - 1)

    def log_prob(self, ids: torch.Tensor) -> torch.Tensor:
        return self.probs[ids].log()

    def log_inclusion(self, ids: torch.Tensor, draws: int) -> torch.Tensor:
        """log P(id is among ``draws`` independent draws) = log(1 - (1 - q)^draws).

        The expected-count correction of TensorFlow's sampled softmax with unique
        candidates (Jozefowicz et al. 2016); it tends to log(draws * q) for rare words.
        """
        return torch.log(-torch.expm1(draws * torch.log1p(-self.probs[ids])))


def sampled_softmax_loss(
    features: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    candidates: torch.Tensor,
    candidate_log_q: torch.Tensor,
    target_log_q: torch.Tensor,
    remove_accidental_hits: bool = True,
    sparse: bool = False,
) -> torch.Tensor:
    """Mean cross-entropy of each target against itself plus the shared ``candidates``.

    Every logit is corrected by minus the log of its word's sampling weight (``log_q``,
    the logQ correction), so the sampled normaliser estimates the full one (Jean et al.
    2015). An accidental hit, a candidate equal to the position's target, is dropped
    from that position's negatives. With every word a candidate and log_q = 0 this is
    the full softmax cross-entropy exactly. ``sparse``: ``weight`` gets a sparse gradient.
    """
    dtype = features.dtype
    true = (
        (features * take_rows(weight, targets, sparse)).sum(-1)
        + bias[targets]
        - target_log_q.to(dtype)
    )
    sampled = F.linear(
        features, take_rows(weight, candidates, sparse), bias[candidates]
    ) - candidate_log_q.to(dtype)
    if remove_accidental_hits:
        sampled = sampled.masked_fill(
            candidates.unsqueeze(0) == targets.unsqueeze(1), float("-inf")
        )
    logits = at_least_float32(torch.cat([true.unsqueeze(1), sampled], dim=1))
    return F.cross_entropy(logits, torch.zeros_like(targets))


def nce_loss(
    features: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    noise: torch.Tensor,
    noise_log_q: torch.Tensor,
    target_log_q: torch.Tensor,
    sparse: bool = False,
) -> torch.Tensor:
    """Noise-contrastive estimation (Mnih & Teh 2012), mean over positions.

    With k = len(noise) noise words from q and the model's unnormalised score s(w) taken
    as log P(w) (the normaliser fixed at 1), each position is a logistic regression of
    "data" against "noise": P(data | w) = sigmoid(s(w) - log(k q(w))). The loss is
    -log P(data | target) - sum over noise words of log P(noise | word).
    """
    dtype = features.dtype
    log_k = math.log(noise.numel())
    data = (
        (features * take_rows(weight, targets, sparse)).sum(-1)
        + bias[targets]
        - (target_log_q.to(dtype) + log_k)
    )
    noise_logits = F.linear(features, take_rows(weight, noise, sparse), bias[noise]) - (
        noise_log_q.to(dtype) + log_k
    )
    return (F.softplus(-data) + F.softplus(noise_logits).sum(-1)).mean()


def blackout_loss(
    features: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    samples: torch.Tensor,
    sample_log_q: torch.Tensor,
    target_log_q: torch.Tensor,
    sparse: bool = False,
) -> torch.Tensor:
    """BlackOut (Ji et al. 2015), mean over positions.

    A softmax over the target and the K samples with each word weighted by 1/q(w)
    (``*_log_q`` give log q: a draw's probability, or with duplicates merged the
    probability of being drawn at all) gives p~; the discriminative loss is -log p~(target) - sum_j log(1 - p~(sample j)).
    A sample equal to the position's target is left out of that position.
    """
    dtype = features.dtype
    true = (
        (features * take_rows(weight, targets, sparse)).sum(-1)
        + bias[targets]
        - target_log_q.to(dtype)
    )
    sampled = F.linear(
        features, take_rows(weight, samples, sparse), bias[samples]
    ) - sample_log_q.to(dtype)
    sampled = sampled.masked_fill(samples.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    log_p = F.log_softmax(at_least_float32(torch.cat([true.unsqueeze(1), sampled], 1)), dim=1)
    return -(log_p[:, 0] + log1mexp(log_p[:, 1:]).sum(-1)).mean()


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate at both ends (Maechler 2012).

    Each branch only ever sees inputs it is finite on, so no NaN gradient leaks through
    torch.where; x is kept a hair below 0, where the value is -inf.
    """
    x = x.clamp(max=-1e-7)
    far = x < -math.log(2)
    via_log1p = torch.log1p(-torch.exp(torch.where(far, x, torch.full_like(x, -1.0))))
    via_expm1 = torch.log(-torch.expm1(torch.where(far, torch.full_like(x, -0.5), x)))
    return torch.where(far, via_log1p, via_expm1)


class SampledSoftmaxModule(LinearOutput):
    """Sampled softmax; negatives drawn once per batch from a log-uniform or unigram proposal."""

    exact = False

    def __init__(self, hidden_size: int, vocab_size: int, counts: Any, options: Any) -> None:
        super().__init__(hidden_size, vocab_size, options.eval_chunk)
        self.samples = options.samples
        self.remove_accidental_hits = options.remove_accidental_hits
        self.proposal = Proposal(vocab_size, counts, options.proposal, options.alpha)

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        candidates = torch.unique(self.proposal.draw(self.samples))
        return sampled_softmax_loss(
            features,
            targets,
            self.weight,
            self.bias,
            candidates,
            self.proposal.log_inclusion(candidates, self.samples),
            self.proposal.log_inclusion(targets, self.samples),
            self.remove_accidental_hits,
            self.sparse_grad,
        )


class NCEModule(LinearOutput):
    """NCE with k noise words from the (add-one) train unigram, shared by the batch."""

    exact = False

    def __init__(self, hidden_size: int, vocab_size: int, counts: Any, options: Any) -> None:
        super().__init__(hidden_size, vocab_size, options.eval_chunk)
        self.samples = options.samples
        self.proposal = Proposal(vocab_size, counts, "unigram", alpha=1.0)
        # NCE fixes the normaliser at 1: start from a normalised model, the unigram itself
        with torch.no_grad():
            self.bias.copy_(self.proposal.probs.log())

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        noise = self.proposal.draw(self.samples)  # i.i.d. draws, as NCE's theory assumes
        return nce_loss(
            features,
            targets,
            self.weight,
            self.bias,
            noise,
            self.proposal.log_prob(noise),
            self.proposal.log_prob(targets),
            self.sparse_grad,
        )


class BlackOutModule(LinearOutput):
    """BlackOut with K words from unigram^alpha, shared by the batch (duplicates merged).

    Ji et al. weight each of K independent draws by 1/q(w), the importance weight that
    makes their weighted softmax estimate the full one. Here a word drawn several times
    is one negative, weighted by 1 / P(drawn at least once) (Horvitz-Thompson, as in
    the sampled softmax): for rare words that is 1/(K q), the paper's weight up to the
    constant K, and frequent words keep their true share instead of 1/q for all their
    draws together. Measured with the tests' ``mean_bias_gradient`` (10 words, 400
    repeats): with 1/q on merged words the expected gradient at the data distribution
    grew with K (0.08 at K=5, 0.13 at K=20), and K=1024 trained a worse PTB model than
    K=256; with inclusion weights it shrinks (0.015, 0.005).
    """

    exact = False

    def __init__(self, hidden_size: int, vocab_size: int, counts: Any, options: Any) -> None:
        super().__init__(hidden_size, vocab_size, options.eval_chunk)
        self.samples = options.samples
        self.proposal = Proposal(vocab_size, counts, "unigram", alpha=options.alpha)

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        samples = torch.unique(self.proposal.draw(self.samples))
        return blackout_loss(
            features,
            targets,
            self.weight,
            self.bias,
            samples,
            self.proposal.log_inclusion(samples, self.samples),
            self.proposal.log_inclusion(targets, self.samples),
            self.sparse_grad,
        )
