"""The pandas frame leaderboards are built from: one row per finished run, with its newest
valid and test evaluation side by side, typed so that integers stay integers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.store.schema import Run

if TYPE_CHECKING:
    import pandas as pd

# Evaluation columns copied into results_frame() as valid_<name> and test_<name>.
RESULT_EVAL_FIELDS = (
    "ppl",
    "word_ppl",
    "bits_per_token",
    "bits_per_byte",
    "ppl_no_oov",
    "nll",
    "tokens",
    "words",
    "bytes",
    "lines",
    "oov",
    "mode",
    "batch_size",
    "context",
    "stride",
    "seconds",
    "tokens_per_second",
    "ppl_low",
    "ppl_high",
)
_INT_EVAL_FIELDS = {"tokens", "words", "bytes", "lines", "oov", "batch_size", "context", "stride"}
_INT_RUN_FIELDS = {"vocab_size", "seed", "params", "train_tokens"}

# Every column of runs (also the fields create_run and update_run accept).
RUN_FIELDS = tuple(c.key for c in Run.__table__.columns)


def results_frame(
    runs: list[dict[str, Any]], latest: dict[tuple[int, str], dict[str, Any]]
) -> pd.DataFrame:
    """``runs`` (run rows) joined with ``latest`` (their newest evaluation per split); runs
    without a test evaluation are left out."""
    import pandas as pd  # lazily: keeps `bench --help` fast

    records = []
    for run in runs:
        if (run["id"], "test") not in latest:
            continue
        record = {("run_id" if k == "id" else k): v for k, v in run.items()}
        for split in ("valid", "test"):
            evaluation = latest.get((run["id"], split), {})
            for field in RESULT_EVAL_FIELDS:
                record[f"{split}_{field}"] = evaluation.get(field)
        records.append(record)
    columns = (
        ["run_id"]
        + [k for k in RUN_FIELDS if k != "id"]
        + [f"{s}_{f}" for s in ("valid", "test") for f in RESULT_EVAL_FIELDS]
    )
    frame = pd.DataFrame.from_records(records, columns=columns)
    # Nullable integers, so a missing context or params does not turn 35 into 35.0.
    ints = (
        ["run_id"]
        + sorted(_INT_RUN_FIELDS)
        + [f"{s}_{f}" for s in ("valid", "test") for f in sorted(_INT_EVAL_FIELDS)]
    )
    for column in ints:
        frame[column] = frame[column].astype("Int64")
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
