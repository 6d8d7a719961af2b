"""Model-independent noise level of c2 from local second differences along constant lag.

**Derivation.** Write the measured value at frames (i, j), lag k = j − i, as
c[i, j] = s(t_i, t_j) + ε[i, j], with ε independent between the pairs i < j, of zero mean
and variance σ²(φ, k) (for exactly symmetric matrices ε[j, i] = ε[i, j]). Along a line
of constant lag, f(m) = s(t_m, t_{m+k}) changes only through ageing: it is constant for
a stationary sample, and slow otherwise because d/dt1 of ∫_{t1}^{t1+τ} D = D(t1 + τ) − D(t1).
The second difference along that line,

    Δ[m] = c[m−1, m−1+k] − 2·c[m, m+k] + c[m+1, m+1+k] = dt²·f''(ξ) + η,

cancels the signal to second order; η = ε[m−1] − 2ε[m] + ε[m+1] has variance
(1 + 4 + 1)·σ² = 6σ², and all three points share the lag k, so lag-dependent noise is
followed exactly. The scale is a trimmed second moment: with Δ² sorted, the mean of the
smallest fraction p (`keep`, default 0.9) of them, divided by its Gaussian value,

    σ̂² = mean(smallest p of Δ²) / (6·c_p),   c_p = 1 − 2·z·φ(z)/p,   z = Φ⁻¹((1 + p)/2)

(c_p = E[Z² | Z² ≤ z²] for Z ~ N(0, 1); c_0.9 = 0.62302). It is computed per angle and
per lag band; `per_angle` and `overall` are the root mean squares of the band values
weighted by their sample counts. On Gaussian noise its relative standard error is
≈ 1.1/√n (measured on overlapping differences; the median |Δ| gives 1.4/√n, the plain
root mean square 1.0/√n), and up to a fraction 1 − p of gross outliers is discarded
(a gross outlier spoils the three differences of its lag line that contain it).

**Residual signal.** With a residual b = dt²·f'' ≪ σ, the estimate is even in b, and to
second order σ̂/σ = 1 + b²/(12σ²) (the same for the median |Δ|): the bias is quadratic in
b/σ. Where b is not small (the t = 0 row of an ageing sample, the fastest sinc² fringes)
the differences are among the largest and are trimmed as outliers.

**Independent points.** An exactly symmetric matrix (t1 ↔ t2) holds each draw twice:
only t1 < t2 is used and counted. Otherwise both halves are used. For a symmetric matrix
both halves hold every Δ² twice, and the trimmed mean (which then keeps whole pairs) is
unchanged, so only the count differs; that is what happens when symmetry cannot
be decided (traced input with `symmetric=None`). The diagonal (lag 0) is excluded: it
carries the shot-noise peak, and `XPCSData.diagonal_corrected` replaces it by the mean of
its lag-1 neighbours. Differences never mix lags, so lag-1 differences stay independent.

**Limits.** Noise that is itself smooth along constant lag (slow drifts) is taken for
signal; σ varying with the age t1 at a fixed lag is averaged over t1.
"""

from __future__ import annotations

from functools import partial
from statistics import NormalDist

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .layout import spans_processes
from .validation import require_finite_array

DEFAULT_BANDS = 8
DEFAULT_KEEP = 0.9


def trimmed_second_moment(keep: float) -> float:
    """c_p = E[Z² | Z² ≤ z²] for Z ~ N(0, 1), with P(Z² ≤ z²) = p = `keep` (c_1 = 1)."""
    if keep == 1.0:
        return 1.0
    normal = NormalDist()
    z = normal.inv_cdf(0.5 * (1.0 + keep))
    return 1.0 - 2.0 * z * normal.pdf(z) / keep


class NoiseEstimate(eqx.Module):
    """Noise standard deviation of c2, per angle and lag band (c2 units).

    Fields: `sigma` (n_phi, n_t, n_t), a function of angle and |t1 − t2| (interpolated
    between band centres, or stepped); `per_band` (n_phi, n_bands); `per_angle` (n_phi,)
    and `overall` (): root mean square over bands (and angles), weighted by sample
    counts; `n_samples` (n_bands,): independent
    difference samples per angle in each band; `symmetric`: only t1 < t2 counted;
    static `bands`: lag edges, band b holds lags bands[b] ≤ k < bands[b+1]; `centres`:
    sample-weighted mean lag of each band (frames).
    """

    sigma: Float[Array, "n_phi n_t n_t"]
    per_band: Float[Array, "n_phi n_bands"]
    per_angle: Float[Array, " n_phi"]
    overall: Float[Array, ""]
    n_samples: Int[Array, " n_bands"]
    symmetric: Bool[Array, ""]
    bands: tuple[int, ...] = eqx.field(static=True)
    centres: tuple[float, ...] = eqx.field(static=True)

    @property
    def n_total(self):
        """Difference samples used over all angles and bands."""
        return self.per_band.shape[0] * self.n_samples.sum()


def lag_bands(n_t: int, n_bands: int, min_lag: int = 1) -> np.ndarray:
    """Integer lag edges (n_bands + 1,) splitting lags min_lag..n_t−3 into bands holding
    nearly equal numbers of second differences (n_t − 2 − k at lag k): narrow bands at
    short lags, where both c2 and its noise change fastest."""
    lags = np.arange(min_lag, n_t - 2)
    cum = np.cumsum(n_t - 2 - lags)
    targets = cum[-1] * np.arange(1, n_bands) / n_bands
    inner = min_lag + 1 + np.searchsorted(cum, targets, side="left")
    b = np.arange(1, n_bands)
    inner = np.maximum.accumulate(np.maximum(inner, min_lag + b) - b) + b  # strictly increasing
    inner = np.minimum(inner, n_t - 2 - n_bands + b)  # room for the bands to the right
    return np.concatenate([[min_lag], inner, [n_t - 2]]).astype(int)


def _layout(n_t: int, edges: np.ndarray, both: bool):
    """Static gather order of the second-difference grid, sorted by lag, with band slices."""
    m = n_t - 2
    i, j = np.indices((m, m))
    lag = (j - i).ravel()
    used = (np.abs(lag) >= edges[0]) if both else (lag >= edges[0])
    flat = np.flatnonzero(used)
    flat = flat[np.argsort(np.abs(lag[flat]), kind="stable")]
    stops = np.searchsorted(np.abs(lag[flat]), edges, side="left")
    return flat, stops


def _lag_weights(n_t: int, edges: np.ndarray, interpolate: bool):
    """For each lag 0..n_t−1: (left band, weight of the next band) so that
    σ(k) = (1 − w)·σ_left + w·σ_left+1; constant beyond the outer band centres."""
    lags = np.arange(edges[0], edges[-1])
    counts = n_t - 2 - lags
    band = np.searchsorted(edges, lags, side="right") - 1
    centres = np.bincount(band, lags * counts) / np.bincount(band, counts)
    k = np.arange(n_t)
    n_bands = centres.shape[0]
    if interpolate and n_bands > 1:
        pos = np.interp(k, centres, np.arange(n_bands))
    else:
        pos = np.clip(np.searchsorted(edges, k, side="right") - 1, 0, n_bands - 1).astype(float)
    left = np.minimum(np.floor(pos).astype(int), max(n_bands - 2, 0))
    return left, pos - left, centres


def _estimate(g2, *, xp, n_bands: int, min_lag: int, keep: float, symmetric,
              interpolate: bool, sigma_sharding=None):
    """The estimator on a validated (n_phi, n_t, n_t) array with NumPy or jax.numpy."""
    n_phi, n_t = g2.shape[0], g2.shape[1]
    edges = lag_bands(n_t, n_bands, min_lag)
    upper_only = symmetric is True  # a traced symmetry flag uses both halves (same value)
    flat, stops = _layout(n_t, edges, both=not upper_only)
    diff = g2[:, :-2, :-2] - 2.0 * g2[:, 1:-1, 1:-1] + g2[:, 2:, 2:]
    sq = (diff.reshape(n_phi, -1) ** 2)[:, flat]
    counts = np.diff(stops)  # both halves when not upper_only: even, 2·(n_t − 2 − k) per lag
    pairs = 1 if upper_only else 2  # keep whole pairs, so duplicated halves change nothing
    kept = pairs * np.maximum(np.rint(keep * counts / pairs).astype(int), 1)
    per_band = xp.stack([
        xp.mean(xp.sort(sq[:, stops[b]:stops[b + 1]], axis=1)[:, :kept[b]], axis=1)
        for b in range(n_bands)  # a loop over the few bands, not over points
    ], axis=1)
    per_band = xp.sqrt(per_band / (6.0 * trimmed_second_moment(keep)))
    weight = (counts / counts.sum())[None, :]
    per_angle = xp.sqrt(xp.sum(weight * per_band**2, axis=1))
    overall = xp.sqrt(xp.mean(per_angle**2))
    left, w, centres = _lag_weights(n_t, edges, interpolate)
    nxt = np.minimum(left + 1, n_bands - 1)
    per_lag = per_band[:, left] * (1.0 - w)[None, :] + per_band[:, nxt] * w[None, :]
    i, j = np.indices((n_t, n_t))
    sigma = per_lag[:, np.abs(i - j)]
    if sigma_sharding is not None:  # laid out like the data (a multi-process job's split)
        sigma = jax.lax.with_sharding_constraint(sigma, sigma_sharding)
    if upper_only:
        n_samples, sym = xp.asarray(counts), xp.asarray(True)
    elif symmetric is False:
        n_samples, sym = xp.asarray(counts), xp.asarray(False)
    else:
        sym = xp.all(g2 == xp.swapaxes(g2, 1, 2))
        n_samples = xp.where(sym, counts // 2, counts)
    return NoiseEstimate(sigma=sigma, per_band=per_band, per_angle=per_angle, overall=overall,
                         n_samples=n_samples, symmetric=sym,
                         bands=tuple(int(e) for e in edges),
                         centres=tuple(float(c) for c in centres))


_estimate_jax = jax.jit(partial(_estimate, xp=jnp),
                        static_argnames=("n_bands", "min_lag", "keep", "symmetric", "interpolate",
                                         "sigma_sharding"))


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def estimate_sigma(
    g2: Float[ArrayLike, "n_phi n_t n_t"],
    *,
    n_bands: int = DEFAULT_BANDS,
    min_lag: int = 1,
    keep: float = DEFAULT_KEEP,
    symmetric: bool | None = None,
    interpolate: bool = True,
) -> NoiseEstimate:
    """Estimate the noise σ of c2 from the data alone, per angle and lag band (module doc).

    **Arguments:**
    - `g2`: c2 (n_phi, n_t, n_t). NumPy (or memory-mapped) input is computed with NumPy;
      a JAX array with jax.numpy, also inside `jax.jit` (then finiteness is not checked:
      validate before tracing).
    - `n_bands`: lag bands of nearly equal sample counts (≥ 1, ≤ n_t − 2 − min_lag).
    - `min_lag`: smallest lag used (frames, ≥ 1; the diagonal is never used).
    - `keep`: fraction p in (0, 1] of the smallest squared differences averaged in each
      band (robustness to a fraction 1 − p of outliers; 1 = plain root mean square).
    - `symmetric`: True: use t1 < t2 only; False: both halves are independent; None:
      decide by exact equality c2 == c2ᵀ.
    - `interpolate`: σ over lag linear between band centres (True) or stepped per band.

    **Returns:** a `NoiseEstimate`; a band of exactly smooth data gives σ = 0.
    """
    n_bands = _check_int("n_bands", n_bands, 1)
    min_lag = _check_int("min_lag", min_lag, 1)
    if isinstance(keep, bool) or not isinstance(keep, float | int) or not 0.0 < keep <= 1.0:
        raise ValueError(f"keep: expected a fraction in (0, 1], got {keep!r}")
    keep = float(keep)
    if symmetric is not None and not isinstance(symmetric, bool):
        raise ValueError(f"symmetric: expected True, False or None, got {symmetric!r}")
    if not isinstance(interpolate, bool):
        raise ValueError(f"interpolate: expected a bool, got {interpolate!r}")
    shape = np.shape(g2)
    if len(shape) != 3 or shape[1] != shape[2] or shape[0] < 1:
        raise ValueError(f"g2: expected shape (n_phi, n_t, n_t) with n_phi >= 1, got {shape}")
    n_t = shape[1]
    if n_t < min_lag + 3:
        raise ValueError(f"n_t: second differences at lag >= {min_lag} need n_t >= "
                         f"{min_lag + 3} frames, got {n_t}")
    if n_bands > n_t - 2 - min_lag:
        raise ValueError(f"n_bands: at most {n_t - 2 - min_lag} lag bands for n_t = {n_t} "
                         f"and min_lag = {min_lag}, got {n_bands}")
    if isinstance(g2, jax.Array):
        xp, arr = jnp, jnp.asarray(g2, dtype=jnp.float64)
    else:
        xp, arr = np, np.asarray(g2, dtype=np.float64)
    if not isinstance(arr, jax.core.Tracer):
        if not bool(xp.all(xp.isfinite(arr))):
            require_finite_array("g2", arr)  # raises, naming the first non-finite index
        if symmetric is None:
            symmetric = bool(xp.all(arr == xp.swapaxes(arr, 1, 2)))
    if xp is np:
        return _estimate(arr, xp=np, n_bands=n_bands, min_lag=min_lag, keep=keep,
                         symmetric=symmetric, interpolate=interpolate)
    split = spans_processes(g2)  # a multi-process job's data: σ keeps their layout
    return _estimate_jax(arr, n_bands=n_bands, min_lag=min_lag, keep=keep,
                         symmetric=symmetric, interpolate=interpolate,
                         sigma_sharding=g2.sharding if split else None)
