"""XPCSData: validated two-time correlation data, angles sorted ascending."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .layout import local_value, spans_processes
from .noise import NoiseEstimate
from .noise import estimate_sigma as _estimate_sigma
from .validation import (
    check_dt,
    first_non_finite,
    require_angles,
    require_finite_array,
    require_positive,
    require_uniform_grid,
    resolution,
    sigma_array,
    time_grid,
)

DEFAULT_GAP = 2e6
"""Stator–rotor gap L (Å) used when the config gives none (200 µm)."""


def _get(tree: Mapping[str, Any] | None, path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


_GAP_KEYS = ("analyzer_parameters.geometry.stator_rotor_gap",
             "experimental_data.geometry.stator_rotor_gap")
_DT_KEYS = ("analyzer_parameters.dt", "experimental_data.dt")


def _first(config: Mapping[str, Any] | None, keys: tuple[str, ...], default: Any) -> Any:
    """The first of `keys` set in `config`, validated as a positive number under its key."""
    for key in keys:
        value = _get(config, key)
        if value is not None:
            return require_positive(key, value)
    return default


def _dtype(value: Any) -> np.dtype:
    try:
        return np.asarray(value).dtype
    except (TypeError, ValueError):
        return np.dtype(object)


class XPCSData(eqx.Module):
    """Measured c2(φ, t1, t2) with σ, on a uniform time grid, angles ascending.

    Build it with `XPCSData.from_arrays` or `XPCSData.from_homodyne_dict` (they validate
    and copy); the raw constructor is for JAX transformations and is not validated
    (`validate_data` checks an object however it was built).

    Fields: g2, sigma (n_phi, n_t, n_t); t (n_t,) [s]; phi (n_phi,) [deg]; q [Å⁻¹];
    L (stator–rotor gap) [Å]; dt [s]; static: sigma_is_default, phi_order (sorted =
    original[phi_order]).
    """

    g2: Float[Array, "n_phi n_t n_t"]
    sigma: Float[Array, "n_phi n_t n_t"]
    t: Float[Array, " n_t"]
    phi: Float[Array, " n_phi"]
    q: Float[Array, ""]
    L: Float[Array, ""]
    dt: Float[Array, ""]
    sigma_is_default: bool = eqx.field(static=True, default=False)
    phi_order: tuple[int, ...] = eqx.field(static=True, default=())

    @classmethod
    def from_arrays(cls, g2, t, phi, *, q, L, dt=None, sigma=None) -> XPCSData:
        """Validate, copy and sort (angles ascending) c2 data.

        **Arguments:**
        - `g2`: c2 (n_phi, n_t, n_t), real; `t`: times (s), uniform, ≥ 2 (times of a
          lower precision than float64, e.g. float32, are checked to their dtype's
          resolution and stored as the float64 grid t[0] + k·dt they stand for); `phi`:
          angles (deg), distinct; `q` (Å⁻¹) > 0; `L` (Å) > 0; `dt` (s): inferred from t if
          None, else must match t's step; `sigma`: None (→ 0.01, recorded), a scalar or
          (n_phi, n_t, n_t).
        """
        phi = require_angles("phi", phi)
        t, dt = time_grid(t, dt)
        g2 = require_finite_array("g2", g2, ndim=3)
        shape = (phi.shape[0], t.shape[0], t.shape[0])
        if g2.shape != shape:
            raise ValueError(f"g2: expected shape {shape} from (phi, t, t), got {g2.shape}")
        sig, default = sigma_array(sigma, shape)
        q = require_positive("q", q)
        L = require_positive("L", L)
        order = np.argsort(phi, kind="stable")
        data = cls(
            g2=jnp.asarray(g2[order]), sigma=jnp.asarray(sig[order]), t=jnp.asarray(t),
            phi=jnp.asarray(phi[order]), q=jnp.asarray(q), L=jnp.asarray(L),
            dt=jnp.asarray(dt), sigma_is_default=default,
            phi_order=tuple(int(i) for i in order),
        )
        validate_data(data)
        return data

    @classmethod
    def from_host(cls, g2, t, phi, *, q, L, sigma) -> XPCSData:
        """Wrap host arrays (NumPy or `np.memmap`) without copying, for HYBRID_STREAMING.

        Validation (`validate_data`) reads the data angle by angle; nothing is moved to the
        device. `phi` must already be ascending (a memory map cannot be reordered without a
        copy); `sigma` is a positive scalar or an array of g2's shape.
        """
        phi = require_angles("phi", phi)
        if np.any(np.diff(phi) <= 0):
            raise ValueError(f"phi: host data must have ascending angles, got {phi.tolist()}")
        t, dt = time_grid(t)
        shape = (phi.shape[0], t.shape[0], t.shape[0])
        if not isinstance(g2, np.ndarray) or g2.shape != shape:
            raise ValueError(f"g2: expected a NumPy array of shape {shape}, got "
                             f"{getattr(g2, 'shape', type(g2).__name__)}")
        if np.ndim(sigma) == 0:
            sig = np.broadcast_to(np.float64(require_positive("sigma", sigma)), shape)
        else:
            sig = sigma
            if not isinstance(sig, np.ndarray) or sig.shape != shape:
                raise ValueError(f"sigma: expected a scalar or shape {shape}, got "
                                 f"{getattr(sig, 'shape', type(sig).__name__)}")
        data = cls(g2=g2, sigma=sig, t=jnp.asarray(t), phi=jnp.asarray(phi),
                   q=jnp.asarray(require_positive("q", q)),
                   L=jnp.asarray(require_positive("L", L)), dt=jnp.asarray(dt),
                   sigma_is_default=False, phi_order=tuple(range(shape[0])))
        validate_data(data)
        return data

    @classmethod
    def from_homodyne_dict(cls, data: Mapping[str, Any], config: Mapping[str, Any] | None = None
                           ) -> XPCSData:
        """Build from homodyne's data dict (phi_angles_list, c2_exp, t1, t2,
        wavevector_q_list, optional sigma) and its config dict.

        q is the first element of `wavevector_q_list` (the data's, not the config's).
        L: data["L"] → the config's stator_rotor_gap → 2e6 Å. dt: data["dt"] → the
        config's dt → the step of t. `config` is a homodyne-layout dict or a `FitConfig`.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"data: expected a dict, got {type(data).__name__}")
        for key in ("phi_angles_list", "c2_exp", "t1", "t2", "wavevector_q_list"):
            if key not in data or data[key] is None:
                raise ValueError(f"data: missing required key {key!r}")
        if config is not None and not isinstance(config, Mapping) and not hasattr(
                config, "geometry"):
            raise ValueError(f"config: expected a dict or a FitConfig, got "
                             f"{type(config).__name__}")
        t_dtype = _dtype(data["t1"])
        t1 = require_finite_array("t1", data["t1"])
        t2 = require_finite_array("t2", data["t2"])
        if t1.ndim == 2:
            t, t_other = t1[:, 0], t2[0, :]
            if t1.shape != t2.shape or not (np.array_equal(t1, np.broadcast_to(t[:, None], t1.shape))
                                            and np.array_equal(t2, np.broadcast_to(t_other[None, :], t2.shape))):
                raise ValueError("t1/t2: 2-D times must be a meshgrid with indexing='ij'")
        elif t1.ndim == 1:
            t, t_other = t1, t2
        else:
            raise ValueError(f"t1: expected 1-D times or a 2-D meshgrid, got shape {t1.shape}")
        if t_other.shape != t.shape or not np.allclose(t_other, t, rtol=1e-12, atol=0):
            raise ValueError("t1/t2: the two time axes disagree")
        if np.issubdtype(t_dtype, np.floating):
            t = t.astype(t_dtype)  # exact: keeps the input precision for the grid check
        q_list = np.atleast_1d(require_finite_array("wavevector_q_list",
                                                    data["wavevector_q_list"]))
        if q_list.size == 0:
            raise ValueError("wavevector_q_list: empty")
        q = require_positive("wavevector_q_list[0]", q_list.ravel()[0])
        if hasattr(config, "geometry"):  # a FitConfig (already validated)
            L_cfg, dt_cfg = config.geometry.L, config.geometry.dt
        else:
            L_cfg, dt_cfg = _first(config, _GAP_KEYS, None), _first(config, _DT_KEYS, None)
        L = next((v for v in (data.get("L"), L_cfg) if v is not None), DEFAULT_GAP)
        dt = next((v for v in (data.get("dt"), dt_cfg) if v is not None), None)
        return cls.from_arrays(data["c2_exp"], t, data["phi_angles_list"], q=q, L=L, dt=dt,
                               sigma=data.get("sigma"))

    @property
    def n_phi(self) -> int:
        return self.g2.shape[0]

    @property
    def n_t(self) -> int:
        return self.g2.shape[1]

    @property
    def n_points(self) -> int:
        """Fitted points: n_phi·n_t·(n_t − 1) (the diagonal t1 == t2 is excluded)."""
        return self.n_phi * self.n_t * (self.n_t - 1)

    def offdiag_mask(self) -> np.ndarray:
        """(n_t, n_t) bool, False on the diagonal."""
        return ~np.eye(self.n_t, dtype=bool)

    def diagonal_corrected(self) -> XPCSData:
        """A copy whose diagonal c2[a, i, i] is the mean of its side-band neighbours
        c2[a, i, i+1] and c2[a, i−1, i] (ends: the single neighbour)."""
        g2 = np.array(self.g2)
        n = self.n_t
        upper = np.diagonal(g2, offset=1, axis1=1, axis2=2)  # (n_phi, n−1): c2[i, i+1]
        lower = np.diagonal(g2, offset=-1, axis1=1, axis2=2)  # c2[i+1, i]
        total = np.zeros((self.n_phi, n))
        count = np.zeros(n)
        total[:, :-1] += upper
        count[:-1] += 1
        total[:, 1:] += lower
        count[1:] += 1
        idx = np.arange(n)
        g2[:, idx, idx] = total / count
        return eqx.tree_at(lambda d: d.g2, self, jnp.asarray(g2))

    def estimate_sigma(self, **kw) -> NoiseEstimate:
        """Model-independent σ per angle and lag band from the data's second differences
        along constant lag (`xpcsfit.noise.estimate_sigma`, keywords passed on), computed on
        the host; the data and its `sigma` are unchanged."""
        return _estimate_sigma(np.asarray(self.g2), **kw)

    def quantile_estimates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-angle (contrast, offset) starts from c2 quantiles (DESIGN §3), clipped to bounds.

        offset = 10th percentile of c2 at lags ≥ their 80th percentile; contrast = 90th
        percentile at lags ≤ their 20th percentile, minus offset.
        """
        contrast, offset = quantile_start(np.asarray(self.g2), np)
        return np.asarray(contrast), np.asarray(offset)


def quantile_start(g2, xp=np):
    """`XPCSData.quantile_estimates` on a (n_phi, n_t, n_t) array with NumPy or jax.numpy
    (`xp`), so the same rule runs on the host and inside a traced fit."""
    n_phi, n_t = g2.shape[0], g2.shape[1]
    i, j = np.indices((n_t, n_t))
    lag = np.abs(i - j).ravel()
    off = np.flatnonzero(lag > 0)
    lags = lag[off]
    long = off[lags >= np.percentile(lags, 80)]
    short = off[lags <= np.percentile(lags, 20)]
    flat = g2.reshape(n_phi, -1)
    offset = xp.percentile(flat[:, long], 10, axis=1)
    contrast = xp.percentile(flat[:, short], 90, axis=1) - offset
    return xp.clip(contrast, 0.0, 1.0), xp.clip(offset, 0.5, 1.5)


def is_symmetric(g2, sigma, xp=np):
    """True when c2 and σ are exactly symmetric in (t1, t2), as measured c2 matrices are.

    Each independent value then appears twice among the fitted points: the minimiser is
    unchanged but the independent-points covariance is too small by a factor of 2, which
    the fit corrects. Works with NumPy or jax.numpy (`xp`).
    """
    return xp.all(g2 == xp.swapaxes(g2, 1, 2)) & xp.all(sigma == xp.swapaxes(sigma, 1, 2))


def _host(name: str, x: Any) -> np.ndarray | None:
    """`x` as a real float64 NumPy array, or None when it is traced (values unknown)."""
    if isinstance(x, jax.core.Tracer):
        return None
    kind = np.dtype(getattr(x, "dtype", np.float64)).kind
    if kind == "c":
        raise ValueError(f"{name}: complex values are not accepted (dtype {x.dtype}); "
                         f"pass real numbers")
    if kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got dtype {getattr(x, 'dtype', None)}")
    if spans_processes(x):  # a multi-process job's array
        if x.is_fully_replicated:
            return np.asarray(local_value(x))
        return None  # split over processes: `_angle_blocks` reads this process's shards
    if isinstance(x, jax.Array):  # concrete device array: read on the host (indexing it
        return np.asarray(x)  # under an outer jit would stage the slice out as a tracer)
    return x


def _angle_blocks(x: Any, host: np.ndarray | None
                  ) -> Iterator[tuple[int, tuple[int, int], np.ndarray]]:
    """(angle index, (row, column) of the block's first element, float64 block) over a
    (n_phi, n_t, n_t) field, one angle in memory at a time: the host array `host` by whole
    angles; a multi-process array split over the processes by this process's shards, in
    global indices; nothing when traced."""
    if host is not None:
        for a in range(host.shape[0]):
            yield a, (0, 0), np.asarray(host[a], dtype=np.float64)
    elif spans_processes(x):
        for shard in x.addressable_shards:
            a0, i0, j0 = (s.start or 0 for s in shard.index)
            block = np.asarray(shard.data, dtype=np.float64)
            for k in range(block.shape[0]):
                yield a0 + k, (i0, j0), block[k]


def validate_data(data: XPCSData) -> None:
    """Check that `data` holds what every fit assumes, however it was built (the
    `from_*` constructors call it; `fit` calls it on raw-constructed data).

    Checks shapes (g2 (n_phi, n_t, n_t), sigma like g2, t (n_t,), phi (n_phi,), scalar
    q, L, dt; n_phi ≥ 1, n_t ≥ 2), real dtypes, finite c2, finite σ > 0, a uniform
    increasing t (to the resolution of its dtype), finite angles strictly ascending,
    q, L, dt finite and > 0 with dt the step of t. g2 and σ are read one angle at a time
    (host memory maps stay on the host); split over the processes of a job, each process
    checks its shards and reports global indices. Traced fields are checked for shape only.

    **Raises:** ValueError naming the field and the offending value.
    """
    if not isinstance(data, XPCSData):
        raise ValueError(f"data: expected an XPCSData, got {type(data).__name__}")
    fields = {"g2": data.g2, "sigma": data.sigma, "t": data.t, "phi": data.phi, "q": data.q,
              "L": data.L, "dt": data.dt}
    for name, x in fields.items():
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ValueError(f"{name}: expected an array, got {type(x).__name__} {x!r:.60}")
    shape = tuple(data.g2.shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"g2: expected shape (n_phi, n_t, n_t), got {shape}")
    n_phi, n_t, _ = shape
    if n_phi < 1:
        raise ValueError(f"phi: empty angle list (g2 shape {shape})")
    if n_t < 2:
        raise ValueError(f"t: need at least 2 times, got g2 shape {shape}")
    expected = {"sigma": shape, "t": (n_t,), "phi": (n_phi,), "q": (), "L": (), "dt": ()}
    for name, want in expected.items():
        if tuple(fields[name].shape) != want:
            raise ValueError(f"{name}: expected shape {want} (from g2 {shape}), got "
                             f"{tuple(fields[name].shape)}")
    if data.phi_order and sorted(data.phi_order) != list(range(n_phi)):
        raise ValueError(f"phi_order: expected a permutation of 0..{n_phi - 1}, got "
                         f"{data.phi_order}")
    host = {name: _host(name, x) for name, x in fields.items()}
    step = None
    if host["t"] is not None:
        t = np.asarray(host["t"], dtype=np.float64)
        first_non_finite("t", t)
        eps = resolution(host["t"])
        step = require_uniform_grid("t", t, eps=eps)
    if host["phi"] is not None:
        phi = np.asarray(host["phi"], dtype=np.float64)
        first_non_finite("phi", phi)
        if np.any(np.diff(phi) <= 0):
            raise ValueError(f"phi: angles must be distinct and ascending (XPCSData.from_arrays "
                             f"sorts them), got {phi.tolist()}")
    for name in ("q", "L", "dt"):
        if host[name] is not None:
            require_positive(name, float(np.asarray(host[name])))
    if step is not None and host["dt"] is not None:
        check_dt("dt", float(np.asarray(host["dt"])), step, t, eps)
    for name in ("g2", "sigma"):
        for a, (i0, j0), block in _angle_blocks(fields[name], host[name]):
            first_non_finite(name, block, a, (i0, j0))
            if name == "sigma" and np.any(block <= 0):
                i, j = (int(k) for k in np.argwhere(block <= 0)[0])
                raise ValueError(f"sigma: must be > 0, got {block[i, j].item()!r} at angle index "
                                 f"{a}, first at index {(a, i0 + i, j0 + j)}")
