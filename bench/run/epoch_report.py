"""One line per training epoch on stderr, so a long run written to a log file (or run in
CI, or with --no-progress) shows how it goes.

Progress bars are only drawn on a terminal; without them a run of many epochs would
print nothing between its first line and its summary. The line is built from the
metrics a training loop logs at an epoch's end (``valid_ppl`` marks them, see
``bench.training``); per-step metrics print nothing. With bars on screen the line is
written through ``tqdm.write``, above the bars, so they are not broken.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

Echo = Callable[[str], Any]


def bars_shown(progress: bool) -> bool:
    """Whether progress bars are drawn: asked for, and stderr is a terminal (what tqdm's
    ``disable=None`` decides)."""
    return progress and sys.stderr.isatty()


def epoch_echo(echo: Echo, progress: bool) -> Echo:
    """Where epoch lines go: above the bars when they are drawn, else to ``echo``."""
    if bars_shown(progress):
        return lambda line: tqdm.write(line, file=sys.stderr)
    return echo


def report_epoch(
    echo: Echo, metrics: dict[str, float], epoch: int | None, config: dict[str, Any], elapsed: float
) -> None:
    """Echo the line for one logged set of metrics, if it is one worth a line."""
    line = epoch_line(metrics, epoch, configured_epochs(config), elapsed)
    if line:
        echo(line)


def epoch_line(
    metrics: dict[str, float], epoch: int | None, epochs: int | None, elapsed: float
) -> str | None:
    """The line for one logged set of metrics, or None when it is not an epoch's end
    (nor a NaN recovery or an early stop, which are worth a line too)."""
    if epoch is None:
        return None
    of = f"/{epochs}" if epochs else ""
    if "nan_recovery" in metrics:
        return (
            f"epoch {epoch}{of}: the loss became NaN or Inf; restarting the epoch with lr "
            f"{metrics.get('lr', float('nan')):.3g} (recovery {metrics['nan_recovery']:.0f})"
        )
    if "early_stop" in metrics:
        return f"epoch {epoch}{of}: stopping early (no better valid ppl for `patience` epochs)"
    if "valid_ppl" not in metrics:
        return None
    parts = [f"epoch {epoch}{of}:"]
    if "train_loss" in metrics:
        parts.append(f"train loss {metrics['train_loss']:.4f},")
    parts.append(f"valid ppl {metrics['valid_ppl']:.2f},")
    if "lr" in metrics:
        parts.append(f"lr {metrics['lr']:.3g},")
    rate = metrics.get("train_tokens_per_second")
    if rate:
        parts.append(f"train {rate:,.0f} tokens/s,")
    parts.append(f"elapsed {format_elapsed(elapsed)}")
    return " ".join(parts)


def format_elapsed(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    whole = max(int(seconds), 0)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def configured_epochs(config: dict[str, Any]) -> int | None:
    """The run's ``epochs`` option, when its model has one."""
    epochs = (config.get("options") or {}).get("epochs")
    return epochs if isinstance(epochs, int) else None
