"""Each process's share of c2: a contiguous block of t1 rows of every angle, and the
global `XPCSData` built from the shares without any process holding the whole.

The c2 array (n_phi, n_t, n_t) is split along t1 over all devices of the job (devices
ordered by process, so a process's devices hold consecutive blocks). Flattened over the
pairs (t1, t2), row blocks are contiguous blocks of pairs: the layout of the sharded data
pass (`fitting.sharded`), which then combines the per-block sums with `psum`.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Float

from ..data import XPCSData, validate_data
from ..fitting.sharded import AXIS, device_mesh
from ..layout import local_rows
from ..validation import (
    require_angles,
    require_positive,
    require_real_array,
    sigma_array,
    time_grid,
)


def row_sharding() -> NamedSharding:
    """c2 (n_phi, n_t, n_t) split along t1 over every device of the job."""
    return NamedSharding(device_mesh(), P(None, AXIS, None))


def share_rows(n_t: int) -> slice:
    """The t1 rows (0-based, of the n_t fitted frames) this process holds.

    ValueError when n_t does not split evenly over the job's devices (each device must hold
    the same number of rows)."""
    n_dev = jax.device_count()
    if isinstance(n_t, bool) or not isinstance(n_t, int | np.integer) or n_t < 2:
        raise ValueError(f"n_t: expected an integer >= 2, got {n_t!r}")
    if n_t % n_dev:
        raise ValueError(f"n_t: {n_t} frames do not split evenly over the {n_dev} devices of "
                         f"the job; choose a frame range (start_frame..end_frame) whose length "
                         f"is a multiple of {n_dev}")
    index = row_sharding().addressable_devices_indices_map((1, int(n_t), 1))
    rows = sorted((s[1].start or 0, s[1].stop or n_t) for s in index.values())
    if any(a[1] != b[0] for a, b in zip(rows, rows[1:], strict=False)):
        raise ValueError(f"devices: this process's devices hold rows {rows}, not one block")
    return slice(rows[0][0], rows[-1][1])


def _replicated(value) -> jax.Array:
    sharding = NamedSharding(device_mesh(), P())
    value = np.asarray(value, dtype=np.float64)
    return jax.make_array_from_process_local_data(sharding, value, value.shape)


def global_data(
    share: Float[np.ndarray, "n_phi rows n_t"],
    t: Float[np.ndarray, " n_t"],
    phi: Float[np.ndarray, " n_phi"],
    *,
    q: float,
    L: float,
    dt: float | None = None,
    sigma: float | Float[np.ndarray, "n_phi rows n_t"] | None = None,
) -> XPCSData:
    """The job's `XPCSData` from this process's rows `share_rows(n_t)` of c2 (and of σ).

    Every process passes the same t [s], phi [deg] (any order; sorted here as
    `XPCSData.from_arrays` does), q [Å⁻¹], L [Å], dt [s] and the same kind of `sigma`
    (None → 0.01, recorded as default; a scalar; or this process's rows). g2 and σ of the
    result are global arrays split along t1; nothing is gathered. `validate_data` checks
    the share (finite, σ > 0) in the process that holds it, naming global indices.
    """
    phi = require_angles("phi", phi)
    t, dt = time_grid(t, dt)
    n_phi, n_t = phi.shape[0], t.shape[0]
    rows = share_rows(n_t)
    shape = (n_phi, rows.stop - rows.start, n_t)
    share = require_real_array("g2", share, ndim=3)
    if share.shape != shape:
        raise ValueError(f"g2: this process holds rows {rows.start}..{rows.stop - 1}: expected "
                         f"its share of shape {shape}, got {share.shape}")
    sig, default = sigma_array(sigma, shape, share=True)
    order = np.argsort(phi, kind="stable")
    sharding, full = row_sharding(), (n_phi, n_t, n_t)
    g2 = jax.make_array_from_process_local_data(sharding, share[order], full)
    sg = jax.make_array_from_process_local_data(sharding, sig[order], full)
    data = XPCSData(g2=g2, sigma=sg, t=_replicated(t), phi=_replicated(phi[order]),
                    q=_replicated(require_positive("q", q)),
                    L=_replicated(require_positive("L", L)), dt=_replicated(dt),
                    sigma_is_default=default, phi_order=tuple(int(i) for i in order))
    validate_data(data)
    return data


def local_share(x: jax.Array) -> np.ndarray:
    """This process's rows of a global (n_phi, n_t, n_t) array split by `row_sharding`."""
    return local_rows(x)[0]


def diagonal_corrected_share(share: np.ndarray, rows: slice) -> np.ndarray:
    """`XPCSData.diagonal_corrected` on a share of a symmetric c2: c2[a, i, i] becomes the
    mean of c2[a, i, i+1] and c2[a, i, i−1] (= c2[a, i−1, i]); ends: the one neighbour."""
    out = np.array(share, dtype=np.float64)
    n_t = out.shape[2]
    i = np.arange(rows.start, rows.stop)
    r = i - rows.start
    right = np.where(i + 1 < n_t, out[:, r, np.minimum(i + 1, n_t - 1)], 0.0)
    left = np.where(i > 0, out[:, r, np.maximum(i - 1, 0)], 0.0)
    count = (i + 1 < n_t).astype(float) + (i > 0)
    out[:, r, i] = (right + left) / count
    return out


__all__ = ["diagonal_corrected_share", "global_data", "local_share", "row_sharding",
           "share_rows"]
