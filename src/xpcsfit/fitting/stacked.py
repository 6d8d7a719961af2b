"""Several q-bins as one dataset: the angles of every bin stacked, each (q, φ) one angle.

`StackedData` is an `XPCSData` whose angles are those of bin 0, then bin 1, … shifted by
whole turns (φ + 360°·k, the same cos(φ0 − φ), so the angles stay distinct and ascending
as `XPCSData` requires); `q` is bin 0's. The fit builds one objective per bin from its
slice, with the bin's own q and true angles (`objectives.JointObjective`); the rest of
the pipeline (per-angle modes, defenses, strategies, Gram sums) sees one dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..data import XPCSData, validate_data


class StackedData(XPCSData):
    """`XPCSData` of stacked q-bins; `bin_q` (n_bins,) [Å⁻¹], `bin_phi` (n_phi,) the
    true angles [deg], `bin_sizes` the angles per bin (static)."""

    bin_q: Float[Array, " n_bins"] | None = None
    bin_phi: Float[Array, " n_phi"] | None = None
    bin_sizes: tuple[int, ...] = eqx.field(static=True, default=())

    @property
    def n_bins(self) -> int:
        return len(self.bin_sizes)

    def bin(self, k: int) -> XPCSData:
        """Bin k as a plain `XPCSData` (its own q and angles)."""
        start = sum(self.bin_sizes[:k])
        s = slice(start, start + self.bin_sizes[k])
        return XPCSData(self.g2[s], self.sigma[s], self.t, self.bin_phi[s], self.bin_q[k],
                        self.L, self.dt, self.sigma_is_default)


def _turns(phi: np.ndarray, previous_max: float | None) -> float:
    """The shift 360°·k (k ≥ 0) that puts every angle of `phi` above `previous_max`."""
    if previous_max is None:
        return 0.0
    return 360.0 * max(0.0, np.floor((previous_max - float(phi.min())) / 360.0) + 1.0)


def stack_bins(datasets: Sequence[XPCSData], field: str = "datasets") -> StackedData:
    """Stack q-bins into one `StackedData`; they must share the time grid (t, dt), the gap
    L and whether σ is the default, else ValueError naming `field[k]` and the mismatch."""
    first = datasets[0]
    t0 = np.asarray(first.t)
    for k, data in enumerate(datasets[1:], start=1):
        t = np.asarray(data.t)
        if t.shape != t0.shape or not np.allclose(t, t0, rtol=1e-12, atol=0.0):
            raise ValueError(f"{field}[{k}].t: the joint fit needs one time grid; bin {k} has "
                             f"{t.size} times {t[0]!r}..{t[-1]!r}, bin 0 has {t0.size} times "
                             f"{t0[0]!r}..{t0[-1]!r}")
        if float(data.L) != float(first.L):
            raise ValueError(f"{field}[{k}].L: {float(data.L)!r} differs from bin 0's "
                             f"{float(first.L)!r}")
        if data.sigma_is_default != first.sigma_is_default:
            raise ValueError(f"{field}[{k}].sigma: given for some bins and not for others")
    shifted, top = [], None
    for data in datasets:
        phi = np.asarray(data.phi, dtype=np.float64)
        shifted.append(phi + _turns(phi, top))
        top = float(shifted[-1].max())
    stacked = StackedData(
        g2=jnp.concatenate([jnp.asarray(d.g2) for d in datasets]),
        sigma=jnp.concatenate([jnp.asarray(d.sigma) for d in datasets]),
        t=jnp.asarray(first.t), phi=jnp.asarray(np.concatenate(shifted)), q=first.q,
        L=first.L, dt=first.dt, sigma_is_default=first.sigma_is_default,
        phi_order=tuple(range(sum(d.n_phi for d in datasets))),
        bin_q=jnp.stack([jnp.asarray(d.q) for d in datasets]),
        bin_phi=jnp.concatenate([jnp.asarray(d.phi) for d in datasets]),
        bin_sizes=tuple(d.n_phi for d in datasets))
    validate_data(stacked)
    return stacked
