"""A configuration resolved against the installed plugins, before any work is recorded.

Resolving is where a user's mistake shows (an unknown model or option, a wrong corpus
path, a device that cannot run the options): it happens before a run row exists, so a
mistake costs one line and no failed run. Resuming resolves the stored configuration the
same way and refuses when it no longer means what it meant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.model import LanguageModel
from bench.api.plugin_host import PluginHost
from bench.configuration.options import Options, validate_options
from bench.configuration.run_config import RunConfig, config_changes
from bench.corpora import CorpusText, download_if_missing, load_corpus
from bench.errors import BenchError
from bench.machine import distributed, environment
from bench.run.failures import unknown_model_with_failed_plugins
from bench.tokenization.tokenizers import Tokenizer


@dataclass(frozen=True)
class RunPlan:
    """What a RunConfig resolves to on this machine, checked before the run is recorded:
    the plugin's class and validated options, the tokenizer, the device."""

    model_class: type[LanguageModel]
    options: Options
    local_corpus: CorpusText | None
    tokenizer_name: str
    tokenizer_class: type[Tokenizer]
    tokenizer_options: Options
    device: str
    resolved: dict[str, Any]


def plan_run(host: PluginHost, config: RunConfig, data_dir: Path) -> RunPlan:
    """Resolve plugin, options, tokenizer and device; fail early on a user mistake."""
    try:
        model_class = host.models.get(config.plugin)
    except BenchError as error:  # perhaps its plugin failed to load: say so
        raise unknown_model_with_failed_plugins(error, config.plugin, host.records) from None
    options = host.model_options(config.plugin, config.options)
    local_corpus = _load_local_corpus(host, config.corpus, data_dir)
    tokenizer_name = config.tokenizer or (
        local_corpus.default_tokenizer
        if local_corpus
        else host.corpora.get(config.corpus).default_tokenizer
    )
    tokenizer_class = host.tokenizers.get(tokenizer_name)
    tokenizer_options = validate_options(
        tokenizer_class.Options, config.tokenizer_options, owner=f"tokenizer {tokenizer_name}"
    )
    device = distributed.rank_device(
        environment.resolve_device(config.device, torch_too=model_class.uses_torch)
    )
    options.check_device(device)
    distributed.check_plan(options, device, config.plugin)
    resolved = {
        "plugin": config.plugin,
        "corpus": config.corpus,
        "tokenizer": tokenizer_name,
        "seed": config.seed,
        "device": device,
        "options": options.model_dump(mode="json"),
        "tokenizer_options": tokenizer_options.model_dump(mode="json"),
    }
    return RunPlan(
        model_class,
        options,
        local_corpus,
        tokenizer_name,
        tokenizer_class,
        tokenizer_options,
        device,
        resolved,
    )


def plan_resume(
    host: PluginHost,
    run_id: int,
    record: dict[str, Any],
    data_dir: Path,
    echo: Callable[[str], Any],
) -> tuple[RunConfig, RunPlan]:
    """The configuration and plan of stored run ``run_id`` (its ``record``), refused when
    it resolves differently now."""
    stored = record["config"] or {}
    config = RunConfig(
        plugin=stored["plugin"],
        corpus=recorded_corpus(record, host),
        tokenizer=stored["tokenizer"],
        seed=stored["seed"],
        device=stored["device"],
        options=stored["options"],
        tokenizer_options=stored["tokenizer_options"],
    )
    try:
        plan = plan_run(host, config, data_dir)
    except BenchError as error:
        raise BenchError(
            f"run {run_id} cannot be resumed: its stored configuration no longer resolves ({error})"
        ) from None
    _check_same_text(run_id, record, plan.local_corpus)
    changed, added = config_changes(stored, plan.resolved | {"corpus": stored["corpus"]})
    if changed:
        raise BenchError(
            f"run {run_id} cannot be resumed exactly: its configuration "
            f"resolves differently now ({'; '.join(changed)}); bench show "
            f"{run_id} has the configuration it ran with"
        )
    if added:  # options bench gained since, at their defaults: the run's old behaviour
        echo(
            f"run {run_id} started before bench had {', '.join(added)}: resumed with their defaults"
        )
    return config, plan


def _check_same_text(run_id: int, record: dict[str, Any], corpus: CorpusText | None) -> None:
    """Refuse to resume on a local corpus whose files no longer hold the text the run
    started on (a registered corpus is checked against its own checksums on load)."""
    recorded = record.get("corpus_sha256")
    if corpus is None or not isinstance(recorded, dict):
        return
    differ = sorted(k for k, v in recorded.items() if corpus.sha256.get(k, v) != v)
    if differ:
        raise BenchError(
            f"run {run_id} cannot be resumed: {corpus.source} no longer holds the text it "
            f"measured (the {', '.join(differ)} checksums differ); bench show {run_id} "
            "has the recorded ones"
        )


def prepare_corpus(
    host: PluginHost,
    corpus: str,
    plan: RunPlan,
    data_dir: Path,
    echo: Callable[[str], Any],
    progress: bool,
) -> None:
    """What a run does with its corpus before its row exists: download a registered one
    that is not cached (so an offline failure is one error line, not a failed run); say
    how a single text file was split."""
    if plan.local_corpus is None:
        with distributed.rank0_first("download"):
            download_if_missing(corpus, host.corpora, data_dir, progress=progress)
    elif plan.local_corpus.single_file:
        echo(plan.local_corpus.describe_split())


def recorded_corpus(record: dict[str, Any], host: PluginHost) -> str:
    """What to load for stored run ``record``: a local folder or file is recorded by where
    it was read from; a registered corpus by name (a sharded one's source is its cache
    folder, which is not a corpus folder)."""
    corpus = (record.get("config") or {}).get("corpus") or record["corpus"]
    source = record.get("corpus_source")
    if source and Path(source).exists() and corpus not in host.corpora:
        return source
    return corpus


def plugin_version(host: PluginHost, plugin: str) -> str | None:
    """ "distribution version" of the package that registered model ``plugin``."""
    owner = host.models.entry(plugin).plugin
    for record in host.records:
        if record.name == owner:
            return f"{record.distribution} {record.version}"
    return None


def _load_local_corpus(host: PluginHost, corpus: str, data_dir: Path) -> CorpusText | None:
    """A corpus that is not a registered name is a local folder: read it up front.

    Reading local files is quick, and a wrong path or a bad split is a user mistake
    to report before a run is recorded. Registered corpora may need a download, which
    happens inside the recorded run.
    """
    if corpus in host.corpora:
        return None
    return load_corpus(corpus, host.corpora, data_dir, download=False, progress=False)
