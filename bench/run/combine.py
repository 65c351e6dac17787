"""`bench combine`: stored runs interpolated token by token, stored as a run of their own.

The weights are fitted on the validation split only (EM, :mod:`bench.scoring.interpolation`);
the test split is then scored once with them, through the core's exactly-once scoring like
any model, and the result is stored as an ordinary run (valid and test evaluations,
intervals, per-token log-probabilities) whose configuration names its members:

    derived_from = {"kind": "combine", "parents": [run ids], "method": "linear",
                    "settings": {"weights": {run id: weight}}, "search": [the EM record]}

so leaderboards and `bench compare` treat it as any other run.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.contract_types import EvalProtocol, ScoredTokens, SplitEvaluation
from bench.api.plugin_host import PluginHost
from bench.configuration.run_config import config_hash
from bench.errors import BenchError
from bench.machine import environment
from bench.run.combine_members import (
    SPLITS,
    Member,
    check_same_streams,
    latest_evaluation,
    load_member,
)
from bench.run.restore import restore_tokenizer
from bench.scoring.exactly_once import evaluate
from bench.scoring.interpolation import LinearFit, fit_linear, mixture_logprobs
from bench.store import Store
from bench.tokenization.encode import encode_split
from bench.tokenization.tokens import TokenizedSplit

PLUGIN = "combine"
LOG_LINEAR_REFUSAL = (
    "--log-linear is not available: a log-linear mixture must be normalised over the whole "
    "vocabulary at every position, which needs each member's full distribution, and bench "
    "keeps only the probability of the token that occurred (no model plugin offers full "
    "distributions to combine); use the linear interpolation (the default)"
)


@dataclass(frozen=True)
class CombinedRun:
    run_id: int
    label: str
    fit: LinearFit
    members: list[Member]
    evaluations: dict[str, SplitEvaluation]


def combine_runs(
    store: Store,
    host: PluginHost,
    data_dir: Path,
    run_ids: list[int],
    *,
    command: str,
    echo: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> CombinedRun:
    """Fit the interpolation weights of ``run_ids`` on valid, score test once, store the run."""
    records = [store.get_run(run_id) for run_id in run_ids]
    check_same_streams(records)
    members = [load_member(store, host, data_dir, record, echo) for record in records]
    splits = _token_streams(records[0], host, data_dir)
    for member in members:
        for name in SPLITS:
            if member.logprobs[name].size != len(splits[name]):
                raise BenchError(
                    f"run {member.run_id} holds {member.logprobs[name].size} {name} "
                    f"log-probabilities, but the {name} split has {len(splits[name])} tokens"
                )
    # the weights see the validation split only; test is read after they are fixed
    fit = fit_linear(np.column_stack([m.logprobs["valid"] for m in members]))
    label = " + ".join(m.short_label() for m in members) + " (interpolated)"
    run_id = store.create_run(**_run_fields(records[0], members, fit, label, command))
    evaluations: dict[str, SplitEvaluation] = {}
    try:
        for name in SPLITS:
            evaluations[name] = score_split(splits[name], members, fit.weights, records[0])
            store.add_evaluation(run_id, evaluations[name])
    except BaseException as error:
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        store.finish_run(run_id, "failed", error=detail)
        raise
    store.finish_run(run_id, "finished", peak_rss_mb=environment.peak_rss_mb())
    return CombinedRun(run_id, label, fit, members, evaluations)


def score_split(
    split: TokenizedSplit,
    members: list[Member],
    weights: tuple[float, ...],
    first: dict[str, Any],
) -> SplitEvaluation:
    """One split of the mixture, scored through the core like a model's (every token once)."""
    stored = latest_evaluation(first, split.name)
    protocol = EvalProtocol(stored["mode"], stored["batch_size"], stored["context"])

    def score(tokens: TokenizedSplit, _: EvalProtocol) -> Iterator[ScoredTokens]:
        matrix = np.column_stack([m.logprobs[tokens.name] for m in members])
        yield ScoredTokens.of(np.arange(len(tokens)), mixture_logprobs(matrix, np.array(weights)))

    evaluation = evaluate(split, protocol, score)
    # scoring with the mixture means scoring with every member: its time is theirs plus
    # the mixing, so tokens per second compare honestly with a single model's
    members_seconds = sum(latest_evaluation(m.record, split.name)["seconds"] for m in members)
    return replace(evaluation, seconds=evaluation.seconds + members_seconds)


def _token_streams(
    record: dict[str, Any], host: PluginHost, data_dir: Path
) -> dict[str, TokenizedSplit]:
    """The valid and test token streams the members scored, rebuilt from the first one's
    corpus and tokenizer (for the unit counts, line boundaries and OOVs of the metrics)."""
    tokenizer, corpus = restore_tokenizer(record["id"], record, host, data_dir)
    return {
        name: encode_split(corpus, tokenizer, name, data_dir, lambda items, **_: items)
        for name in SPLITS
    }


def _run_fields(
    first: dict[str, Any], members: list[Member], fit: LinearFit, label: str, command: str
) -> dict[str, Any]:
    """The run row of a combination: the members' shared corpus and vocabulary, and a
    configuration that names the members, the method and the fitted weights."""
    derived_from = {
        "kind": "combine",
        "parents": [m.run_id for m in members],
        "method": "linear",
        "settings": {
            "weights": {str(m.run_id): w for m, w in zip(members, fit.weights, strict=True)},
            # run ids belong to one database: label and configuration hash name a member
            # wherever the combined run is imported
            "members": {
                str(m.run_id): {
                    "label": m.record.get("model_label"),
                    "config_hash": m.record.get("config_hash"),
                }
                for m in members
            },
        },
        "search": fit.search_record(),
    }
    config = {
        "plugin": PLUGIN,
        "corpus": (first.get("config") or {}).get("corpus", first.get("corpus")),
        "tokenizer": first.get("tokenizer"),
        "tokenizer_options": (first.get("config") or {}).get("tokenizer_options"),
        "derived_from": derived_from,
    }
    env = environment.describe_environment("cpu", torch_too=False)
    params = [m.record.get("params") for m in members]
    return {
        "plugin": PLUGIN,
        "plugin_version": env.get("bench_version"),
        "model_label": label,
        "key_options": "weights " + "/".join(f"{w:.3f}" for w in fit.weights),
        "corpus": first.get("corpus"),
        "corpus_source": first.get("corpus_source"),
        "corpus_sha256": first.get("corpus_sha256"),
        "corpus_verified": first.get("corpus_verified"),
        "tokenizer": first.get("tokenizer"),
        "vocab_size": first.get("vocab_size"),
        "vocab_sha256": first.get("vocab_sha256"),
        "config": config,
        "config_hash": config_hash(config),
        "device": "cpu",
        "device_name": env.get("device_name"),
        "environment": env,
        "command": command,
        "bench_version": env.get("bench_version"),
        "git_commit": env.get("git_commit"),
        "params": sum(params) if all(isinstance(p, int) for p in params) else None,
    }
