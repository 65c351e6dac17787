"""The torch side of the continuous cache pointer: log p_cache of each token, by blocks."""

from __future__ import annotations

import numpy as np
import torch


@torch.inference_mode()
def pointer_logprobs(
    hidden: np.ndarray, ids: np.ndarray, window: int, theta: float, block: int
) -> np.ndarray:
    """log p_cache(ids[t]) for every t (Grave et al. 2017, eq. 2):

        p_cache(w | t) ∝ sum over j in [t - window, t) with ids[j] = w of exp(theta h_t . h_j)

    where ``hidden[j]`` is the state that predicted ``ids[j]``: the cache holds the pairs
    (state, token that followed) of positions *before* t, never t itself. -inf where the
    token is not in the cache (and at t = 0, whose cache is empty).
    """
    states = torch.from_numpy(np.ascontiguousarray(hidden, dtype=np.float32))
    tokens = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    n = tokens.numel()
    out = torch.full((n,), float("-inf"), dtype=torch.float64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        first = max(start - window, 0)  # the oldest position any row of the block sees
        rows = torch.arange(start, stop).unsqueeze(1)
        keys = torch.arange(first, stop).unsqueeze(0)
        # position j is in t's cache when t - window <= j < t
        visible = (keys < rows) & (keys >= rows - window)
        scores = theta * (states[start:stop] @ states[first:stop].T).double()
        scores = scores.masked_fill(~visible, float("-inf"))
        same = tokens[first:stop].unsqueeze(0) == tokens[start:stop].unsqueeze(1)
        total = torch.logsumexp(scores, dim=1)
        hits = torch.logsumexp(scores.masked_fill(~same, float("-inf")), dim=1)
        out[start:stop] = torch.where(torch.isfinite(total), hits - total, float("-inf"))
    return out.numpy()
