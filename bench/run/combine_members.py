"""The members of a combination: stored runs that scored the same token streams, and the
log-probability each gave every token (scored again from its checkpoint where the
database does not hold them).

Mixing two runs token by token only means something when token ``i`` is the same token
in both, so the runs must share the tokenizer (and its options), the vocabulary and the
exact text of each split; :func:`check_same_streams` names every difference it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.plugin_host import PluginHost
from bench.errors import BenchError
from bench.run.restore import restore_run
from bench.scoring.exactly_once import evaluate
from bench.store import Store
from bench.store.token_store import keep_token_logprobs, stored_token_logprobs
from bench.tokenization.encode import encode_split

SPLITS = ("valid", "test")
# a member scored again must reproduce its stored perplexity to this relative tolerance
RESCORE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Member:
    """One stored run taking part in a combination, with its per-token log-probabilities."""

    record: dict[str, Any]
    logprobs: dict[str, np.ndarray]  # split name -> one log-probability per token

    @property
    def run_id(self) -> int:
        return int(self.record["id"])

    def short_label(self) -> str:
        """The model's label without its parenthesised detail ("KN5", "LSTM 2x200")."""
        label = self.record.get("model_label") or self.record.get("plugin") or f"run {self.run_id}"
        return label.split(" (")[0].strip() or label


def latest_evaluation(record: dict[str, Any], split: str) -> dict[str, Any]:
    """The newest stored evaluation of ``split`` of a run, or a clear error."""
    found = [e for e in record["evaluations"] if e["split"] == split]
    if not found:
        raise BenchError(f"run {record['id']} has no {split} evaluation to combine")
    return max(found, key=lambda e: e["id"])


def _stream_identity(record: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for two runs to have scored the same tokens, by the name a
    refusal gives each."""
    config = record.get("config") or {}
    checksums = record.get("corpus_sha256") or {}
    identity: dict[str, Any] = {
        "tokenizer": (record.get("tokenizer"), config.get("tokenizer_options")),
        "vocabulary": record.get("vocab_sha256"),
    }
    for split in SPLITS:
        identity[f"{split} split checksum"] = checksums.get(split)
        identity[f"{split} token count"] = latest_evaluation(record, split)["tokens"]
    return identity


def check_same_streams(records: list[dict[str, Any]]) -> None:
    """Refuse runs that did not score the same token streams, saying which differ and how."""
    if len(records) < 2 or len({r["id"] for r in records}) != len(records):
        raise BenchError("combine needs two or more different runs")
    for record in records:
        if record["status"] != "finished":
            raise BenchError(f"run {record['id']} is {record['status']}, not finished")
    first = _stream_identity(records[0])
    problems = []
    for record in records[1:]:
        other = _stream_identity(record)
        differ = [name for name in first if first[name] != other[name]]
        if differ:
            problems.append(
                f"runs {records[0]['id']} and {record['id']} differ in {', '.join(differ)}"
            )
    if problems:
        raise BenchError(
            "cannot combine runs that scored different token streams: "
            + "; ".join(problems)
            + " (combine runs of one corpus, tokenizer and vocabulary)"
        )


def load_member(
    store: Store,
    host: PluginHost,
    data_dir: Path,
    record: dict[str, Any],
    echo: Callable[[str], None],
) -> Member:
    """A member with the stored log-probabilities of its valid and test tokens; a run stored
    without them is scored again from its checkpoint, checked, and they are kept."""
    logprobs = {}
    for split in SPLITS:
        stored = stored_token_logprobs(store, latest_evaluation(record, split)["id"])
        if stored is None:
            return Member(record, _rescore(store, host, data_dir, record, echo))
        logprobs[split] = stored
    return Member(record, logprobs)


def _rescore(
    store: Store,
    host: PluginHost,
    data_dir: Path,
    record: dict[str, Any],
    echo: Callable[[str], None],
) -> dict[str, np.ndarray]:
    run_id = record["id"]
    echo(f"run {run_id} was stored without per-token log-probabilities: scoring it again")
    try:
        restored = restore_run(run_id, store, host, data_dir)
    except (BenchError, KeyError) as error:
        raise BenchError(
            f"run {run_id} has no per-token log-probabilities stored (scored before bench "
            f"kept them, or imported from a file) and cannot be scored again here: {error}"
        ) from None
    result = {}
    for split in SPLITS:
        tokens = encode_split(
            restored.corpus, restored.tokenizer, split, data_dir, lambda x, **_: x
        )
        scored = evaluate(tokens, restored.model.eval_protocol(tokens), restored.model.score)
        stored = latest_evaluation(record, split)
        if abs(scored.ppl / stored["ppl"] - 1.0) > RESCORE_TOLERANCE:
            raise BenchError(
                f"run {run_id}: scored again, its {split} perplexity is {scored.ppl:.4f}, "
                f"not the stored {stored['ppl']:.4f}; the checkpoint does not match the run"
            )
        keep_token_logprobs(store, stored["id"], scored.token_logprobs)
        result[split] = scored.token_logprobs.astype(np.float32)  # as a later read gives
    return result
