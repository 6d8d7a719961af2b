"""Solver edge cases: bounds, rank deficiency, zero residual, NaN regions, budgets, bad input,
jit/vmap, retracing, covariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from xpcsfit import least_squares
from xpcsfit.solvers import covariance

T = jnp.linspace(0.0, 4.0, 30)
Y = 3.0 * jnp.exp(-1.3 * T) + 0.5 + 0.01 * jnp.sin(7.0 * T)


def expfit(x, y=Y):
    return x[0] * jnp.exp(-x[1] * T) + x[2] - y


def _scipy(fun, x0, bounds=(-np.inf, np.inf)):
    return scipy.optimize.least_squares(lambda x: np.asarray(fun(jnp.asarray(x))), x0,
                                        jac=lambda x: np.asarray(jax.jacfwd(fun)(jnp.asarray(x))),
                                        bounds=bounds, method="trf", x_scale="jac")


def test_matches_scipy_path_exactly():
    res = least_squares(expfit, jnp.array([1.0, 1.0, 0.7]))
    ref = _scipy(expfit, np.array([1.0, 1.0, 0.7]))
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-10)
    assert int(res.nfev) == ref.nfev and int(res.status) == ref.status
    np.testing.assert_allclose(res.fun, ref.fun, rtol=1e-8, atol=1e-12)


def test_start_exactly_on_a_bound():
    lo, hi = jnp.array([0.0, 0.0, 0.6]), jnp.array([10.0, 10.0, 2.0])
    res = least_squares(expfit, jnp.array([1.0, 1.0, 0.6]), bounds=(lo, hi))
    ref = _scipy(expfit, np.array([1.0, 1.0, 0.6]), bounds=(np.asarray(lo), np.asarray(hi)))
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-7)
    np.testing.assert_array_equal(res.active_mask, ref.active_mask)
    assert int(res.active_mask[2]) == -1


def test_mixed_infinite_bounds():
    lo, hi = jnp.array([-jnp.inf, 0.0, -jnp.inf]), jnp.array([jnp.inf, 1.0, 0.45])
    res = least_squares(expfit, jnp.array([1.0, 0.5, 0.4]), bounds=(lo, hi))
    ref = _scipy(expfit, np.array([1.0, 0.5, 0.4]), bounds=(np.asarray(lo), np.asarray(hi)))
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-7)
    np.testing.assert_array_equal(res.active_mask, ref.active_mask)


def test_rank_deficient_jacobian():
    # x[0] and x[1] enter only through their sum: J has rank 2 of 3.
    fun = lambda x: x[0] + x[1] + x[2] * T - (1.0 + 2.0 * T)  # noqa: E731
    res = least_squares(fun, jnp.array([0.3, 0.1, 0.0]))
    assert bool(res.success)
    np.testing.assert_allclose(res.x[0] + res.x[1], 1.0, rtol=1e-8)
    np.testing.assert_allclose(res.x[2], 2.0, rtol=1e-8)
    cov, singular = covariance(res.jtj, res.cost, T.shape[0], res.active_mask)
    assert bool(singular) and np.all(np.isfinite(np.asarray(cov)))


def test_zero_residual_problem():
    y = 2.0 * jnp.exp(-0.7 * T) + 0.3
    res = least_squares(lambda x: expfit(x, y), jnp.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(res.x, [2.0, 0.7, 0.3], rtol=1e-9)
    assert float(res.cost) < 1e-20


def test_nan_region_is_rejected():
    def fun(x):
        r = expfit(x)
        return jnp.where(x[1] > 1.5, jnp.nan, r)  # undefined beyond x[1] = 1.5

    res = least_squares(fun, jnp.array([1.0, 1.0, 0.7]))
    assert np.isfinite(float(res.cost)) and float(res.x[1]) <= 1.5
    np.testing.assert_allclose(res.x, _scipy(expfit, np.array([1.0, 1.0, 0.7])).x, rtol=1e-6)


def test_max_nfev_is_respected():
    res = least_squares(expfit, jnp.array([1.0, 1.0, 0.7]), max_nfev=3)
    assert int(res.nfev) <= 3 and int(res.status) == 0 and not bool(res.success)
    assert "maximum number" in res.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"x0": jnp.array([1.0, 20.0, 0.7]), "bounds": (0.0, 10.0)}, "x0"),
     ({"x0": jnp.array([1.0, 1.0, 0.7]), "bounds": (jnp.array([0.0, 2.0, 0.0]),
                                                     jnp.array([1.0, 1.0, 1.0]))}, "bounds"),
     ({"x0": jnp.array([1.0, 1.0, 0.7]), "max_nfev": 0}, "max_nfev"),
     ({"x0": jnp.array([1.0, 1.0, 0.7]), "x_scale": "auto"}, "x_scale")],
)
def test_bad_input(kwargs, field):
    x0 = kwargs.pop("x0")
    with pytest.raises(ValueError, match=field):
        least_squares(expfit, x0, **kwargs)


def test_vmap_over_starts_and_data_equals_separate_solves():
    starts = jnp.array([[1.0, 1.0, 0.7], [2.0, 0.5, 0.2], [5.0, 3.0, 1.0]])
    data = jnp.stack([Y, Y * 1.1, Y + 0.2])
    batched = jax.vmap(lambda x0, y: least_squares(expfit, x0, args=(y,)).x)(starts, data)
    for k in range(3):
        alone = least_squares(expfit, starts[k], args=(data[k],)).x
        np.testing.assert_allclose(batched[k], alone, rtol=1e-10)


TRACES = []


def counted(x, y):
    TRACES.append(1)  # runs once per trace, never per call
    return expfit(x, y)


def test_compiles_once_per_shape():
    solve = jax.jit(lambda x0, y: least_squares(counted, x0, args=(y,)).x)
    solve(jnp.array([1.0, 1.0, 0.7]), Y).block_until_ready()
    n_traces = len(TRACES)
    solve(jnp.array([2.0, 0.5, 0.2]), Y * 1.1).block_until_ready()
    assert len(TRACES) == n_traces


def test_covariance_against_numpy():
    lo, hi = jnp.array([0.0, 0.0, 0.0]), jnp.array([10.0, 10.0, 0.45])
    res = least_squares(expfit, jnp.array([1.0, 1.0, 0.4]), bounds=(lo, hi))
    assert int(res.active_mask[2]) == 1
    J = np.asarray(jax.jacfwd(expfit)(res.x))
    r = np.asarray(expfit(res.x))
    free = J[:, :2]
    ref = np.zeros((3, 3))
    ref[:2, :2] = np.linalg.inv(free.T @ free)
    cov_abs, singular = covariance(res.jtj, res.cost, T.shape[0], res.active_mask,
                                   absolute_sigma=True)
    np.testing.assert_allclose(cov_abs, ref, rtol=1e-8, atol=1e-14)
    cov, _ = covariance(res.jtj, res.cost, T.shape[0], res.active_mask)
    np.testing.assert_allclose(cov, ref * (r @ r) / (T.shape[0] - 2), rtol=1e-8, atol=1e-14)
    assert not bool(singular)
