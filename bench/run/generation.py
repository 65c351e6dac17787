"""Whole lines sampled from a restored run, as `bench generate` prints them.

A model's ``generate`` draws a number of tokens after a prompt. Here that becomes what a
reader of the lecture expects: the sample starts where a line starts, in the state the
model is in after real text (the last lines of its train split, then an end-of-line,
rather than an untrained-for empty state, which makes the first line a fragment), and
stops at a line boundary once it has the lines asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.api.model import LanguageModel
from bench.corpora import split_lines
from bench.run.restore import RestoredRun
from bench.tokenization.tokenizers import Tokenizer

WARM_TOKENS = 400  # train-text tokens fed before sampling: enough to settle an RNN's state
MAX_TOKENS_PER_LINE = 1000  # lines mode gives up (keeping whole lines) past this many per line
DEFAULT_LINES = 10


@dataclass(frozen=True)
class Sampling:
    """How each token is drawn: ``greedy`` takes the likeliest; otherwise softmax at
    ``temperature`` among the ``top_k`` likeliest and/or the smallest set holding
    ``top_p`` of the probability (nucleus), seeded by ``seed``."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    seed: int = 0

    def draw(self, model: LanguageModel, context: list[int], tokens: int, seed: int) -> list[int]:
        """``tokens`` ids after ``context`` (top_p passed only when set: a plugin written
        before it existed still samples)."""
        extra = {"top_p": self.top_p} if self.top_p is not None and not self.greedy else {}
        return model.generate(
            context,
            tokens,
            temperature=1.0 if self.greedy else self.temperature,
            top_k=1 if self.greedy else self.top_k,
            seed=seed,
            **extra,
        )


def encode_prompt(tokenizer: Tokenizer, prompt: str) -> list[int]:
    """The prompt's ids, without the end-of-line after its last line (the sample goes on
    from there); a prompt of several lines keeps the ends of the others."""
    lines = split_lines(prompt) if prompt else [""]
    return tokenizer.encode("prompt", lines or [""]).ids[:-1].tolist()


def unknown_prompt_pieces(tokenizer: Tokenizer, prompt: str) -> list[str]:
    """The pieces of ``prompt`` (characters for a character vocabulary, words for a word
    one) that the vocabulary lacks and would become ``<unk>``; for another tokenizer,
    ``<unk>`` once per unknown token."""
    found: list[str] = []
    for line in split_lines(prompt) if prompt else []:
        encoded = tokenizer.encode("prompt", [line])
        if encoded.oov_mask is None or not encoded.oov_mask.any():
            continue
        positions = [int(i) for i in encoded.oov_mask.nonzero()[0]]
        for pieces in (list(line), line.split()):  # which unit the tokens are
            if len(pieces) == len(encoded.ids) - 1:
                found += [pieces[i] for i in positions]
                break
        else:
            found += ["<unk>"] * len(positions)
    return list(dict.fromkeys(found))


def warm_context(tokenizer: Tokenizer, train_lines: Sequence[str]) -> list[int]:
    """Ids of the last lines of the train split (about :data:`WARM_TOKENS`, whole lines,
    at least one), each ending in an end-of-line: a prompt after them starts a line."""
    chosen: list[str] = []
    total = 0
    for line in reversed(train_lines):
        ids = tokenizer.encode("context", [line]).ids
        if chosen and total + len(ids) > WARM_TOKENS:
            break
        chosen.append(line)
        total += len(ids)
    if not chosen:
        return []
    return tokenizer.encode("context", chosen[::-1]).ids.tolist()


def sample_lines(
    model: LanguageModel,
    eos_id: int,
    context: list[int],
    prompt: list[int],
    lines: int,
    sampling: Sampling,
    tokens_per_line: float,
) -> tuple[list[int], bool]:
    """Draw after ``context`` + ``prompt`` until ``lines`` end-of-lines; the ids drawn, up
    to and including the last of them, and whether all the lines came.

    Drawn in rounds sized from ``tokens_per_line`` (the train split's mean), each round
    continuing from everything drawn so far with the next seed; past
    :data:`MAX_TOKENS_PER_LINE` per line asked it stops and keeps the whole lines it has.
    """
    drawn: list[int] = []
    budget = lines * MAX_TOKENS_PER_LINE
    seed = sampling.seed
    while drawn.count(eos_id) < lines and len(drawn) < budget:
        missing = lines - drawn.count(eos_id)
        size = min(budget - len(drawn), math.ceil(tokens_per_line * missing * 1.5) + 8)
        drawn += sampling.draw(model, [*context, *prompt, *drawn], size, seed)
        seed += 1
    ends = [i for i, token in enumerate(drawn) if token == eos_id]
    if len(ends) >= lines:
        return drawn[: ends[lines - 1] + 1], True
    return (drawn[: ends[-1] + 1] if ends else []), False


def print_sample(
    restored: RestoredRun,
    prompt: str,
    sampling: Sampling,
    *,
    lines: int | None,
    tokens: int | None,
    echo: Callable[..., Any],
) -> None:
    """What `bench generate` prints: a warning for prompt pieces the vocabulary lacks,
    then ``lines`` whole lines (default :data:`DEFAULT_LINES`) or ``tokens`` tokens."""
    tokenizer, model = restored.tokenizer, restored.model
    unknown = unknown_prompt_pieces(tokenizer, prompt)
    if unknown:
        shown = ", ".join(repr(piece) for piece in unknown[:10])
        echo(
            f"warning: the run's vocabulary lacks {shown} (in the prompt): read as <unk>",
            err=True,
        )
    train = restored.corpus.splits["train"]
    # a streamed train split is not read again just to warm up: only its last lines
    context = warm_context(tokenizer, train if isinstance(train, list) else train.tail())
    eos = tokenizer.vocab.eos_id
    prompt_ids = encode_prompt(tokenizer, prompt)
    if tokens is not None:
        drawn = sampling.draw(model, [*context, *prompt_ids], tokens, sampling.seed)
    else:
        wanted = lines or DEFAULT_LINES
        per_line = len(context) / max(context.count(eos), 1) if context else 50.0
        drawn, complete = sample_lines(model, eos, context, prompt_ids, wanted, sampling, per_line)
        if not complete:
            echo(
                f"warning: fewer than {wanted} line ends came in "
                f"{wanted * MAX_TOKENS_PER_LINE:,} tokens; printing the whole lines drawn",
                err=True,
            )
    echo("\n".join(tokenizer.decode([*prompt_ids, *drawn])))
