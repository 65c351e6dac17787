"""Progress bars for a run (:class:`RunProgress`), and without a terminal a line every ~30 s, so a run whose output goes to a log
file (or CI, or a pipe) does not sit silent for minutes between its epoch lines.

:class:`ProgressLines` iterates like the tqdm bar it stands in for; every
:data:`INTERVAL_S` it prints where the loop is, the running loss (when the training loop
has logged one), the rate and the time left, e.g.::

    epoch 2/20: batch 310/1,004, loss 1.6021, 5,120 tokens/s, 0:02:16 left in the epoch, about 0:53:40 in all
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm import tqdm

from bench.run.epoch_report import bars_shown, format_elapsed

INTERVAL_S = 30.0


class ProgressLines:
    """Yields the items of ``iterable``; every ``interval`` seconds echoes one line.

    ``total`` is the number of items (None: unknown, no time left is shown). An item that
    is an ``(inputs, targets)`` pair of tensors counts ``targets.numel()`` tokens, so a
    training loop's line shows tokens/s. ``epochs`` (the run's configured count) lets a
    loop described as ``epoch N`` show the time left in the whole run too.
    """

    def __init__(
        self,
        iterable: Iterable[Any],
        *,
        total: int | None,
        desc: str,
        unit: str,
        echo: Callable[[str], Any],
        epochs: int | None = None,
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.echo, self.epochs, self.interval, self.clock = echo, epochs, interval, clock
        self.count = 0
        self.tokens = 0
        self.loss: float | None = None

    def set_loss(self, loss: float) -> None:
        """The running training loss, shown in the next line."""
        self.loss = loss

    def __iter__(self) -> Iterator[Any]:
        start = last = self.clock()
        for item in self.iterable:
            yield item
            self.count += 1
            self.tokens += _tokens_of(item)
            now = self.clock()
            if now - last >= self.interval:
                self.echo(self.line(now - start))
                last = now

    def line(self, elapsed: float) -> str:
        """The line after ``elapsed`` seconds."""
        epoch = re.fullmatch(r"epoch (\d+)", self.desc)
        title = f"{self.desc}/{self.epochs}" if epoch and self.epochs else self.desc
        parts = [f"{self.unit} {self.count:,}" + (f"/{self.total:,}" if self.total else "")]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        seconds = max(elapsed, 1e-9)
        if self.tokens:
            parts.append(f"{self.tokens / seconds:,.0f} tokens/s")
        else:
            parts.append(f"{self.count / seconds:,.1f} {self.unit}/s")
        if self.total and self.count:
            per_item = seconds / self.count
            left = (self.total - self.count) * per_item
            parts.append(f"{format_elapsed(left)} left" + (" in the epoch" if epoch else ""))
            if epoch and self.epochs and int(epoch.group(1)) < self.epochs:
                later = (self.epochs - int(epoch.group(1))) * self.total * per_item
                parts.append(f"about {format_elapsed(left + later)} in all")
        return f"{title}: " + ", ".join(parts)


def _tokens_of(item: Any) -> int:
    """Target tokens of an ``(inputs, targets)`` training batch; 0 for anything else."""
    if isinstance(item, tuple) and len(item) == 2 and hasattr(item[1], "numel"):
        return int(item[1].numel())
    return 0


class RunProgress:
    """A runner's progress bars: tqdm on a terminal (showing the running training loss),
    :class:`ProgressLines` where stderr is not one (a log file, CI, a pipe), nothing when
    progress is off. ``epochs`` is the current run's configured count."""

    def __init__(self, show: bool, echo: Callable[[str], Any]) -> None:
        self.show, self.echo = show, echo
        self.epochs: int | None = None
        self.bar: Any = None  # the newest, which the loss goes to

    def __call__(
        self, iterable: Any = None, *, total: int | None = None, desc: str = "", unit: str = "it"
    ) -> Any:
        if self.show and not bars_shown(self.show):
            if total is None and hasattr(iterable, "__len__"):
                total = len(iterable)
            self.bar = ProgressLines(
                iterable, total=total, desc=desc, unit=unit, echo=self.echo, epochs=self.epochs
            )
        else:
            # disable=None: tqdm stays silent when stderr is not a terminal
            self.bar = tqdm(
                iterable,
                total=total,
                desc=desc,
                unit=unit,
                leave=False,
                disable=None if self.show else True,
                dynamic_ncols=True,
            )
        return self.bar

    def show_loss(self, loss: float) -> None:
        """The running training loss, on the bar (or in the next progress line)."""
        if isinstance(self.bar, ProgressLines):
            self.bar.set_loss(loss)
        elif self.bar is not None and not getattr(self.bar, "disable", True):
            self.bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
