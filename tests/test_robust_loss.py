"""Robust losses: ρ and its derivatives, the Gram weights, and least_squares(loss=…) against
scipy.optimize.least_squares(method="trf", loss=…) (scipy is a test-only reference).

Compile budget: the ten outlier problems share one residual function (a `lax.switch` on a
traced model index, n = 3, m = 40) and pass data, bounds and f_scale as arguments, so each
loss compiles one solve for all of them; the solver compiles dominate the file's run time.
"""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import lax

from xpcsfit import least_squares
from xpcsfit.solvers import covariance
from xpcsfit.solvers.loss import LOSSES, robust_cost, robust_weights
from xpcsfit.solvers.normal_eqs import gram_from_rows

SCIPY_LOSSES = importlib.import_module("scipy.optimize._lsq.least_squares").IMPLEMENTED_LOSSES
NAMES = ("linear", "soft_l1", "huber", "cauchy", "arctan")
EPS = np.finfo(np.float64).eps
TOL = dict(ftol=1e-12, xtol=1e-12, gtol=1e-12)


def _scipy_rho(name, z):
    """scipy's own (ρ, ρ', ρ'') at z (linear is None there: ρ = z)."""
    if name == "linear":
        return np.stack([z, np.ones_like(z), np.zeros_like(z)])
    rho = np.empty((3, z.size))
    SCIPY_LOSSES[name](z.copy(), rho, cost_only=False)
    return rho


# ---------------------------------------------------------------- (a) ρ, ρ', ρ''

Z = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 61)])
Z = Z[np.abs(Z - 1.0) > 1e-3]  # huber's ρ'' jumps at z = 1: keep FD stencils off the kink


@functools.cache
def _rho(name):
    """(ρ, ρ', ρ'') stacked, one compiled call per loss (eager ops would compile one by one)."""
    return jax.jit(lambda z: jnp.stack(LOSSES[name](z)))


@pytest.mark.parametrize("name", NAMES)
def test_rho_matches_scipy_and_finite_differences(name):
    zs = Z[Z > 0]
    h = 1e-5 * (1 + zs)  # truncation ~h²·ρ⁗, round-off ~eps·|ρ|/h: both ≲ 1e-9 of the scale
    ours, plus, minus, at = np.split(
        np.asarray(_rho(name)(jnp.asarray(np.concatenate([Z, zs + h, zs - h, zs])))),
        np.cumsum([Z.size, zs.size, zs.size]), axis=1)
    # Same functions, different but exact formulas: agreement to a few ulps; scipy's
    # 2(√(1+z) − 1) loses ~eps/z relative at small z (1e-3 → 2e-13), hence 1e-12.
    np.testing.assert_allclose(ours, _scipy_rho(name, Z), rtol=1e-12, atol=1e-15)
    fd = (plus - minus) / (2 * h)
    for d in (1, 2):  # ρ' = dρ/dz, ρ'' = dρ'/dz, on the natural scale of each derivative
        scale = np.maximum(np.abs(at[d]), np.abs(at[d - 1]) / (1 + zs))
        assert np.max(np.abs(fd[d - 1] - at[d]) / scale) < 1e-6, d


# ---------------------------------------------------------------- (b) Gram weights


def _explicit_rescale(name, f, J, f_scale):
    """scipy's rescaling written out in NumPy: rows √s·J, residuals ρ'·f/√s."""
    z = (f / f_scale) ** 2
    rho = _scipy_rho(name, z)
    cost = 0.5 * f_scale**2 * np.sum(rho[0])
    s = rho[1] + 2 * rho[2] / f_scale**2 * f**2
    s = np.sqrt(np.maximum(s, EPS))
    J_r, f_r = J * s[:, None], f * rho[1] / s
    return cost, J_r.T @ J_r, J_r.T @ f_r


_weights = jax.jit(robust_weights, static_argnums=1)
_cost = jax.jit(robust_cost, static_argnums=1)
_gram = jax.jit(gram_from_rows, static_argnames="loss")


@pytest.mark.parametrize("name", NAMES)
def test_gram_weights_equal_explicit_rescaling(name):
    rng = np.random.default_rng(1)
    m, k, f_scale = 200, 4, 0.3
    f = 0.3 * rng.standard_normal(m) * rng.choice([0.3, 1.0, 10.0], m)  # both regions
    J = rng.standard_normal((m, k))
    cost, jtj, jtr = _explicit_rescale(name, f, J, f_scale)
    terms, gw, mw = (np.asarray(a) for a in _weights(jnp.asarray(f), name, f_scale))
    if name in ("huber", "cauchy", "arctan"):
        assert np.any(gw == EPS)  # the floor at machine epsilon is exercised
    # Sums of 200 O(1)–O(100) terms: relative 1e-12 is ~50 ulps of accumulated rounding.
    np.testing.assert_allclose(0.5 * np.sum(terms), cost, rtol=1e-12)
    np.testing.assert_allclose((J * gw[:, None]).T @ J, jtj, rtol=1e-12, atol=1e-12 * np.max(jtj))
    np.testing.assert_allclose(J.T @ (mw * f), jtr, rtol=1e-12, atol=1e-12 * np.max(np.abs(jtr)))
    np.testing.assert_allclose(float(_cost(jnp.asarray(f), name, f_scale)), cost, rtol=1e-12)

    # gram_from_rows with data weights w: the same as rescaling the whitened problem
    # √w·f, √w·J, batched (batch, k, m) with row-major derivative rows.
    w = rng.uniform(0.5, 4.0, m)
    cost_w, jtj_w, jtr_w = _explicit_rescale(name, np.sqrt(w) * f, np.sqrt(w)[:, None] * J,
                                             f_scale)
    rows = jnp.asarray(np.stack([J.T, 2 * J.T]))
    c, G, h = _gram(rows, jnp.asarray(np.stack([w, w])), jnp.asarray(np.stack([f, f])),
                    loss=name, f_scale=f_scale)
    np.testing.assert_allclose(float(c), 2 * cost_w, rtol=1e-12)
    for b, factor in enumerate((1.0, 2.0)):
        np.testing.assert_allclose(np.asarray(G[b]), factor**2 * jtj_w, rtol=1e-12,
                                   atol=1e-12 * np.max(factor**2 * jtj_w))
        np.testing.assert_allclose(np.asarray(h[b]), factor * jtr_w, rtol=1e-12,
                                   atol=1e-12 * np.max(np.abs(factor * jtr_w)))


def test_gram_from_rows_linear_is_unchanged():
    rng = np.random.default_rng(2)
    rows, w, r = (jnp.asarray(a) for a in (rng.standard_normal((3, 4, 50)),
                                           rng.uniform(0, 2, (3, 50)), rng.standard_normal((3, 50))))
    weighted = rows * w[:, None, :]  # the original formulas, operation for operation
    ref = (0.5 * jnp.sum(w * r * r), jnp.einsum("bkm,blm->bkl", weighted, rows),
           jnp.einsum("bkm,bm->bk", weighted, r))
    for got in (gram_from_rows(rows, w, r), gram_from_rows(rows, w, r, loss="linear")):
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------- outlier problems


def _models():
    return [
        lambda b, t: b[0] * jnp.exp(-b[1] * t) + b[2],  # 0 exponential decay
        lambda b, t: b[0] * jnp.exp(-((t - b[1]) ** 2) / (2 * b[2] ** 2)),  # 1 Gaussian peak
        lambda b, t: (b[0] + b[1] * t) / (1 + b[2] * t),  # 2 rational
        lambda b, t: b[0] * (1 - jnp.exp(-b[1] * t)) + b[2],  # 3 Misra1a-like
        lambda b, t: b[0] + b[1] * t + b[2] * t**2,  # 4 polynomial
        lambda b, t: b[0] / (1 + ((t - b[1]) / b[2]) ** 2),  # 5 Lorentzian
        lambda b, t: b[0] * t ** b[1] + b[2],  # 6 power law (t > 0)
        lambda b, t: b[0] / (1 + jnp.exp(-b[1] * (t - b[2]))),  # 7 logistic
    ]


MODELS = _models()
KIND = (0, 1, 2, 3, 4, 5, 6, 7, 0, 1)  # problems 8, 9: decay and peak with a bound active


def residual(b, kind, t, y):
    return lax.switch(kind, MODELS, b, t) - y


_FUN = jax.jit(residual)
_JAC = jax.jit(jax.jacfwd(residual))


INF = np.inf
# (t grid, truth, start, lower, upper, f_scale); σ = 0.02 noise, 4 gross outliers each.
SPECS = [
    (np.linspace(0, 4, 40), [3.0, 1.3, 0.5], [2.6, 1.1, 0.4], -INF, INF, 0.05),
    (np.linspace(-3, 3, 40), [2.0, 0.3, 0.7], [1.5, 0.0, 1.0], -INF, INF, 0.05),
    (np.linspace(0, 5, 40), [1.0, 2.0, 0.5], [0.8, 1.5, 0.3], -10.0, 10.0, 1.0),
    (np.linspace(0, 10, 40), [2.5, 0.4, 0.1], [2.0, 0.3, 0.0], -INF, INF, 0.1),
    (np.linspace(-1, 1, 40), [0.5, -1.0, 2.0], [0.3, -0.7, 1.5], -INF, INF, 0.05),
    (np.linspace(-3, 3, 40), [1.5, -0.4, 0.6], [1.0, 0.0, 1.0], -INF, INF, 0.05),
    (np.linspace(0.5, 5, 40), [1.2, 0.7, -0.3], [1.0, 0.5, 0.0], -INF, INF, 1.0),
    (np.linspace(-4, 4, 40), [2.0, 1.5, 0.5], [1.5, 1.0, 0.0], -INF, INF, 0.05),
    (np.linspace(0, 4, 40), [3.0, 1.3, 0.5], [2.0, 0.5, 0.0], [-INF, 0.0, -INF],
     [INF, 1.0, INF], 0.05),
    (np.linspace(-3, 3, 40), [2.0, 0.3, 0.7], [1.5, 0.0, 1.2], [0.0, -INF, 0.9],
     [10.0, INF, 5.0], 0.05),
]
SIGMA = 0.02
OUTLIERS = np.array([3, 14, 22, 33])


@functools.cache
def problem(k):
    t, truth, start, lo, hi, f_scale = SPECS[k]
    rng = np.random.default_rng(100 + k)
    y = np.asarray(_FUN(jnp.asarray(truth, dtype=float), KIND[k], t, np.zeros(40)))
    y = y + SIGMA * rng.standard_normal(40)
    y[OUTLIERS] += np.array([1.0, -1.5, 2.0, -0.8])  # gross: 40–100 σ
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (3,)).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (3,)).copy()
    return t, y, np.asarray(start, dtype=float), lo, hi, f_scale, np.asarray(truth)


def _solve(loss):
    def solve(x0, kind, t, y, lo, hi, f_scale):
        return least_squares(residual, x0, args=(kind, t, y), bounds=(lo, hi), loss=loss,
                             f_scale=f_scale, **TOL)

    return solve


@functools.cache
def _solver(loss):
    """One compiled solve per loss for all ten problems (problem index and f_scale traced)."""
    return jax.jit(_solve(loss))


def _inputs(k, x0=None):
    t, y, start, lo, hi, f_scale, _ = problem(k)
    return (jnp.asarray(start if x0 is None else x0), KIND[k], jnp.asarray(t), jnp.asarray(y),
            jnp.asarray(lo), jnp.asarray(hi), jnp.asarray(f_scale))


def ours(k, loss, x0=None):
    return _solver(loss)(*_inputs(k, x0))


def reference(k, loss):
    t, y, start, lo, hi, f_scale, _ = problem(k)
    return scipy.optimize.least_squares(
        lambda b: np.asarray(_FUN(jnp.asarray(b), KIND[k], t, y)), start,
        jac=lambda b: np.asarray(_JAC(jnp.asarray(b), KIND[k], t, y)), bounds=(lo, hi),
        method="trf", x_scale="jac", loss=loss, f_scale=f_scale, **TOL)


# ---------------------------------------------------------------- (c) vs scipy


@pytest.mark.parametrize("loss", NAMES)
@pytest.mark.parametrize("k", range(len(SPECS)))
def test_matches_scipy_with_outliers(k, loss):
    res, ref = ours(k, loss), reference(k, loss)
    x = np.asarray(res.x)
    assert bool(res.success) and ref.success
    # Same algorithm on the same rescaled problem at tight tolerances: both take the same
    # path to the same local minimum (measured: ≤ 1.3e-9 apart over all 50 cases, the
    # solvers' own stopping error); asked: 1e-6 relative (absolute where |x| < 1e-3).
    assert np.max(np.abs(x - ref.x) / np.maximum(np.abs(ref.x), 1e-3)) < 1e-6, (x, ref.x)
    assert float(res.cost) <= ref.cost * (1 + 1e-10) + 1e-300  # robust cost, as scipy's
    np.testing.assert_array_equal(np.asarray(res.active_mask), ref.active_mask)
    np.testing.assert_allclose(np.asarray(res.fun), ref.fun, rtol=0, atol=1e-6)  # raw
    if k >= 8:
        assert np.any(ref.active_mask != 0)  # the bounded cases really have a bound active


# ---------------------------------------------------------------- (d) outliers ignored


_covariance = jax.jit(covariance, static_argnums=2, static_argnames="absolute_sigma")


def _standard_errors(res):
    # r is in data units with known σ: absolute covariance of r/σ is σ²·(JᵀJ)⁻¹.
    cov, _ = _covariance(res.jtj, res.cost, 40, res.active_mask, absolute_sigma=True)
    return SIGMA * np.sqrt(np.diag(np.asarray(cov)))


@pytest.mark.parametrize("loss", ["soft_l1", "huber", "cauchy", "arctan"])
def test_robust_curvature_is_scipys_rescaled_gram(loss):
    """README "Covariance under a robust loss": the covariance is built from JᵀWJ, the
    Gram matrix of scipy's rescaled Jacobian (`res.jac` of least_squares) at the answer,
    and scaled by s² = 2·cost/(m − p) with the robust cost."""
    k = 3
    res, ref = ours(k, loss), reference(k, loss)
    gram = ref.jac.T @ ref.jac
    np.testing.assert_allclose(np.asarray(res.jtj), gram, rtol=1e-6,
                               atol=1e-9 * np.max(np.abs(gram)))
    m, p = ref.fun.size, ref.x.size
    cov, _ = _covariance(res.jtj, res.cost, m, res.active_mask)
    expected = 2.0 * ref.cost / (m - p) * np.linalg.inv(gram)
    np.testing.assert_allclose(np.asarray(cov), expected, rtol=1e-5)


@pytest.mark.parametrize("k", [0, 7])
def test_robust_fit_ignores_outliers(k):
    truth = problem(k)[-1]
    robust, linear = ours(k, "soft_l1"), ours(k, "linear")
    err_robust = np.abs(np.asarray(robust.x) - truth) / _standard_errors(robust)
    err_linear = np.abs(np.asarray(linear.x) - truth) / _standard_errors(linear)
    assert np.all(err_robust < 3.0), err_robust
    assert np.any(err_linear > 3.0), err_linear


# ---------------------------------------------------------------- (e) bad input


@pytest.mark.parametrize(("kw", "field"), [
    ({"loss": "l2"}, "loss"), ({"loss": None}, "loss"), ({"loss": "Huber"}, "loss"),
    ({"f_scale": 0.0}, "f_scale"), ({"f_scale": -1.0}, "f_scale"),
    ({"f_scale": np.nan}, "f_scale"), ({"f_scale": np.inf}, "f_scale"),
    ({"f_scale": "big"}, "f_scale"), ({"f_scale": np.ones(2)}, "f_scale"),
])
def test_bad_loss_arguments_raise_before_tracing(kw, field):
    calls = []

    def fun(x):
        calls.append(1)
        return x - 1.0

    x0 = np.array([0.5, 2.0])
    with pytest.raises(ValueError, match=field) as info:
        least_squares(fun, x0, **kw)
    assert repr(next(iter(kw.values())))[:10] in str(info.value)  # names the value
    assert calls == []  # validated on the host before anything was traced
    np.testing.assert_array_equal(x0, [0.5, 2.0])


# ---------------------------------------------------------------- (f) vmap


def test_vmap_over_starts_equals_separate_solves():
    k, loss = 0, "cauchy"
    t, y, start, lo, hi, f_scale, _ = problem(k)
    starts = np.stack([start, [3.4, 1.5, 0.6], [2.0, 0.9, 0.7]])
    batch = jax.jit(jax.vmap(lambda x0: least_squares(
        residual, x0, args=(k, jnp.asarray(t), jnp.asarray(y)), loss=loss, f_scale=f_scale,
        **TOL)))(jnp.asarray(starts))
    for i, x0 in enumerate(starts):
        single = ours(k, loss, x0=x0)
        # Batched and unbatched linear algebra may round differently; the paths converge to
        # the same minimum, far inside 1e-9 (the solver's own stopping error is ~1e-9 rel.).
        np.testing.assert_allclose(np.asarray(batch.x)[i], np.asarray(single.x), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(batch.cost)[i], float(single.cost), rtol=1e-12)
    # The three starts reach one minimum: it is isolated.
    np.testing.assert_allclose(np.asarray(batch.x), np.asarray(batch.x)[[0, 0, 0]], rtol=1e-6)


# ---------------------------------------------------------------- (g) grad vs refits


def _cauchy_cost(x, t, y, s):
    """½ s²·Σ ln(1 + (r/s)²), written here independently of the library."""
    r = MODELS[0](x, t) - y
    return 0.5 * s**2 * jnp.sum(jnp.log1p((r / s) ** 2))


@jax.jit
def _newton_polish(x, t, y, s):
    # The solver stops once the cost reduction is < ftol·cost, i.e. ~1e-9 from the exact
    # minimiser; divided by a FD step that would swamp the derivative, so each refit is
    # finished by Newton steps on the cost above (quadratic convergence to ~eps).
    for _ in range(4):
        x = x - jnp.linalg.solve(jax.hessian(_cauchy_cost)(x, t, y, s),
                                 jax.grad(_cauchy_cost)(x, t, y, s))
    return x


def test_grad_through_robust_fit_matches_refits():
    k, loss = 0, "cauchy"
    t, y, start, lo, hi, f_scale, _ = problem(k)
    x_hat = np.asarray(ours(k, loss).x)

    def fit(y_, s_):
        return _solver(loss)(jnp.asarray(x_hat), k, jnp.asarray(t), y_, jnp.asarray(lo),
                             jnp.asarray(hi), jnp.asarray(s_)).x

    def refit_rate(y_, s_):
        return float(np.asarray(_newton_polish(fit(jnp.asarray(y_), s_), jnp.asarray(t),
                                               jnp.asarray(y_), jnp.asarray(s_)))[1])

    g_y, g_s = jax.jit(jax.grad(lambda y_, s_: fit(y_, s_)[1], argnums=(0, 1)))(
        jnp.asarray(y), jnp.asarray(f_scale))
    # Central differences of polished refits: truncation ~h² times the third derivative
    # (< 1e-9 here), round-off ~eps/h. The implicit rule is evaluated at the solver's x,
    # ~1e-9 off the exact minimiser, which moves it by ~1e-9: 1e-6 relative + 1e-8 absolute.
    h = 1e-5
    for j in (0, 3, 20):  # inliers and one gross outlier
        e = np.zeros(40)
        e[j] = h
        fd = (refit_rate(y + e, f_scale) - refit_rate(y - e, f_scale)) / (2 * h)
        assert abs(float(g_y[j]) - fd) <= 1e-6 * abs(fd) + 1e-8, (j, g_y[j], fd)
    fd_s = (refit_rate(y, f_scale * (1 + h)) - refit_rate(y, f_scale * (1 - h))) / (
        2 * h * f_scale)
    assert abs(float(g_s) - fd_s) <= 1e-6 * abs(fd_s) + 1e-8, (g_s, fd_s)


# ---------------------------------------------------------------- linear unchanged


def test_linear_loss_keeps_the_plain_code_path(monkeypatch):
    """loss="linear" hands trust_region_solve the plain Gauss–Newton sums, op for op.

    The solver is intercepted (no compilation): the program it would run for the linear
    loss is compared with the plain sums least_squares had before losses existed, so the
    compiled solve is the same program and its results are bit-identical."""
    module = importlib.import_module("xpcsfit.solvers.least_squares")  # the module, not
    # the function of the same name that xpcsfit.solvers re-exports

    class Intercepted(Exception):
        pass

    seen = {}

    def spy(evaluate, x0, lower, upper, *, args=(), **kw):
        seen["program"] = str(jax.make_jaxpr(evaluate)(x0, *args))
        seen["n_args"] = len(args)
        raise Intercepted

    monkeypatch.setattr(module, "trust_region_solve", spy)
    t, y, start, lo, hi, _, _ = problem(3)
    args = (3, jnp.asarray(t), jnp.asarray(y))

    def plain(x, *a):
        r = residual(x, *a)
        J = jax.jacfwd(residual)(x, *a)
        return 0.5 * jnp.dot(r, r), J.T @ J, J.T @ r

    expected = str(jax.make_jaxpr(plain)(jnp.asarray(start), *args))
    for loss, same in (("linear", True), ("cauchy", False)):  # the check can fail
        with pytest.raises(Intercepted):
            least_squares(residual, start, args=args, bounds=(lo, hi), loss=loss)
        assert (seen["program"] == expected) is same
        assert seen["n_args"] == len(args) + (0 if same else 1)  # + f_scale when robust
