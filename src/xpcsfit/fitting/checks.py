"""What a careful scientist checks before calling a fit good, as traceable tests.

- **Bounds:** a free physical parameter within 1e-6 of its range from a bound is not an
  estimate but a constraint.
- **Per-angle check** (per-angle modes fourier, averaged, constant): at the answer's physical
  values, the exact per-angle optimum (contrast and offset free per angle) is evaluated; its
  improvement Δχ² over the restricted mode is χ²-distributed with (2·n_phi − free per-angle
  values) degrees of freedom if the restriction holds. A significant Δχ² (p < 1e-3) means
  the mode cannot follow the data's per-angle values and biases the physics.
- **Signal:** the model must beat the per-angle constant c2 = offset_a (no correlation
  decay at all) by a significant Δχ² (p < 1e-3 with the model's extra parameters as
  degrees of freedom). Otherwise the physical values are noise fits.
- **Goodness of fit** (σ given or estimated): z = (χ² − dof)/√(2·dof), and, for an estimated
  σ, z widened by the estimate's own relative error δ: z_eff = (χ²_red − 1)/√(2/dof + 4δ²
  + 4b²) with b = 0.002 (the estimator's bias bound). z_eff > 5 means the model does not
  describe the data within the noise.

Δχ² significance uses the χ² scale of the better model, s² = χ²/dof, so it holds when σ is
only known up to a factor (Δχ²/s² is then the F-statistic × df, ~χ² for large dof).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax.scipy.special import erfc, gammaincc
from jaxtyping import Array, Bool, Float

BOUND_FRACTION = 1e-6
"""Distance to a bound, as a fraction of the parameter's range, that counts as "at" it."""
P_SIGNIFICANT = 1e-3
"""p-value below which a Δχ² is significant (per-angle check, signal)."""
Z_GOODNESS = 5.0
"""z_eff above which χ²_red is significantly above 1 for the σ used."""
NOISE_BIAS = 0.002
"""Bound on the relative bias of the model-free σ estimate (measured ≤ 0.1 %; see noise.py)."""


class Checks(eqx.Module):
    """Raw numbers of the checks (see the module docstring); NaN where not applicable."""

    at_bound: Bool[Array, " p"]
    profile_cost: Float[Array, ""]
    constant_cost: Float[Array, ""]
    screen_gap: Float[Array, ""]
    lower_basin: Bool[Array, ""]


def at_bound(x_phys, lower, upper, free) -> Bool[Array, " p"]:
    """Free physical parameters within `BOUND_FRACTION` of their range from a bound."""
    span = upper - lower
    close = (x_phys - lower <= BOUND_FRACTION * span) | (upper - x_phys <= BOUND_FRACTION * span)
    return close & free


def chi2_sf(delta_chi2, df):
    """P(χ²_df > Δχ²) (df > 0)."""
    return gammaincc(0.5 * df, 0.5 * jnp.maximum(delta_chi2, 0.0))


def scaled_delta_p(cost_worse, cost_better, df, dof_better):
    """p-value of a Δχ² = 2(cost_worse − cost_better) with `df` degrees of freedom, on the χ²
    scale of the better model (s² = 2·cost_better/dof_better)."""
    s2 = jnp.maximum(2.0 * cost_better / dof_better, 1e-300)
    return chi2_sf(2.0 * (cost_worse - cost_better) / s2, df)


def goodness(chi2, dof, rel_se):
    """(z, p, z_eff): the χ² test of the fit at the σ used (see the module docstring)."""
    z = (chi2 - dof) / jnp.sqrt(2.0 * dof)
    z_eff = (chi2 / dof - 1.0) / jnp.sqrt(2.0 / dof + 4.0 * rel_se**2 + 4.0 * NOISE_BIAS**2
                                          * (rel_se > 0))
    return z, 0.5 * erfc(z / jnp.sqrt(2.0)), z_eff
