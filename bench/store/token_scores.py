"""Per-token log-probabilities of an evaluation, kept compactly with a checksum.

`bench combine` mixes stored runs token by token, so each evaluation keeps the
log-probability of every token it scored, not only the per-line sums. They live in the
database (like the per-line scores, so that any machine sharing the database can combine
runs), one blob per evaluation in a table of its own, so that reading evaluations or
per-line scores never loads them.

Encoding: float32 (4 bytes a token before compression). float32 keeps ~7 significant
digits: a log-probability of -10 is off by at most ~5e-7 nats, far below anything a
perplexity shows, where float16 would be off by up to ~4e-3 nats a token. The four bytes
of each float are stored plane by plane (all first bytes, then all second bytes, ...) before
zlib, because the sign and exponent bytes of log-probabilities repeat and compress well
while the low mantissa bytes are noise. The sha256 of the float32 values is stored beside
them and checked on every read: a damaged blob is refused, never mixed into a result.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

TOKEN_SCORES_FORMAT = "f32-planes-zlib-v1"
_DTYPE = np.dtype("<f4")


class TokenScoresError(ValueError):
    """A stored blob of per-token log-probabilities that cannot be read back as written."""


@dataclass(frozen=True)
class EncodedTokenScores:
    """What the database keeps: the format, the token count, the checksum and the bytes."""

    format: str
    tokens: int
    sha256: str
    data: bytes


def encode(logprobs: np.ndarray) -> EncodedTokenScores:
    """Per-token log-probabilities (any float dtype) as a compressed float32 blob."""
    values = np.ascontiguousarray(logprobs, dtype=_DTYPE)
    raw = values.tobytes()
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _DTYPE.itemsize).T.tobytes()
    return EncodedTokenScores(
        format=TOKEN_SCORES_FORMAT,
        tokens=int(values.size),
        sha256=hashlib.sha256(raw).hexdigest(),
        data=zlib.compress(planes, 6),
    )


def decode(stored: EncodedTokenScores) -> np.ndarray:
    """The float32 values of a blob, checked against its format, length and checksum."""
    if stored.format != TOKEN_SCORES_FORMAT:
        raise TokenScoresError(
            f"per-token log-probabilities in format {stored.format!r}, which this bench cannot read"
        )
    try:
        planes = zlib.decompress(stored.data)
    except zlib.error as error:
        raise TokenScoresError(f"per-token log-probabilities are damaged ({error})") from None
    if len(planes) != stored.tokens * _DTYPE.itemsize:
        raise TokenScoresError(
            f"per-token log-probabilities hold {len(planes) // _DTYPE.itemsize} tokens, "
            f"not the {stored.tokens} recorded"
        )
    raw = np.frombuffer(planes, dtype=np.uint8).reshape(_DTYPE.itemsize, -1).T.tobytes()
    if hashlib.sha256(raw).hexdigest() != stored.sha256:
        raise TokenScoresError("per-token log-probabilities do not match their checksum")
    return np.frombuffer(raw, dtype=_DTYPE).copy()
