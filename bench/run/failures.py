"""Who made a run fail, and the one line that says so.

The rule: a user's mistake (a :class:`~bench.errors.BenchError`) and a plugin's mistake
are reported in one line, never a traceback; only bench's own bugs show one. An exception
is a plugin's when a frame of the plugin's own code is on its traceback: the line names
the plugin, the exception, the plugin's file:line where it surfaced, the run id and how to
see the whole traceback (which the run's row keeps anyway: ``bench show --json RUN``).
"""

from __future__ import annotations

import inspect
import os
import traceback
from pathlib import Path
from types import TracebackType

from bench.errors import BenchError

DEBUG_ENV = "BENCH_DEBUG"


def debugging() -> bool:
    """Whether the user asked for full tracebacks (``bench --debug`` or ``$BENCH_DEBUG``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


class PluginFailure(BenchError):
    """A plugin raised (or broke its contract) during a run."""


def _plugin_root(model_class: type) -> Path | None:
    """The plugin's code: the folder of its package, or its file when it is a top-level
    module (whose folder, site-packages, holds everyone's code)."""
    try:
        module_file = Path(inspect.getfile(model_class)).resolve()
    except (TypeError, OSError):
        return None
    in_package = "." in model_class.__module__ or module_file.name == "__init__.py"
    return module_file.parent if in_package else module_file


def _deepest_frame_under(tb: TracebackType | None, root: Path) -> traceback.FrameSummary | None:
    found = None
    for frame in traceback.extract_tb(tb):
        try:
            path = Path(frame.filename).resolve()
            if path == root or path.is_relative_to(root):
                found = frame
        except (OSError, ValueError):
            continue
    return found


def describe_exception(error: BaseException) -> str:
    """``TypeName: message`` (the message as str, not repr)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def plugin_failure(
    error: BaseException, *, plugin: str, model_class: type, run_id: int
) -> PluginFailure | None:
    """The one-line error for ``error`` if the plugin caused it; None for bench's own bugs.

    A BenchError raised while the run went on (e.g. a broken scoring contract) gets the
    plugin and run id added.
    """
    how = (
        f"run {run_id} is recorded as failed with the full traceback (bench show "
        f"--json {run_id}); to see it here, run again with bench --debug or "
        f"{DEBUG_ENV}=1"
    )
    if isinstance(error, BenchError):
        # the message may end in its own full stop
        reason = str(error).rstrip(".")
        return PluginFailure(f"run {run_id} (model plugin {plugin!r}) failed: {reason}. {how}")
    root = _plugin_root(model_class)
    frame = _deepest_frame_under(error.__traceback__, root) if root else None
    if frame is None:
        return None
    where = f"{Path(frame.filename).name}:{frame.lineno}"
    return PluginFailure(
        f"model plugin {plugin!r} raised {describe_exception(error)} "
        f"(at {where}, in {frame.name}); {how}"
    )


def unknown_model_with_failed_plugins(error: BenchError, name: str, records: list) -> BenchError:
    """``error`` (an unknown model name) told the whole story only if every plugin loaded:
    a model named like a plugin that failed to load is said to have failed, with why."""
    failed = [r for r in records if r.status == "failed"]
    if not failed:
        return error
    named = [r for r in failed if name in (r.name, r.distribution, r.module.split(".")[-1])]
    if named:
        record = named[0]
        return BenchError(
            f"model plugin {name!r} failed to load: {record.error} "
            f"(plugin {record.name!r} from {record.distribution}); "
            "`bench plugins` lists every plugin and its status"
        )
    names = ", ".join(f"{r.name!r} ({r.error})" for r in failed)
    return BenchError(
        f"{error} Note: these plugins failed to load and may hold it: {names}; see `bench plugins`"
    )
