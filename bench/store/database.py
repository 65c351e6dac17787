"""The Store: every run, evaluation, metric and artifact, written as it happens.

Each write method is one short transaction, committed before it returns, so a run that
dies (crash, Ctrl-C, OOM kill) leaves everything it recorded so far. Several processes may
write to one SQLite file at once: writes go through :func:`bench.store.engine.writer`,
which takes the lock up front, and the engine waits its turn instead of failing with
"database is locked" (see :mod:`bench.store.engine`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from bench.errors import BenchError
from bench.paths import default_db_url
from bench.secrets import mask_text
from bench.store import frames
from bench.store.engine import (
    check_sqlite_file,
    database_error,
    database_errors,
    open_engine,
    safe_url,
    writer,
)
from bench.store.migrations import migrate
from bench.store.rows import (
    check_run_fields,
    check_status,
    evaluation_row,
    latest_evaluations,
    probe_rows,
    row_dict,
    score_blobs,
)
from bench.store.schema import (
    FINAL_STATUSES,
    Artifact,
    Evaluation,
    LineScoreBlob,
    Metric,
    ProbeResult,
    Run,
    TokenScoreBlob,
)

if TYPE_CHECKING:
    import pandas as pd

    from bench.api.contract_types import SplitEvaluation as ScoredSplit
    from bench.scoring.uncertainty import LineScores


class Store:
    """bench's database: open it with a SQLAlchemy URL (default: $BENCH_DB or a SQLite file).

    Opening applies pending migrations. Methods return plain dicts so callers never hold
    ORM objects bound to a closed session.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_db_url()
        shown = safe_url(self.url)
        try:
            self.engine = open_engine(self.url)
            self._writer = writer(self.engine)
            check_sqlite_file(self.engine, self.url)  # a damaged file is refused before any work
            migrate(self._writer)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise BenchError(f"invalid database URL {shown!r}: {exc}") from exc
        except ImportError as exc:  # e.g. a postgresql:// URL without its driver installed
            raise BenchError(
                f"cannot open database {shown!r}: driver not installed ({exc})"
            ) from exc
        except DBAPIError as exc:  # damaged, locked, full: say which
            raise database_error(self.url, exc) from exc
        except (SQLAlchemyError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise BenchError(f"cannot open database {shown!r}: {reason}") from exc

    def close(self) -> None:
        """Release pooled connections (the file stays as it is)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r})"

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction, as every write of bench takes it: on SQLite the write
        lock first (``BEGIN IMMEDIATE``), so a concurrent writer makes it wait out the busy
        timeout instead of failing with "database is locked"."""
        with (
            database_errors(self.url),
            Session(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with database_errors(self.url), Session(self.engine) as session, session.begin():
            yield session

    @staticmethod
    def _run(session: Session, run_id: int) -> Run:
        run = session.get(Run, run_id)
        if run is None:
            raise BenchError(f"no run with id {run_id}")
        return run

    # -- runs -------------------------------------------------------------------------

    def create_run(self, **fields: Any) -> int:
        """Insert a run with status "running" and started_at now (UTC); return its id."""
        check_run_fields(fields)
        if fields.get("command"):  # never store a password given in a --db URL
            fields["command"] = mask_text(fields["command"])
        fields.setdefault("status", "running")
        fields.setdefault("started_at", datetime.now(UTC))
        with self.writing() as session:
            run = Run(**fields)
            session.add(run)
            session.flush()
            return run.id

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set some columns of a run (e.g. params once the model is built)."""
        check_run_fields(fields)
        with self.writing() as session:
            run = self._run(session, run_id)
            for key, value in fields.items():
                setattr(run, key, value)

    def finish_run(
        self, run_id: int, status: str, *, error: str | None = None, **fields: Any
    ) -> None:
        """End a run as finished, failed or interrupted, with finished_at and wall_seconds.

        Both are computed (now, and now minus started_at) unless passed in ``fields``.
        """
        check_status(status, FINAL_STATUSES)
        check_run_fields(fields)
        with self.writing() as session:
            run = self._run(session, run_id)
            finished_at = fields.pop("finished_at", None) or datetime.now(UTC)
            if "wall_seconds" not in fields and run.started_at is not None:
                fields["wall_seconds"] = (finished_at - run.started_at).total_seconds()
            run.status = status
            run.finished_at = finished_at
            if error is not None:
                run.error = error
            for key, value in fields.items():
                setattr(run, key, value)

    def reopen_run(self, run_id: int) -> None:
        """Mark an unfinished run as running again (``bench run --resume``).

        Its evaluations are dropped (the resumed run scores again); metrics stay until the
        training loop says where it resumes (:meth:`delete_metrics`).
        """
        with self.writing() as session:
            run = self._run(session, run_id)
            if run.status == "finished":
                raise BenchError(f"run {run_id} has finished; there is nothing to resume")
            run.status = "running"
            run.finished_at = None
            run.error = None
            for table in (TokenScoreBlob, LineScoreBlob, Evaluation):
                session.execute(delete(table).where(table.run_id == run_id))

    def delete_run(self, run_id: int) -> None:
        """Remove a run and everything recorded for it (metrics, evaluations, artifact
        rows, probe results)."""
        with self.writing() as session:
            self._run(session, run_id)
            for table in (Metric, TokenScoreBlob, LineScoreBlob, Evaluation, Artifact, ProbeResult):
                session.execute(delete(table).where(table.run_id == run_id))
            session.execute(delete(Run).where(Run.id == run_id))

    def delete_metrics(self, run_id: int, *, after_step: int | None = None) -> None:
        """Drop a run's metrics logged after ``after_step`` (all of them when None)."""
        with self.writing() as session:
            query = delete(Metric).where(Metric.run_id == run_id)
            if after_step is not None:
                query = query.where((Metric.step > after_step) | Metric.step.is_(None))
            session.execute(query)

    # -- what a run records -------------------------------------------------------------

    def add_metrics(
        self,
        run_id: int,
        metrics: dict[str, float],
        *,
        step: int | None = None,
        epoch: int | None = None,
    ) -> None:
        """Store one row per metric name, all at the same step/epoch."""
        now = datetime.now(UTC)
        with self.writing() as session:
            self._run(session, run_id)
            if metrics:  # one executemany, not one INSERT ... RETURNING per name
                session.execute(
                    insert(Metric),
                    [
                        {
                            "run_id": run_id,
                            "step": step,
                            "epoch": epoch,
                            "name": name,
                            "value": None if value is None or math.isnan(value) else float(value),
                            "created_at": now,
                        }
                        for name, value in metrics.items()
                    ],
                )

    def add_evaluation(self, run_id: int, evaluation: ScoredSplit) -> int:
        """Store a scored split: its protocol, unit counts and metrics, and where it has
        them its per-line scores and their bootstrap interval; return the row id."""
        interval = evaluation.ppl_interval  # computed before the write transaction
        with self.writing() as session:
            self._run(session, run_id)
            row = evaluation_row(run_id, evaluation, interval)
            session.add(row)
            session.flush()
            session.add_all(score_blobs(row.id, run_id, evaluation))
            return row.id

    def line_scores(self, evaluation_id: int) -> LineScores | None:
        """The per-line scores stored with an evaluation, or None (stored before bench kept
        them)."""
        from bench.scoring.uncertainty import BLOB_FORMAT, LineScores

        with self._read() as session:
            blob = session.get(LineScoreBlob, evaluation_id)
            if blob is None:
                return None
            if blob.format != BLOB_FORMAT:
                raise BenchError(
                    f"evaluation {evaluation_id}: per-line scores in format "
                    f"{blob.format!r}, which this bench cannot read"
                )
            return LineScores.from_bytes(blob.data)

    def add_artifact(self, run_id: int, kind: str, path: str | Path) -> int:
        """Record a file the run produced (a checkpoint, a vocabulary) once; return the row id."""
        with self.writing() as session:
            self._run(session, run_id)
            existing = session.scalar(
                select(Artifact.id).where(
                    Artifact.run_id == run_id, Artifact.kind == kind, Artifact.path == str(path)
                )
            )
            if existing is not None:
                return existing
            row = Artifact(run_id=run_id, kind=kind, path=str(path))
            session.add(row)
            session.flush()
            return row.id

    def add_probe_results(
        self,
        probe: str,
        values: Iterable[tuple[str, int, float]],
        *,
        label: str,
        plugin: str,
        corpus: str,
        split: str,
        positions: int,
        run_id: int | None = None,
        config: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> int:
        """Store what one probe measured on one model, as ``(name, distance, value)`` rows.

        ``run_id`` names a stored run; a freshly initialised model has none and is
        described by ``plugin``, ``config`` and ``seed`` instead. Returns the rows written.
        """
        header = {
            "probe": probe,
            "run_id": run_id,
            "plugin": plugin,
            "config": config,
            "seed": seed,
            "corpus": corpus,
            "split": split,
            "label": label,
            "positions": positions,
        }
        rows = probe_rows(header, values)
        with self.writing() as session:
            if run_id is not None:
                self._run(session, run_id)
            if rows:
                session.execute(insert(ProbeResult), rows)
        return len(rows)

    # -- reading ------------------------------------------------------------------------

    def has_run(self, run_id: int) -> bool:
        """Whether a run with this id is stored."""
        with self._read() as session:
            return session.get(Run, run_id) is not None

    def get_run(self, run_id: int) -> dict[str, Any]:
        """All columns of a run plus its "evaluations", "metrics" and "artifacts" (dict lists)."""
        with self._read() as session:
            run = self._run(session, run_id)
            result = row_dict(run)
            result["evaluations"] = [row_dict(e) for e in run.evaluations]
            result["metrics"] = [row_dict(m) for m in run.metrics]
            result["artifacts"] = [row_dict(a) for a in run.artifacts]
            return result

    def list_runs(
        self,
        *,
        limit: int | None = 50,
        status: str | None = None,
        plugin: str | None = None,
        corpus: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs newest first, each with "valid_ppl" and "test_ppl" (None when not scored)."""
        if status is not None:
            check_status(status)
        query = select(Run).order_by(Run.id.desc())
        for column, wanted in ((Run.status, status), (Run.plugin, plugin), (Run.corpus, corpus)):
            if wanted is not None:
                query = query.where(column == wanted)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            runs = [row_dict(r) for r in session.scalars(query)]
            latest = latest_evaluations(session, [r["id"] for r in runs])
        for run in runs:
            for split in ("valid", "test"):
                evaluation = latest.get((run["id"], split))
                run[f"{split}_ppl"] = evaluation["ppl"] if evaluation else None
        return runs

    def results_frame(self, corpus: str | None = None) -> pd.DataFrame:
        """One row per finished run with a test evaluation: what leaderboards are built from.

        Columns: every run column (``id`` renamed ``run_id``) and, for the newest valid and
        test evaluation, ``valid_<field>`` / ``test_<field>`` for each of
        :data:`bench.store.frames.RESULT_EVAL_FIELDS` (NA when the run has no valid evaluation).
        """
        query = select(Run).where(Run.status == "finished").order_by(Run.id)
        if corpus is not None:
            query = query.where(Run.corpus == corpus)
        with self._read() as session:
            runs = [row_dict(r) for r in session.scalars(query)]
            latest = latest_evaluations(session, [r["id"] for r in runs])
        return frames.results_frame(runs, latest)

    def probe_results(self, probe: str | None = None, *, run_id: int | None = None) -> pd.DataFrame:
        """Stored probe measurements, oldest first: one row per value, every column."""
        import pandas as pd  # lazily: keeps `bench --help` fast

        query = select(ProbeResult).order_by(ProbeResult.id)
        if probe is not None:
            query = query.where(ProbeResult.probe == probe)
        if run_id is not None:
            query = query.where(ProbeResult.run_id == run_id)
        with self._read() as session:
            rows = [row_dict(r) for r in session.scalars(query)]
        columns = [c.key for c in ProbeResult.__table__.columns]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for column in ("run_id", "seed"):
            frame[column] = frame[column].astype("Int64")
        return frame


__all__ = ["Store"]
