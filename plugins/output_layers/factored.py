"""Exact factorised softmaxes: adaptive softmax and the class-based (two-level) softmax.

Both split the vocabulary by train frequency and normalise exactly: their training loss
is the negative log-likelihood and their probabilities sum to 1 over the vocabulary.
The frequency order and the class of every word are buffers, so a model restored from
its checkpoint scores exactly as it did in training, without the train data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.api.output_network import (
    OutputNetwork,
    at_least_float32,
    counts_tensor,
    frequency_ranks,
    take_rows,
)

# Scores a model adds to the word logits of the given positions, for the given word ids.
# (groups of (positions, word ids)) -> one [len(positions), len(word ids)] tensor per group
WordLogits = Callable[[list[tuple[torch.Tensor, torch.Tensor]]], list[torch.Tensor]]


class AdaptiveSoftmaxModule(OutputNetwork):
    """torch.nn.AdaptiveLogSoftmaxWithLoss over words renumbered by train frequency.

    The head holds the words ranked below the first cutoff plus one entry per tail
    cluster; rarer clusters get projections ``div_value`` times smaller (Grave et al.
    2017). ``rank_of`` maps a token id to its frequency rank, the class index torch's
    module works with.
    """

    exact = True
    uses_every_parameter = False  # a tail cluster without targets in the batch is skipped

    def __init__(
        self, hidden_size: int, vocab_size: int, cutoffs: list[int], div_value: float, counts: Any
    ) -> None:
        super().__init__()
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(
            hidden_size, vocab_size, cutoffs, div_value=div_value
        )
        ranks = frequency_ranks(counts_tensor(counts, vocab_size), vocab_size)
        self.register_buffer("rank_of", ranks)

    def training_loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.softmax(features, self.rank_of[targets]).loss

    def target_logprobs(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.softmax(features, self.rank_of[targets]).output

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        return self.softmax.log_prob(features).index_select(1, self.rank_of)


def frequency_classes(
    counts: torch.Tensor | None, vocab_size: int, classes: int, binning: str
) -> torch.Tensor:
    """class_of[id] by frequency binning (Mikolov et al. 2011, as in the rnnlm toolkit).

    Words in decreasing train frequency fill class after class; a class closes after
    the word at which the cumulative unigram mass (or sqrt-unigram mass, ``binning=
    "sqrt"``) passes its share. Frequent words get classes of their own and rare words
    share large ones; at most ``classes`` are used, possibly fewer.
    """
    counts = torch.ones(vocab_size, dtype=torch.float64) if counts is None else counts
    order = torch.argsort(-counts, stable=True).numpy()
    mass = counts.numpy()[order]
    if binning == "sqrt":
        mass = np.sqrt(mass)
    total = mass.sum()
    cumulative = np.cumsum(mass / total) if total > 0 else np.arange(1, vocab_size + 1) / vocab_size
    class_of_sorted = np.empty(vocab_size, dtype=np.int64)
    current = 0
    for i, reached in enumerate(cumulative.tolist()):  # sequential: at most one step per word
        class_of_sorted[i] = current
        if reached > (current + 1) / classes and current < classes - 1:
            current += 1
    class_of = np.empty(vocab_size, dtype=np.int64)
    class_of[order] = class_of_sorted
    return torch.from_numpy(class_of)


class ClassSoftmaxModule(OutputNetwork):
    """P(word) = P(class(word)) x P(word | class(word)), both exact softmaxes.

    ``weight`` [vocab, hidden] scores words within their class (a model may tie it to
    its embedding); ``class_weight`` [classes, hidden] scores classes. Classes that
    frequency binning left empty are masked out, so probabilities still sum to 1.
    Training and scoring only compute the classes of the batch's targets.
    """

    exact = True

    def __init__(
        self, hidden_size: int, vocab_size: int, classes: int, binning: str, counts: Any
    ) -> None:
        super().__init__()
        words = nn.Linear(hidden_size, vocab_size)
        self.weight, self.bias = words.weight, words.bias
        nn.init.zeros_(self.bias)
        self.classifier = nn.Linear(hidden_size, classes)
        class_of = frequency_classes(
            counts_tensor(counts, vocab_size), vocab_size, classes, binning
        )
        sizes = torch.bincount(class_of, minlength=classes)
        members = torch.argsort(class_of, stable=True)  # ids grouped by class
        starts = torch.zeros(classes + 1, dtype=torch.long)
        starts[1:] = torch.cumsum(sizes, 0)
        position = torch.empty(vocab_size, dtype=torch.long)
        position[members] = torch.arange(vocab_size) - starts[class_of[members]]
        self.register_buffer("class_of", class_of)
        self.register_buffer("members", members)
        self.register_buffer("class_start", starts)
        self.register_buffer("position", position)  # index of a word within its class
        self.register_buffer("class_used", sizes > 0)

    def class_log_probs(
        self, features: torch.Tensor, extra_class_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        logits = at_least_float32(self.classifier(features))
        if extra_class_logits is not None:
            logits = logits + extra_class_logits
        return F.log_softmax(logits.masked_fill(~self.class_used, float("-inf")), dim=-1)

    def target_logprobs(
        self,
        features: torch.Tensor,
        targets: torch.Tensor,
        extra_class_logits: torch.Tensor | None = None,
        extra_word_logits: WordLogits | None = None,
    ) -> torch.Tensor:
        """Exact log-probabilities of ``targets``. A model that adds its own scores to the
        logits (rnn-maxent's direct n-gram weights) passes ``extra_class_logits``
        [N, classes] and ``extra_word_logits(groups)``: for each ``(rows, word_ids)`` of the
        classes present, its [len(rows), len(word_ids)] scores, asked for all classes at
        once (so that a table gathered from makes one gradient per step, not one per class);
        both enter before the two softmaxes, so the result stays normalised."""
        target_class = self.class_of[targets]
        class_part = (
            self.class_log_probs(features, extra_class_logits)
            .gather(1, target_class.unsqueeze(1))
            .squeeze(1)
        )
        if targets.numel() == 0:
            return class_part
        # Positions grouped by their target's class, and the words of the classes present
        # gathered once: one small softmax per class, on pieces made by torch.split,
        # whose backward is a single concatenation (slicing would allocate a zero
        # gradient of the whole matrix per class).
        grouped_classes, order = torch.sort(target_class)
        present, positions_per_class = torch.unique_consecutive(grouped_classes, return_counts=True)
        words_per_class = self.class_start[present + 1] - self.class_start[present]
        first_word = torch.cumsum(words_per_class, 0) - words_per_class
        word_index = self.members[
            torch.repeat_interleave(self.class_start[present] - first_word, words_per_class)
            + torch.arange(int(words_per_class.sum()), device=targets.device)
        ]
        rows, sizes = positions_per_class.tolist(), words_per_class.tolist()
        groups = list(zip(torch.split(order, rows), torch.split(word_index, sizes), strict=True))
        extras = extra_word_logits(groups) if extra_word_logits is not None else None
        pieces = []
        for i, (x, weight, bias, within) in enumerate(
            zip(
                torch.split(features[order], rows),
                torch.split(take_rows(self.weight, word_index, self.sparse_grad), sizes),
                torch.split(self.bias.index_select(0, word_index), sizes),
                torch.split(self.position[targets[order]].unsqueeze(1), rows),
                strict=True,
            )
        ):
            logits = at_least_float32(F.linear(x, weight, bias))
            if extras is not None:
                logits = logits + extras[i]
            pieces.append(F.log_softmax(logits, dim=-1).gather(1, within).squeeze(1))
        word_part = torch.zeros_like(class_part).scatter(0, order, torch.cat(pieces))
        return class_part + word_part

    def log_probs(
        self,
        features: torch.Tensor,
        extra_class_logits: torch.Tensor | None = None,
        extra_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = at_least_float32(F.linear(features, self.weight, self.bias))  # [N, vocab]
        if extra_logits is not None:
            logits = logits + extra_logits
        index = self.class_of.expand_as(logits)
        n_classes = self.class_used.numel()
        # log-sum-exp of the logits within each class, in one pass (no loop over classes)
        peak = logits.new_full((logits.size(0), n_classes), float("-inf")).scatter_reduce(
            1, index, logits, reduce="amax"
        )
        shifted = (logits - peak.gather(1, index)).exp()
        totals = logits.new_zeros((logits.size(0), n_classes)).scatter_add(1, index, shifted)
        class_norm = (peak + totals.log()).gather(1, index)
        return (
            self.class_log_probs(features, extra_class_logits).gather(1, index)
            + logits
            - class_norm
        )
