"""Linear interpolation of language models, token by token, with weights fitted by EM.

A mixture p(w | h) = sum_k lambda_k p_k(w | h) is a language model whenever each member
is one and the weights are non-negative and sum to one, so its perplexity is defined
like any model's. The weights that maximise the likelihood of a held-out stream are
found by expectation-maximisation (Dempster, Laird & Rubin 1977; the usual way to
interpolate n-gram and neural models): each step gives every member the average, over
the tokens, of its posterior share of each token, and never lowers the likelihood. Only
the members' probabilities of the tokens that occurred are needed, which is what bench
keeps with each evaluation.

Everything is in log space (log-sum-exp), so a member that gives a token a probability
below the float range cannot turn the mixture into 0 or NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

# EM stops once an iteration improves the mean log-likelihood per token by less than this
TOLERANCE = 1e-9
MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class LinearFit:
    """Weights fitted by EM, with how the search went (recorded with the combined run)."""

    weights: tuple[float, ...]
    iterations: int
    converged: bool
    # the mean negative log-likelihood per token (nats) at the start and after each iteration
    nll_trace: tuple[float, ...]

    def search_record(self) -> list[dict[str, object]]:
        """The search as stored in a derived run's ``derived_from["search"]``."""
        return [
            {
                "algorithm": "em",
                "start": "uniform",
                "tolerance": TOLERANCE,
                "iterations": self.iterations,
                "converged": self.converged,
                "valid_nll_per_token": [round(value, 9) for value in self.nll_trace],
            }
        ]


def mixture_logprobs(member_logprobs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """log sum_k w_k p_k for each token; ``member_logprobs`` is [tokens, members]."""
    log_weights = np.log(np.asarray(weights, dtype=np.float64))
    return logsumexp(np.asarray(member_logprobs, dtype=np.float64) + log_weights, axis=1)


def fit_linear(
    member_logprobs: np.ndarray,
    *,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> LinearFit:
    """The interpolation weights that maximise the likelihood of the given tokens (EM from
    uniform weights). ``member_logprobs`` is [tokens, members], natural log."""
    logp = np.asarray(member_logprobs, dtype=np.float64)
    if logp.ndim != 2 or logp.shape[0] == 0 or logp.shape[1] < 2:
        raise ValueError("member_logprobs must be [tokens, members] with two members or more")
    members = logp.shape[1]
    weights = np.full(members, 1.0 / members)
    trace = [-float(np.mean(mixture_logprobs(logp, weights)))]
    converged = False
    iterations = 0
    while iterations < max_iterations:
        joint = logp + np.log(weights)  # log of w_k p_k, [tokens, members]
        posterior = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        weights = posterior.mean(axis=0)
        weights /= weights.sum()  # against rounding drift
        iterations += 1
        trace.append(-float(np.mean(mixture_logprobs(logp, weights))))
        if trace[-2] - trace[-1] < tolerance:
            converged = True
            break
    return LinearFit(tuple(float(w) for w in weights), iterations, converged, tuple(trace))
