"""Reading and keeping an evaluation's per-token log-probabilities in the Store.

The rows are written with the evaluation itself (:meth:`Store.add_evaluation`); these two
functions serve `bench combine`, which reads them back and keeps them for an evaluation
stored without them once the run has been scored again.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from bench.errors import BenchError
from bench.store import token_scores
from bench.store.database import Store
from bench.store.engine import database_errors
from bench.store.rows import encoded_token_scores, token_score_blob
from bench.store.schema import Evaluation, TokenScoreBlob


def stored_token_logprobs(store: Store, evaluation_id: int) -> np.ndarray | None:
    """The per-token log-probabilities stored with an evaluation (float32, checked against
    their checksum), or None (stored before bench kept them, or imported from a file)."""
    with database_errors(store.url), Session(store.engine) as session:
        blob = session.get(TokenScoreBlob, evaluation_id)
        stored = None if blob is None else encoded_token_scores(blob)
    try:
        return None if stored is None else token_scores.decode(stored)
    except token_scores.TokenScoresError as error:
        raise BenchError(f"evaluation {evaluation_id}: {error}") from None


def keep_token_logprobs(store: Store, evaluation_id: int, logprobs: np.ndarray) -> None:
    """Store the per-token log-probabilities of an evaluation (replacing any kept before)."""
    with store.writing() as session:
        row = session.get(Evaluation, evaluation_id)
        if row is None:
            raise BenchError(f"no evaluation with id {evaluation_id}")
        session.merge(token_score_blob(evaluation_id, row.run_id, logprobs))
