"""glibc's allocator told to keep large buffers instead of handing them back every step.

By default glibc serves a large request (the logits of a 10,000-word softmax: 28 MB at
batch 20 x 35) with a fresh ``mmap`` and unmaps it when freed, and returns free memory at
the top of the heap to the kernel. A training step allocates and frees the same large
buffers again and again, so the kernel zero-fills and faults in the same pages every
step: tens of millions of minor page faults and a quarter of the run's CPU time spent in
the kernel. Raising the mmap and trim thresholds (and padding each heap growth) makes
glibc keep those pages and reuse them.

:func:`keep_large_buffers` makes those settings with ``mallopt`` once per process, before
torch allocates its large buffers; it is a no-op, with the reason recorded, where the C
library is not glibc, where the user set glibc's own ``MALLOC_*`` variables (their
choice wins) or where ``BENCH_MALLOPT=0`` asks to leave the allocator alone.
:func:`allocator_record` is what a run stores in its environment record.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Any

# mallopt parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MiB = 2**20
# Requests up to this size come from the heap (and are reused) instead of a fresh mmap.
MMAP_THRESHOLD = 512 * MiB
# Free memory at the top of the heap is returned to the kernel only beyond this much.
TRIM_THRESHOLD = 512 * MiB
# Each heap growth asks the kernel for this much more, so growth happens rarely.
TOP_PAD = 64 * MiB

SETTINGS = {
    "M_MMAP_THRESHOLD": (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    "M_TRIM_THRESHOLD": (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    "M_TOP_PAD": (M_TOP_PAD, TOP_PAD),
}
# glibc's environment variables for the same three settings
GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
SWITCH = "BENCH_MALLOPT"  # "0": leave the allocator at glibc's defaults

_record: dict[str, Any] | None = None


def keep_large_buffers() -> dict[str, Any]:
    """Apply the settings once per process (later calls return the first call's record)."""
    global _record
    if _record is None:
        _record = _apply()
    return _record


def allocator_record() -> dict[str, Any]:
    """What was done to the allocator in this process, for the run's environment record."""
    return (
        _record
        if _record is not None
        else {"applied": False, "reason": "keep_large_buffers() not called"}
    )


def _apply() -> dict[str, Any]:
    if os.environ.get(SWITCH, "1").strip() == "0":
        return {"applied": False, "reason": f"{SWITCH}=0 in the environment"}
    user_set = [name for name in GLIBC_VARIABLES if name in os.environ]
    if user_set:
        return {"applied": False, "reason": f"left to the environment's {', '.join(user_set)}"}
    library, version = platform.libc_ver()
    if library != "glibc":
        return {"applied": False, "reason": f"C library is {library or 'not glibc'}"}
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    settings = {}
    for name, (parameter, value) in SETTINGS.items():
        if libc.mallopt(parameter, value) != 1:  # 1 on success
            return {
                "applied": False,
                "reason": f"glibc {version} refused mallopt({name})",
                "mallopt": settings,
            }
        settings[name] = value
    return {"applied": True, "library": f"glibc {version}", "mallopt": settings}
