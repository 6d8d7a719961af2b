"""The quality flag: what "good", "marginal" and "poor" mean, computed from the checks.

"good" needs all of: converged; χ²_red < 2; no free physical parameter at a bound; the
per-angle check passed (restricted per-angle modes); no lower basin found by screening;
χ²_red not significantly above 1 for the σ used (σ given or estimated); σ not the default;
and a significant signal. Any failure of these is "marginal", except: a failed fit,
χ²_red ≥ 5 or no signal are "poor". Each reason that applies is a bit of `bits` and a
sentence in `OptimizationResult.quality_reasons`.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .checks import P_SIGNIFICANT, Z_GOODNESS, goodness, scaled_delta_p
from .result import GOOD_CHI2, MARGINAL_CHI2

REASONS = ("failed", "no_signal", "chi2_poor", "chi2_marginal", "not_converged", "at_bound",
           "per_angle", "lower_basin", "goodness", "sigma_default", "undetermined")
AMPLITUDES = ("D0", "gamma_dot_t0")
"""Rate amplitudes a result is for: one whose standard error exceeds its value is not
determined by the data (e.g. γ̇0 in a far sidelobe of sinc², where the shear factor no
longer depends on it)."""
POOR = ("failed", "no_signal", "chi2_poor")


class Quality(eqx.Module):
    """The flag (0 good, 1 marginal, 2 poor), its reason bits (see `REASONS`) and the
    statistics behind them (NaN where a test does not apply)."""

    code: Int[Array, ""]
    bits: Int[Array, ""]
    z: Float[Array, ""]
    p_goodness: Float[Array, ""]
    z_eff: Float[Array, ""]
    per_angle_delta_chi2: Float[Array, ""]
    per_angle_p: Float[Array, ""]
    signal_delta_chi2: Float[Array, ""]
    signal_p: Float[Array, ""]


def per_angle_free(plan) -> int:
    return {"individual": 2 * plan.n_phi, "varpro": 2 * plan.n_phi, "averaged": 2,
            "constant": 0, "fourier": 2 * (2 * plan.fourier_order + 1)}[plan.per_angle_mode]


def assess(plan, out, chi2, red, n_free, convergence, finite, errors) -> Quality:
    """The flag of a finished run (traceable). When every value was fitted twice
    (`Outcome.duplicated`), χ² differences and point counts are halved in the tests."""
    half = jnp.where(out.duplicated, 0.5, 1.0)
    n_ind = half * plan.n_points
    dof = jnp.maximum(n_ind - n_free, 1.0)
    cost = half * out.raw_cost
    z, p_good, z_eff = goodness(2.0 * cost, dof, plan.noise_rel_se)
    df_signal = jnp.maximum(n_free - plan.n_phi, 1)
    const = half * out.checks.constant_cost
    signal_p = scaled_delta_p(const, cost, df_signal, dof)
    profile = half * out.checks.profile_cost
    df_angle = max(2 * plan.n_phi - per_angle_free(plan), 1)
    dof_full = jnp.maximum(n_ind - (n_free + df_angle), 1.0)
    per_angle_p = jnp.where(jnp.isnan(profile), jnp.nan,
                            scaled_delta_p(cost, profile, df_angle, dof_full))
    flags = {
        "failed": (convergence == 2) | ~finite,
        "no_signal": ~(signal_p < P_SIGNIFICANT),
        "chi2_poor": ~(red < MARGINAL_CHI2),
        "chi2_marginal": (red >= GOOD_CHI2) & (red < MARGINAL_CHI2),
        "not_converged": convergence == 1,
        "at_bound": jnp.any(out.checks.at_bound),
        "per_angle": per_angle_p < P_SIGNIFICANT,
        "lower_basin": out.checks.lower_basin & (per_angle_free(plan) == 2 * plan.n_phi),
        "goodness": jnp.asarray(plan.sigma_source != "default") & (z_eff > Z_GOODNESS),
        "sigma_default": jnp.asarray(plan.sigma_source == "default"),
        "undetermined": jnp.any(undetermined(plan, out.x, errors)),
    }
    bits = sum(flags[name].astype(jnp.int32) << i for i, name in enumerate(REASONS))
    poor = jnp.any(jnp.stack([flags[name] for name in POOR]))
    code = jnp.where(poor, 2, jnp.where(bits != 0, 1, 0))
    return Quality(code=code, bits=bits, z=z, p_goodness=p_good, z_eff=z_eff,
                   per_angle_delta_chi2=2.0 * (cost - profile), per_angle_p=per_angle_p,
                   signal_delta_chi2=2.0 * (const - cost), signal_p=signal_p)


def undetermined(plan, x, errors):
    """Free rate amplitudes whose standard error exceeds their value (see `AMPLITUDES`)."""
    names = plan.space.full_names
    index = [names.index(n) for n in AMPLITUDES if n in names and n not in plan.fixed]
    if not index:
        return jnp.zeros((0,), bool)
    idx = np.asarray(index)
    return errors[idx] > jnp.abs(x[idx])


def reasons(q: Quality, red: float, sigma_source: str, at_bound_names: list[str],
            screen_gap: float, undetermined_text: str = "") -> list[str]:
    """One sentence per reason bit (host side)."""
    bits = int(q.bits)
    text = {
        "failed": "the fit failed (non-finite result, or no progress from the start)",
        "no_signal": (f"no signal: the model improves on a per-angle constant by only "
                      f"Δχ² = {float(q.signal_delta_chi2):.4g} (p = {float(q.signal_p):.2g}); "
                      "the physical values are not determined"),
        "chi2_poor": f"χ²_red = {red:.4g} ≥ {MARGINAL_CHI2}",
        "chi2_marginal": f"χ²_red = {red:.4g} ≥ {GOOD_CHI2}",
        "not_converged": "stopped before a convergence test was met",
        "at_bound": "at a bound: " + ", ".join(at_bound_names),
        "per_angle": (f"per-angle check failed: the exact per-angle optimum improves χ² by "
                      f"{float(q.per_angle_delta_chi2):.4g} (p = {float(q.per_angle_p):.2g}); "
                      "this per-angle mode biases the fit — use individual or varpro"),
        "lower_basin": (f"screening found a lower basin (Δχ² = {2 * screen_gap:.4g} on the "
                        "subsample) that the fit did not reach"),
        "goodness": (f"χ²_red = {red:.4g} is significantly above 1 for the σ "
                     f"{sigma_source} (z = {float(q.z_eff):.3g}): the model does not describe "
                     "the data within the noise"),
        "sigma_default": "σ unknown (the default 0.01 was used): χ² is not calibrated",
        "undetermined": f"not determined by the data (standard error > value): "
                        f"{undetermined_text}",
    }
    return [text[name] for i, name in enumerate(REASONS) if bits >> i & 1]


def at_bound_names(plan, at_bound) -> list[str]:
    return [n for n, a in zip(plan.space.physical_names, np.asarray(at_bound).tolist(),
                              strict=True) if a]
