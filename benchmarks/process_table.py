"""Every process's parent and CPU time, read from Linux's ``/proc``: how the logging
benchmarks find the helper processes a tracker started (W&B's wandb-core) and count the
CPU time they use. Empty elsewhere than Linux."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds: user plus system) of every process now running."""
    table: dict[int, tuple[int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
        # the parent pid at 1, then user and system time (in clock ticks) at 11 and 12
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return table


def descendants(table: dict[int, tuple[int, float]], pid: int) -> list[int]:
    """The processes ``pid`` started, those they started, and so on, in ``table``."""
    found = []
    for child, (parent, _) in table.items():
        while parent not in (0, 1, pid) and parent in table:
            parent = table[parent][0]
        if parent == pid and child != pid:
            found.append(child)
    return found
