"""Synthetic two-time correlation data with known truth."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from .g2 import N_PHYSICAL, check_convention, check_mode, g2_model


def simulate(
    physical: Float[ArrayLike, " p"],
    contrast: Float[ArrayLike, "..."],
    offset: Float[ArrayLike, "..."],
    *,
    n_t: int,
    dt: float,
    phi: Float[ArrayLike, " n_phi"],
    q: float,
    L: float,
    noise: float = 0.01,
    seed: int = 0,
    mode: str = "laminar_flow",
    convention: str = "paper",
    symmetric: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Simulate c2 data from the model plus Gaussian noise of standard deviation `noise`.

    **Arguments:**
    - `physical`, `contrast`, `offset`, `q` (Å⁻¹), `L` (Å), `mode`, `convention`: as in
      `g2_model`.
    - `n_t`: number of frames; the grid is t_k = k·dt, k = 0..n_t−1 (s).
    - `phi`: angles (deg), any order (XPCSData sorts them).
    - `noise`: absolute noise standard deviation, also recorded as `sigma` (≥ 0).
    - `seed`: seed of the `jax.random` key; the same seed gives the same data.
    - `symmetric`: mirror the noise of t1 < t2 onto t1 > t2 so the matrix is symmetric,
      as measured c2 matrices are. Points are then not independent: with
      `symmetric=True` a least-squares fit over both triangles counts each draw twice.

    **Returns:** ``(data, truth)`` with `data` an `XPCSData` (sigma = noise) and `truth` a
    dict holding `physical`, `contrast`, `offset` (per angle, in sorted-angle order),
    `g2_clean` and the settings.
    """
    from ..data import XPCSData  # data.py sits above physics; imported lazily

    check_mode(mode)
    check_convention(convention)
    if int(n_t) < 2:
        raise ValueError(f"n_t: need at least 2 time points, got {n_t!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: must be finite and > 0, got {dt!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise: must be finite and >= 0, got {noise!r}")
    physical = np.array(physical, dtype=np.float64)
    if physical.shape != (N_PHYSICAL[mode],):
        raise ValueError(
            f"physical: expected {N_PHYSICAL[mode]} values for {mode!r}, got shape {physical.shape}"
        )
    phi = np.atleast_1d(np.array(phi, dtype=np.float64))
    order = np.argsort(phi, kind="stable")
    n_phi = phi.shape[0]
    contrast = np.broadcast_to(np.array(contrast, dtype=np.float64), (n_phi,))[order]
    offset = np.broadcast_to(np.array(offset, dtype=np.float64), (n_phi,))[order]
    t = np.arange(int(n_t), dtype=np.float64) * float(dt)
    clean = g2_model(
        physical, contrast, offset, t, phi[order], q=q, L=L, mode=mode, convention=convention
    )
    draws = jax.random.normal(jax.random.PRNGKey(seed), clean.shape, dtype=jnp.float64)
    if symmetric:
        upper = jnp.triu(draws, k=1)
        draws = upper + jnp.swapaxes(upper, 1, 2) + draws * jnp.eye(int(n_t))[None, :, :]
    g2 = np.asarray(clean + noise * draws)
    sigma = None if noise == 0 else np.full(g2.shape, noise)
    data = XPCSData.from_arrays(g2, t, phi[order], q=q, L=L, dt=dt, sigma=sigma)
    truth = {
        "physical": physical,
        "contrast": contrast,
        "offset": offset,
        "g2_clean": np.asarray(clean),
        "mode": mode,
        "convention": convention,
        "noise": float(noise),
        "seed": int(seed),
    }
    return data, truth
