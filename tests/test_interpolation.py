"""EM for linear interpolation weights finds the known optimum."""

import numpy as np
import pytest
from scipy.optimize import minimize

from bench.scoring.interpolation import fit_linear, mixture_logprobs


def test_em_finds_the_optimum_worked_out_by_hand():
    # 3 tokens where p1 = 0.5, p2 = 0.1 and 1 token where p1 = 0.1, p2 = 0.5: the
    # likelihood's derivative 3*0.4/(0.1+0.4w) = 0.4/(0.5-0.4w) vanishes at w = 7/8
    logp = np.log([[0.5, 0.1]] * 3 + [[0.1, 0.5]])
    fit = fit_linear(logp)
    assert fit.converged
    assert fit.weights == pytest.approx((0.875, 0.125), abs=1e-4)


def test_em_matches_a_general_optimiser_on_three_members():
    rng = np.random.default_rng(1)
    logp = np.log(rng.dirichlet(np.ones(50), size=3000)[:, :3])  # [tokens, 3 members]

    def nll(free):  # weights as a softmax of two free numbers
        weights = np.exp(np.append(free, 0.0))
        return -np.mean(mixture_logprobs(logp, weights / weights.sum()))

    best = minimize(
        nll, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    fit = fit_linear(logp)
    assert fit.nll_trace[-1] == pytest.approx(best.fun, abs=1e-7)
    assert sum(fit.weights) == pytest.approx(1.0)


def test_each_em_step_never_lowers_the_likelihood():
    rng = np.random.default_rng(2)
    logp = np.log(rng.uniform(1e-6, 1.0, size=(500, 4)))
    trace = np.array(fit_linear(logp).nll_trace)
    assert np.all(np.diff(trace) <= 1e-12)
    assert trace[-1] < trace[0]


def test_the_mixture_is_computed_in_log_space():
    logp = np.array([[-2000.0, -1000.0]])  # exp() of either underflows to 0
    assert mixture_logprobs(logp, np.array([0.5, 0.5]))[0] == pytest.approx(-1000.0 + np.log(0.5))


def test_fewer_than_two_members_is_refused():
    with pytest.raises(ValueError, match="two members"):
        fit_linear(np.zeros((5, 1)))
