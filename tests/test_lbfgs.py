"""Bounded L-BFGS warmup against scipy's L-BFGS-B and known minima."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from xpcsfit.solvers.lbfgs import lbfgs_warmup


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


_VG = jax.jit(jax.value_and_grad(_rosenbrock))


def _host_vg(x):
    value, grad = _VG(jnp.asarray(x))
    return float(value), np.asarray(grad)


def test_unbounded_minimum():
    res = lbfgs_warmup(_host_vg, np.array([-1.2, 1.0]), np.full(2, -np.inf), np.full(2, np.inf),
                       max_iterations=500, rtol=1e-15)
    # The minimiser (1, 1) is well conditioned in x at the 1e-6 level for a loss at 1e-12.
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.history[-1] <= res.history[0]


def test_bounded_minimum_matches_lbfgsb():
    lower, upper = np.array([-2.0, -2.0]), np.array([0.5, 2.0])
    res = lbfgs_warmup(_host_vg, np.array([-1.2, 1.0]), lower, upper, max_iterations=500,
                       rtol=1e-15)
    ref = scipy.optimize.minimize(lambda x: _host_vg(x), np.array([-1.2, 1.0]), jac=True,
                                  method="L-BFGS-B", bounds=list(zip(lower, upper, strict=True)),
                                  options={"ftol": 1e-15, "gtol": 1e-12})
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    assert res.x[0] == 0.5  # active upper bound held exactly
    assert np.all(res.x >= lower) and np.all(res.x <= upper)


def test_monotone_history_and_stall_rule():
    res = lbfgs_warmup(_host_vg, np.array([-1.2, 1.0]), np.full(2, -5.0), np.full(2, 5.0),
                       max_iterations=500, window=2, rtol=0.5)
    assert res.reason == "stalled"
    assert all(b <= a for a, b in zip(res.history, res.history[1:], strict=False))
    capped = lbfgs_warmup(_host_vg, np.array([-1.2, 1.0]), np.full(2, -5.0), np.full(2, 5.0),
                          max_iterations=3, rtol=0.0)
    assert capped.reason == "max_iterations" and capped.iterations == 3


def test_nan_region_is_never_accepted():
    def vg(x):
        value, grad = _host_vg(x)
        return (float("nan"), grad) if x[1] > 1.5 else (value, grad)

    res = lbfgs_warmup(vg, np.array([-1.2, 1.0]), np.full(2, -5.0), np.full(2, 5.0),
                       max_iterations=200, rtol=1e-15)
    assert np.isfinite(res.value) and all(np.isfinite(res.history))


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_iterations"):
        lbfgs_warmup(_host_vg, np.zeros(2), -np.ones(2), np.ones(2), max_iterations=0)
