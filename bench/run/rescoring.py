"""`bench rescore`: score a stored run again through an evaluation method, as a new run.

The stored run's model is restored (its checkpoint, or a fresh fit for a model that
declares its fit cheap and deterministic), checked to reproduce the stored validation
perplexity, and handed to the method. The method's validation grid is tried on valid only;
test is scored once, with the settings valid chose. The result is stored as an ordinary
run whose configuration names where it came from (``derived_from``): the parent run, the
method, the settings and the whole search. The new run's row is written as ``running``
before any work and closed as ``finished``, ``failed`` or ``interrupted``.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.contract_types import SplitEvaluation
from bench.api.eval_method import EvalMethod, RescoreBase
from bench.api.plugin_host import PluginHost
from bench.configuration.options import Options, validate_options
from bench.configuration.run_config import config_hash
from bench.errors import BenchError
from bench.machine import environment
from bench.run.folders import run_folder, run_lock
from bench.run.restore import refit_context, restore_run
from bench.scoring.exactly_once import evaluate
from bench.store import Store
from bench.tokenization.encode import tokenize_corpus
from bench.tokenization.tokens import TokenizedSplit

# the restored model must give the stored validation perplexity to this relative precision
REPRODUCE_TOLERANCE = 1e-4


@dataclass
class RescoreResult:
    run_id: int
    parent: int
    label: str
    chosen: dict[str, Any]
    search: list[dict[str, Any]]
    evaluations: dict[str, SplitEvaluation]


def search_points(
    method: type[EvalMethod], fixed: dict[str, Any], grid: dict[str, list[Any]] | None = None
) -> list[dict[str, Any]]:
    """Every point of the validation grid: the method's own, with ``grid``'s lists in place
    of its lists for those options and the ``fixed`` values not searched; at least one."""
    both = sorted(set(fixed) & set(grid or {}))
    if both:
        raise BenchError(f"{', '.join(both)}: give an option with --set or --grid, not both")
    wanted = {**method.search, **(grid or {})}
    free = {key: list(values) for key, values in wanted.items() if key not in fixed}
    keys = list(free)
    return [
        {**dict(zip(keys, values, strict=True)), **fixed}
        for values in itertools.product(*(free[key] for key in keys))
    ]


def rescore(
    run_id: int,
    method_name: str,
    settings: dict[str, Any],
    *,
    grid: dict[str, list[Any]] | None = None,
    store: Store,
    host: PluginHost,
    data_dir: Path,
    command: str,
    echo: Callable[[str], None],
    progress: Callable[..., Any] = lambda iterable=None, **_: iterable,
) -> RescoreResult:
    """Restore run ``run_id``, search the method's settings on valid, score test once and
    store the result as a new run (see the module's docstring)."""
    method = host.eval_methods.get(method_name)
    record = store.get_run(run_id)
    _check_parent(record, run_id, host, method, method_name)
    points = search_points(method, settings, grid)
    for point in points:  # every bad option is reported before any work
        validate_options(method.Options, point, owner=f"method {method_name}")
    restored = restore_run(run_id, store, host, data_dir, refit=True)
    splits = tokenize_corpus(restored.corpus, restored.tokenizer, data_dir, progress, echo)
    if restored.refit_needed:
        echo(f"run {run_id}: fitting {restored.record['model_label']} again on its train split")
        restored.model.fit(refit_context(splits, data_dir, restored.record, progress))
    base = RescoreBase(restored.model, splits["train"], progress)
    _check_reproduces(record, splits["valid"], base)
    new_id = _create_row(store, record, method, method_name, command)
    try:  # the run's lock: `bench runs` tells a rescore that was killed ("process gone")
        with run_lock(run_folder(data_dir, store.url, new_id), new_id):
            result = _search_and_score(
                new_id, run_id, method, method_name, points, base, splits, echo
            )
            _store_result(store, record, result, method_name, settings)
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        store.finish_run(new_id, status, error=f"{detail}\n\n{traceback.format_exc()}")
        raise
    return result


def _check_parent(
    record: dict[str, Any], run_id: int, host: PluginHost, method: type[EvalMethod], name: str
) -> None:
    config = record.get("config") or {}
    if record["status"] != "finished":
        raise BenchError(f"run {run_id} is {record['status']}: only finished runs can be rescored")
    if "derived_from" in config:
        parents = ", ".join(str(p) for p in config["derived_from"].get("parents", []))
        raise BenchError(
            f"run {run_id} is itself a {config['derived_from'].get('kind')} of run(s) "
            f"{parents}: rescore the run it came from"
        )
    model_class = host.models.get(config["plugin"])
    missing = [need for need in method.requires if not model_class.supports(need)]
    if missing:
        able = [e.name for e in host.models if all(e.item.supports(n) for n in method.requires)]
        raise BenchError(
            f"method {name!r} needs a model with {', '.join(missing)}; model plugin "
            f"{config['plugin']!r} has none (models that have it: {', '.join(able) or 'none'})"
        )


def _check_reproduces(record: dict[str, Any], valid: TokenizedSplit, base: RescoreBase) -> None:
    """The restored model must give the stored validation perplexity: otherwise the rescored
    run would not measure a method on *that* run."""
    stored = next((e for e in record["evaluations"] if e["split"] == "valid"), None)
    if stored is None:
        raise BenchError(f"run {record['id']} has no stored validation evaluation to check against")
    ppl = math.exp(-float(np.sum(base.logprobs(valid))) / len(valid))
    if abs(ppl - stored["ppl"]) > REPRODUCE_TOLERANCE * stored["ppl"]:
        raise BenchError(
            f"run {record['id']}: the restored model gives valid perplexity {ppl:.4f}, but the "
            f"run stored {stored['ppl']:.4f}; its checkpoint or data differ from the run's"
        )


def _create_row(
    store: Store,
    record: dict[str, Any],
    method: type[EvalMethod],
    method_name: str,
    command: str,
) -> int:
    env = environment.describe_environment(record.get("device") or "cpu")
    copied = ("plugin", "plugin_version", "key_options", "corpus", "tokenizer", "seed", "device")
    new_id = store.create_run(
        **{key: record[key] for key in copied},
        config={**record["config"], "derived_from": {"kind": "rescore", "parents": [record["id"]]}},
        config_hash="",
        device_name=env["device_name"],
        environment=env,
        command=command,
        bench_version=env["bench_version"],
        git_commit=env["git_commit"],
    )
    store.update_run(
        new_id,
        **{
            key: record[key]
            for key in (
                "corpus_source",
                "corpus_sha256",
                "corpus_verified",
                "vocab_size",
                "vocab_sha256",
                "params",
            )
        },
        # the method's own label replaces this one once the run is scored
        model_label=f"{short_label(record['model_label'] or '')} + {method.shown_as or method_name}",
    )
    return new_id


def _search_and_score(
    new_id: int,
    parent: int,
    method: type[EvalMethod],
    method_name: str,
    points: list[dict[str, Any]],
    base: RescoreBase,
    splits: dict[str, TokenizedSplit],
    echo: Callable[[str], None],
) -> RescoreResult:
    """Score valid at each point of the grid, keep the best, score test once with it."""
    search: list[dict[str, Any]] = []
    best: tuple[float, EvalMethod, SplitEvaluation] | None = None
    for index, point in enumerate(points, start=1):
        options = validate_options(method.Options, point, owner=f"method {method_name}")
        scorer = method(options, base)
        started = time.perf_counter()
        valid = evaluate(splits["valid"], scorer.eval_protocol(splits["valid"]), scorer.score)
        search.append({"settings": _plain(options), "valid_ppl": valid.ppl})
        echo(
            f"run {new_id}: [{index}/{len(points)}] {_shown(point)}: valid {valid.ppl:.3f} "
            f"({time.perf_counter() - started:.1f} s)"
        )
        if best is None or valid.ppl < best[0]:
            best = (valid.ppl, scorer, valid)
    assert best is not None
    _, chosen, valid = best
    test = evaluate(splits["test"], chosen.eval_protocol(splits["test"]), chosen.score)
    return RescoreResult(
        run_id=new_id,
        parent=parent,
        label=chosen.label(short_label(base.model.label())),
        chosen=_plain(chosen.options),
        search=search,
        evaluations={"valid": valid, "test": test},
    )


def _store_result(
    store: Store,
    record: dict[str, Any],
    result: RescoreResult,
    method_name: str,
    fixed: dict[str, Any],
) -> None:
    config = {
        **record["config"],
        "derived_from": {
            "kind": "rescore",
            "parents": [record["id"]],
            "method": method_name,
            "settings": result.chosen,
            "fixed": fixed,
            "search": result.search,
        },
    }
    store.update_run(
        result.run_id, config=config, config_hash=config_hash(config), model_label=result.label
    )
    for evaluation in result.evaluations.values():
        store.add_evaluation(result.run_id, evaluation)
    store.finish_run(result.run_id, "finished", peak_rss_mb=environment.peak_rss_mb())


def short_label(model_label: str) -> str:
    """The model's label without its parenthesised explanations (of several words), for the
    name of a method over it: "KN5 + unigram cache", not "KN5 (interpolated modified
    Kneser-Ney) + ..."; a one-word setting such as "(add-0.1)" stays."""
    return re.sub(r"\s*\([^)]*\s[^)]*\)", "", model_label).strip()


def _plain(options: Options) -> dict[str, Any]:
    return options.model_dump(mode="json")


def _shown(point: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in point.items()) or "defaults"
