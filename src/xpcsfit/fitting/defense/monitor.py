"""L4: gradient-collapse monitor, an observer of the trust-region iterations.

ratio = ‖∇_physical‖/‖∇_per-angle‖ at each accepted iterate; when it stays below the
threshold (0.01) for `patience` (5) consecutive accepted iterations, the per-angle
parameters are absorbing the signal and the configured response runs: warn | hierarchical
| reset (per-angle values to their means) | abort. The solver knows nothing of this: it
only calls the observer's `init` / `update` (see `solvers.trust_region`).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

RESPONSES = ("warn", "hierarchical", "reset", "abort")


class MonitorState(eqx.Module):
    run: Int[Array, ""]  # consecutive accepted iterations with a low ratio
    trigger: Int[Array, ""]  # iteration at which the monitor fired, −1 if never
    ratio: Float[Array, ""]  # last ratio at an accepted iterate (NaN before any)


class GradientMonitor(eqx.Module):
    """Observer: the gradient entries from `split` on are physical, the rest per-angle."""

    split: int = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    patience: int = eqx.field(static=True)

    def init(self) -> MonitorState:
        return MonitorState(jnp.asarray(0), jnp.asarray(-1), jnp.asarray(jnp.nan))

    def update(self, st: MonitorState, obs) -> MonitorState:
        g = obs.grad
        ratio = jnp.linalg.norm(g[self.split :]) / jnp.maximum(
            jnp.linalg.norm(g[: self.split]), 1e-300)
        run = jnp.where(obs.accepted, jnp.where(ratio < self.threshold, st.run + 1, 0), st.run)
        trigger = jnp.where((st.trigger < 0) & (run >= self.patience), obs.iteration,
                            st.trigger)
        return MonitorState(run, trigger, jnp.where(obs.accepted, ratio, st.ratio))


def reset_per_angle(x_full: Float[Array, " n"], n_phi: int) -> Float[Array, " n"]:
    """The "reset" response: every angle's contrast and offset set to their means."""
    c, o = x_full[:n_phi], x_full[n_phi : 2 * n_phi]
    return jnp.concatenate([jnp.full_like(c, jnp.mean(c)), jnp.full_like(o, jnp.mean(o)),
                            x_full[2 * n_phi :]])
