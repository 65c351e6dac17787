"""Old import paths of modules that moved, kept working with a ``DeprecationWarning``.

The modules of ``bench`` and of the built-in plugins were sorted into one package per stage
of a run (see docs/architecture.md). A plugin, a script or a pickle written before that
still names the old paths (``bench.model``, ``bench.tokens``, ``bench_plugins.kn_disk``,
...). :class:`MovedModuleFinder` answers those names with the module at the new path: the
very same module object, so classes, functions and ``isinstance`` checks are shared, and a
pickle that names an old path loads. The list of moves is in docs/hooks.md.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

# old dotted name -> the module's dotted name now
MOVES: dict[str, str] = {
    "bench.allocator": "bench.machine.allocator",
    "bench.batching": "bench.tokenization.batching",
    "bench.checkpoint": "bench.training.checkpoint",
    "bench.compare": "bench.scoring.compare",
    "bench.config": "bench.configuration.run_config",
    "bench.ddp_step": "bench.training.ddp_step",
    "bench.distributed": "bench.machine.distributed",
    "bench.environment": "bench.machine.environment",
    "bench.epoch_report": "bench.run.epoch_report",
    "bench.evaluation": "bench.scoring.exactly_once",
    "bench.failures": "bench.run.failures",
    "bench.flops": "bench.training.flops",
    "bench.hookspecs": "bench.api.hookspecs",
    "bench.html_assets": "bench.report.html_assets",
    "bench.html_site": "bench.report.html_site",
    "bench.launch": "bench.machine.launch",
    "bench.leaderboard": "bench.report.leaderboard",
    "bench.leaderboard_labels": "bench.run.option_labels",
    "bench.leaderboard_markdown": "bench.report.markdown",
    "bench.leaderboard_records": "bench.report.csv_json",
    "bench.metrics": "bench.scoring.metrics",
    "bench.model": "bench.api.model",
    "bench.optimization": "bench.training.optimization",
    "bench.options": "bench.configuration.options",
    "bench.output_layer_module": "bench.api.output_layer_module",
    "bench.output_layers": "bench.api.output_layers",
    "bench.output_network": "bench.api.output_network",
    "bench.plots": "bench.report.plots",
    "bench.plugins": "bench.api.plugin_host",
    "bench.published": "bench.report.published",
    "bench.rank_zero": "bench.machine.rank_zero",
    "bench.recipes": "bench.configuration.recipes",
    "bench.records": "bench.api.contract_types",
    "bench.registry": "bench.api.registry",
    "bench.reproduction_table": "bench.report.reproduction_table",
    "bench.restore": "bench.run.restore",
    "bench.run_folders": "bench.run.folders",
    "bench.run_plan": "bench.run.plan",
    "bench.runner": "bench.run.runner",
    "bench.seeds": "bench.scoring.seeds",
    "bench.sentencepiece_tokenizers": "bench.tokenization.sentencepiece_tokenizers",
    "bench.sharding": "bench.machine.sharding",
    "bench.throughput": "bench.training.throughput",
    "bench.token_cache": "bench.tokenization.token_cache",
    "bench.tokenizers": "bench.tokenization.tokenizers",
    "bench.tokens": "bench.tokenization.tokens",
    "bench.training_curves": "bench.report.training_curves",
    "bench.training_options": "bench.training.options",
    "bench.uncertainty": "bench.scoring.uncertainty",
    "bench.vocabulary_cache": "bench.tokenization.vocabulary_cache",
    "bench_plugins.kn_arpa": "bench_plugins.kn.arpa",
    "bench_plugins.kn_budgeted": "bench_plugins.kn.on_disk",
    "bench_plugins.kn_disk": "bench_plugins.kn.scratch",
    "bench_plugins.kn_estimate": "bench_plugins.kn.in_memory",
    "bench_plugins.maxent": "bench_plugins.recurrent.maxent",
    "bench_plugins.maxent_network": "bench_plugins.recurrent.maxent_network",
    "bench_plugins.output_builtin": "bench_plugins.output_layers",
    "bench_plugins.output_factored": "bench_plugins.output_layers.factored",
    "bench_plugins.output_sampling": "bench_plugins.output_layers.sampling",
    "bench_plugins.output_softmax": "bench_plugins.output_layers.softmax",
    "bench_plugins.recurrent_network": "bench_plugins.recurrent.network",
    "bench_plugins.snm_adjustment": "bench_plugins.snm.adjustment",
    "bench_plugins.snm_features": "bench_plugins.snm.features",
}


def new_name(old: str) -> str | None:
    """The current dotted name of the module once called ``old`` (its submodules included)."""
    head, dot, rest = old, "", ""
    while head:
        if head in MOVES:
            return MOVES[head] + dot + rest
        head, _, last = head.rpartition(".")
        rest = last + dot + rest
        dot = "."
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module at its new name (imported there first)."""

    def __init__(self, old: str, target: str) -> None:
        self.old, self.target = old, target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        # the import system writes the alias's spec on the module it gets: keep the real one
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._real_spec
        # level 2: the import line (the import system's own frames are skipped by warnings)
        warnings.warn(
            f"{self.old} is deprecated: it moved to {self.target}", DeprecationWarning, stacklevel=2
        )


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds each old dotted name of :data:`MOVES` (and of their submodules)."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(("bench.", "bench_plugins.")):
            return None
        new = new_name(fullname)
        if new is None or new == fullname:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(fullname, new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())


_FORMER = {new: old for old, new in MOVES.items()}


def former_name(cls: type) -> str:
    """``module.QualName`` of a class, its module named as before the move: cache keys hash
    this name, and the caches written before the move must still be found."""
    return f"{_FORMER.get(cls.__module__, cls.__module__)}.{cls.__qualname__}"
