"""`least_squares`: the generic bounded solver for any residual function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .implicit import implicit_argmin
from .loss import check_loss, robust_weights
from .trust_region import SolverResult, trust_region_solve


class LeastSquaresResult(SolverResult):
    """`SolverResult` plus the residual vector at the solution."""

    fun: Float[Array, " m"] = None


def least_squares(
    fun: Callable[..., Array],
    x0: Float[ArrayLike, " n"],
    *,
    bounds: tuple[Any, Any] = (-jnp.inf, jnp.inf),
    args: tuple = (),
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
    x_scale: str | Any = "jac",
    jac: Callable[..., Array] | None = None,
    callback: Callable | None = None,
    loss: str = "linear",
    f_scale: float | ArrayLike = 1.0,
) -> LeastSquaresResult:
    """Minimise ½Σ C²·ρ(fᵢ²/C²), f = fun(x, *args), subject to bounds[0] ≤ x ≤ bounds[1].

    scipy.optimize.least_squares(method="trf") semantics (tolerances, status codes,
    x_scale="jac", `loss` and `f_scale`), computed in JAX from JᵀJ and Jᵀr: jittable and
    vmappable, e.g. ``jax.jit(lambda x0, y: least_squares(f, x0, args=(y,)).x)``.

    **Arguments:**
    - `fun`: residuals r(x, *args) → (m,).
    - `x0`: start (n,); `bounds`: (lower, upper), scalars or (n,) arrays, ±inf allowed.
    - `jac`: optional J(x, *args) → (m, n); default `jax.jacfwd(fun)` (efficient for n ≪ m).
    - `ftol`, `xtol`, `gtol`, `max_nfev`, `x_scale`, `callback`: see `trust_region_solve`.
    - `loss`: "linear" (ρ = z, plain least squares), "soft_l1", "huber", "cauchy" or
      "arctan" (see `solvers.loss`); `f_scale`: C > 0, the residual size (units of f) at
      which the loss turns from quadratic to robust. Checked on the host (ValueError; a
      traced `f_scale` cannot be checked).

    Differentiable: `jax.grad` of a function of the returned `x` w.r.t. `args` (and
    `f_scale`, if traced) uses the implicit function theorem at the solution (see
    `solvers.implicit`) on the gradient of the (robust) cost.

    Under a non-linear loss, `cost` is the robust cost ½Σ C²ρ (as scipy's `cost`), `fun`
    the raw residuals, `grad` the robust gradient Σρ'ᵢJᵢfᵢ, and `jtj` the Gauss–Newton
    curvature of the robust cost, Σ max(ρ'+2zρ'', eps)·JᵢᵀJᵢ (z = fᵢ²/C²), in which
    outliers (ρ'+2zρ'' ≤ 0) weigh eps. The covariance (JᵀJ)⁻¹ from it (`solvers.covariance`,
    whose χ²/(m−p) factor then uses the robust cost) is an approximation: its standard
    errors hold when most residuals are in the quadratic region (z ≲ 1) and the outliers
    are few and far out; with many residuals near or beyond C they are only indicative.

    **Returns:** a `LeastSquaresResult` (x, cost, fun, grad, jtj, nfev, njev, status,
    success, active_mask, message).
    """
    check_loss(loss, f_scale)
    x0, bounds = _check_arguments(x0, bounds, max_nfev)
    jac_fn = jax.jacfwd(fun) if jac is None else jac
    out = jax.eval_shape(fun, x0, *args)
    if len(out.shape) != 1:
        raise ValueError(f"fun: must return a 1-D array of residuals, got shape {out.shape}")
    m = out.shape[0]

    packed_args = tuple(args)
    if loss == "linear":
        def evaluate(x, *a):
            r = fun(x, *a)
            J = jac_fn(x, *a)
            return 0.5 * jnp.dot(r, r), J.T @ J, J.T @ r
    else:
        # f_scale travels with the data (last packed arg), so it may be traced and the
        # implicit rule sees it.
        packed_args += (jnp.asarray(f_scale, dtype=jnp.float64),)

        def evaluate(x, *a):
            *a, scale = a
            r = fun(x, *a)
            J = jac_fn(x, *a)
            cost_terms, gram_w, moment_w = robust_weights(r, loss, scale)
            return 0.5 * jnp.sum(cost_terms), (J * gram_w[:, None]).T @ J, J.T @ (moment_w * r)

    lower = jnp.broadcast_to(jnp.asarray(bounds[0], dtype=jnp.float64), x0.shape)
    upper = jnp.broadcast_to(jnp.asarray(bounds[1], dtype=jnp.float64), x0.shape)

    def solve(packed):
        x0_, lower_, upper_, args_ = packed
        return trust_region_solve(evaluate, x0_, lower_, upper_, args=args_, ftol=ftol,
                                  xtol=xtol, gtol=gtol, max_nfev=max_nfev, x_scale=x_scale,
                                  callback=callback, n_rows=m + x0.shape[0])

    def gradient(x, packed):
        return evaluate(x, *packed[3])[2]

    res = implicit_argmin(solve, gradient, (x0, lower, upper, packed_args))
    fields = {f: getattr(res, f) for f in res.__dataclass_fields__}
    return LeastSquaresResult(**fields, fun=fun(res.x, *args))



def _as_floats(name: str, value: Any):
    if isinstance(value, jax.core.Tracer):
        return value
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r:.80}") from None
    return arr


def _check_arguments(x0, bounds, max_nfev):
    """x0 as floats (1-D), bounds a (lower, upper) pair of scalars or x0-shaped arrays,
    max_nfev None or an integer ≥ 1 — each error naming its argument."""
    x0 = _as_floats("x0", x0)
    if np.ndim(x0) != 1:
        raise ValueError(f"x0: must be 1-D, got shape {np.shape(x0)}")
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(f"bounds: expected a (lower, upper) pair, got {bounds!r:.80}")
    pair = tuple(_as_floats(f"bounds[{i}]", b) for i, b in enumerate(bounds))
    for i, b in enumerate(pair):
        if np.shape(b) not in ((), np.shape(x0)):
            raise ValueError(f"bounds[{i}]: shape {np.shape(b)} does not match x0 of shape "
                             f"{np.shape(x0)} (give a scalar or one value per x0)")
    if max_nfev is not None and (isinstance(max_nfev, bool) or not isinstance(
            max_nfev, int | np.integer) or max_nfev < 1):
        raise ValueError(f"max_nfev: expected an integer >= 1 or None, got {max_nfev!r}")
    return jnp.asarray(x0, dtype=jnp.float64), pair
