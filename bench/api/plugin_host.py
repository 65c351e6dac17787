"""Finding, loading and querying plugins (pluggy + the ``bench.plugins`` entry points).

Built-in plugins ship with bench and are declared in its own pyproject.toml under the
same entry-point group as third-party ones, so they are discovered the same way. Each
entry point is loaded on its own: one that fails to import or register is recorded
with its error and the others keep working. Entry points that name the same object
(two installed distributions declaring the same plugin, such as a stale second install
of bench) load once; the others are recorded as duplicates.

Environment:
    BENCH_PLUGINS: unset loads every plugin; a comma-separated list loads only those
        third-party plugins (by entry-point or distribution name); an empty value loads
        none. Built-in plugins always load.
    BENCH_TRACE_HOOKS: when set, print every hook call to stderr.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from bench.api import hookspecs
from bench.api.registry import Registry
from bench.errors import BenchError, unknown_name_error

if TYPE_CHECKING:
    from bench.api.contract_types import LogDestination
    from bench.api.eval_method import EvalMethod
    from bench.api.model import LanguageModel
    from bench.api.output_layer_base import OutputLayer
    from bench.configuration.options import Options
    from bench.corpora import CorpusSpec
    from bench.tokenization.tokenizers import Tokenizer

ENTRY_POINT_GROUP = "bench.plugins"
PLUGINS_ENV = "BENCH_PLUGINS"
TRACE_ENV = "BENCH_TRACE_HOOKS"
BUILTIN_DISTRIBUTION = "bench-lm"
# Distributions whose entry points are bench's own: its name, and the name it was installed
# under before ("bench", taken on PyPI by an unrelated project), which an older install
# left in a virtual environment may still carry.
BUILTIN_DISTRIBUTIONS = (BUILTIN_DISTRIBUTION, "bench")


@dataclass
class PluginRecord:
    """One entry point and what became of it."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    status: str = "loaded"  # loaded | failed | disabled | duplicate
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


class PluginHost:
    """The plugin manager plus the registries the plugins filled."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        # entry points naming an object another one already loaded (status "duplicate")
        self.duplicates: list[PluginRecord] = []
        self.models: Registry[type[LanguageModel]] = Registry("model plugin")
        self.corpora: Registry[CorpusSpec] = Registry("corpus")
        self.tokenizers: Registry[type[Tokenizer]] = Registry("tokenizer")
        self.output_layers: Registry[type[OutputLayer]] = Registry("output layer")
        self.eval_methods: Registry[type[EvalMethod]] = Registry("evaluation method")
        if os.environ.get(TRACE_ENV):
            self.manager.trace.root.setwriter(lambda message: sys.stderr.write(message))
            self.manager.enable_tracing()

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def load_entry_points(self, entry_points: list[metadata.EntryPoint] | None = None) -> None:
        if entry_points is None:
            entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        allowed = _allowed_third_party()
        records = sorted(
            ((_record_for(ep), ep) for ep in entry_points),
            # built-ins register first, this install's before an older one's
            key=lambda pair: (
                not pair[0].builtin,
                _canonical(pair[0].distribution) != BUILTIN_DISTRIBUTION,
                pair[0].name,
            ),
        )
        first_of: dict[str, PluginRecord] = {}
        for record, entry_point in records:
            first = first_of.setdefault("".join(entry_point.value.split()), record)
            if first is not record:  # the same object again: pluggy takes it only once
                record.status = "duplicate"
                record.error = (
                    f"skipped: {first.distribution} {first.version} declares the same "
                    f"{record.module!r} (as {first.name!r}) and is the one loaded"
                )
                self.duplicates.append(record)
                continue
            self.records.append(record)
            if (
                not record.builtin
                and allowed is not None
                and not ({record.name, record.distribution} & allowed)
            ):
                record.status = "disabled"
                record.error = f"not listed in {PLUGINS_ENV}"
                continue
            try:
                plugin = entry_point.load()
                self.manager.register(plugin, name=record.name)
            except Exception as error:  # a broken plugin must not take bench down
                record.status = "failed"
                record.error = _describe(error)
                continue
            record.hooks = sorted(
                impl_caller.name for impl_caller in self.manager.get_hookcallers(plugin) or []
            )
        self._reject_unknown_hooks()

    def collect_registrations(self) -> None:
        """Run the register_* hooks plugin by plugin, so an error is pinned on its plugin."""
        self._collect("register_models", self._model_registrar)
        self._collect("register_corpora", self._corpus_registrar)
        self._collect("register_tokenizers", self._tokenizer_registrar)
        self._collect("register_output_layers", self._output_layer_registrar)
        self._collect("register_eval_methods", self._eval_method_registrar)

    def model_options(self, plugin: str, values: dict[str, Any]) -> Options:
        """A model plugin's validated options, with the parts other plugins provide resolved.

        A model that offers a choice of output layer gets the chosen layer's options
        validated here, against this host's registry (so a plugin-provided layer works).
        """
        from bench.configuration.options import validate_options

        options = validate_options(self.models.get(plugin).Options, values, owner=plugin)
        options.resolve(self)
        return options

    def with_new_options(self, plugin: str, stored: dict[str, Any]) -> dict[str, Any]:
        """A stored run's model options with every option ``plugin`` gained since at its
        default: the run's behaviour, as a resumed run takes it. ``stored`` unchanged when
        it no longer validates (an option removed, a plugin not installed)."""
        try:
            now = self.model_options(plugin, stored).model_dump(mode="json")
        except BenchError:
            return stored
        return _with_missing(stored, now)

    def _collect(self, hook_name: str, registrar_for: Any) -> None:
        """Call ``hook_name`` through pluggy once per implementing plugin.

        Each call goes through a hook caller that reaches that one plugin
        (``subset_hook_caller``), so pluggy still does the calling (the trace switch shows
        it, and an implementation receives only the arguments it names), while an error
        is pinned on the plugin that raised it and the other plugins still register.
        """
        caller = getattr(self.manager.hook, hook_name)
        implementing = [impl.plugin for impl in caller.get_hookimpls()]  # built-ins first
        for plugin in implementing:
            name = self.manager.get_name(plugin)
            this_one = self.manager.subset_hook_caller(
                hook_name, remove_plugins=[other for other in implementing if other is not plugin]
            )
            try:
                this_one(register=registrar_for(name))
            except Exception as error:
                self._mark_failed(name, f"{hook_name}: {_describe(error)}")

    def _reject_unknown_hooks(self) -> None:
        """Fail (and unregister) each plugin that implements a hook bench does not have,
        such as a misspelled ``register_model``; then let pluggy confirm none is left."""
        unknown: dict[str, list[str]] = {}
        for hook_name, caller in vars(self.manager.hook).items():
            if hook_name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.optionalhook:
                    unknown.setdefault(impl.plugin_name, []).append(hook_name)
        for plugin_name, hooks in unknown.items():
            self.manager.unregister(name=plugin_name)
            self._mark_failed(
                plugin_name,
                "unknown hook "
                + ", ".join(f"{hook!r}{_did_you_mean(hook)}" for hook in sorted(hooks)),
            )
        self.manager.check_pending()

    def _model_registrar(self, plugin: str) -> Any:
        def register(name: str, model_class: Any, *, aliases: tuple[str, ...] = ()) -> None:
            from bench.api.model import LanguageModel

            if not (isinstance(model_class, type) and issubclass(model_class, LanguageModel)):
                raise BenchError(f"model {name!r} must be a subclass of bench.LanguageModel")
            self.models.add(name, model_class, plugin=plugin, aliases=tuple(aliases))

        return register

    def _corpus_registrar(self, plugin: str) -> Any:
        def register(spec: Any) -> None:
            self.corpora.add(spec.name, spec, plugin=plugin, aliases=tuple(spec.aliases))

        return register

    def _tokenizer_registrar(self, plugin: str) -> Any:
        def register(name: str, tokenizer_class: Any, *, aliases: tuple[str, ...] = ()) -> None:
            self.tokenizers.add(name, tokenizer_class, plugin=plugin, aliases=tuple(aliases))

        return register

    def _output_layer_registrar(self, plugin: str) -> Any:
        def register(name: str, layer_class: Any, *, aliases: tuple[str, ...] = ()) -> None:
            from bench.api.output_layer_base import check_registrable

            check_registrable(name, layer_class)
            self.output_layers.add(name, layer_class, plugin=plugin, aliases=tuple(aliases))

        return register

    def _eval_method_registrar(self, plugin: str) -> Any:
        def register(name: str, method_class: Any, *, aliases: tuple[str, ...] = ()) -> None:
            from bench.api.eval_method import EvalMethod

            if not (isinstance(method_class, type) and issubclass(method_class, EvalMethod)):
                raise BenchError(f"method {name!r} must be a subclass of bench.EvalMethod")
            self.eval_methods.add(name, method_class, plugin=plugin, aliases=tuple(aliases))

        return register

    def _mark_failed(self, plugin_name: str, message: str) -> None:
        for record in self.records:
            if record.name == plugin_name:
                record.status = "failed"
                record.error = message if record.error is None else f"{record.error}; {message}"
                return
        self.records.append(
            PluginRecord(
                name=plugin_name,
                module="?",
                distribution="?",
                version="?",
                builtin=False,
                status="failed",
                error=message,
            )
        )


def _allowed_third_party() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _canonical(name: str) -> str:
    """A distribution name as packaging compares them: "Bench_LM" -> "bench-lm"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_for(entry_point: metadata.EntryPoint) -> PluginRecord:
    dist = entry_point.dist
    dist_name = dist.metadata["Name"] if dist is not None else "?"
    version = dist.version if dist is not None else "?"
    return PluginRecord(
        name=entry_point.name,
        module=entry_point.value,
        distribution=dist_name,
        version=version,
        builtin=_canonical(dist_name) in BUILTIN_DISTRIBUTIONS,
    )


def _did_you_mean(hook_name: str) -> str:
    close = difflib.get_close_matches(hook_name, hook_names(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def hook_names() -> list[str]:
    """The names of every hook bench specifies."""
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_spec")
    )


def _describe(error: BaseException) -> str:
    last = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(error).__name__}: {error}{where}"


def load_plugins(entry_points: list[metadata.EntryPoint] | None = None) -> PluginHost:
    """A fresh host with every allowed entry point loaded and registered."""
    host = PluginHost()
    host.load_entry_points(entry_points)
    host.collect_registrations()
    return host


@functools.cache
def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    return load_plugins()


def check_loggers(
    host: PluginHost, destinations: tuple[LogDestination, ...]
) -> tuple[LogDestination, ...]:
    """Refuse, before a run is recorded, a destination whose kind no loaded plugin logs to
    (a typo, or a logger plugin that failed to load: its error is named)."""
    loggers = {record.name: record for record in host.records if "log_metrics" in record.hooks}
    for destination in destinations:
        if destination.kind in loggers and loggers[destination.kind].status == "loaded":
            continue
        failed = next((r for r in host.records if r.name == destination.kind and r.error), None)
        if failed is not None:
            raise BenchError(
                f"--log-to {destination}: the plugin {failed.name!r} is {failed.status} "
                f"({failed.error})"
            )
        raise unknown_name_error("logger (--log-to KIND)", destination.kind, loggers)
    return destinations


def _with_missing(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """``stored``, plus the keys only ``now`` has (nested tables too); stored values win."""
    filled = dict(stored)
    for key, value in now.items():
        if key not in filled:
            filled[key] = value
        elif isinstance(filled[key], dict) and isinstance(value, dict):
            filled[key] = _with_missing(filled[key], value)
    return filled
