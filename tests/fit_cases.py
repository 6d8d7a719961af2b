"""Simulated XPCS fit cases shared by the fit tests (STYLE.md: one problem collection)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import xpcsfit
from xpcsfit.fitting.residuals import fitted_residual

LAMINAR_TRUTH = np.array([3.0e3, 0.6, 20.0, 2.0e-4, 0.4, 1.0e-5, 3.0])
STATIC_TRUTH = np.array([3.0e3, 0.6, 20.0])
PHYSICAL_NAMES = ("D0", "alpha", "D_offset", "gamma_dot_t0", "beta", "gamma_dot_t_offset", "phi0")


def angles(n_phi: int) -> np.ndarray:
    return np.linspace(-150.0, 150.0, n_phi) if n_phi > 1 else np.array([10.0])


def make_case(mode="laminar_flow", n_phi=3, n_t=60, noise=0.01, seed=0,
              convention="paper", symmetric=True):
    """Simulated data and truth: q = 0.005 Å⁻¹, L = 2e6 Å, dt = 0.2 s."""
    truth = LAMINAR_TRUTH if mode == "laminar_flow" else STATIC_TRUTH
    phi = angles(n_phi)
    contrast = 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2
    offset = 1.0 + 0.01 * np.sin(np.deg2rad(phi))
    return xpcsfit.simulate(truth, contrast, offset, n_t=n_t, dt=0.2, phi=phi, q=0.005,
                            L=2e6, noise=noise, seed=seed, mode=mode, convention=convention,
                            symmetric=symmetric)


def start_config(mode="laminar_flow", factor=1.5, **extra):
    """Config starting from truth × factor (offset-like parameters moved within bounds)."""
    truth = LAMINAR_TRUTH if mode == "laminar_flow" else STATIC_TRUTH
    names = PHYSICAL_NAMES[: truth.shape[0]]
    values = [float(v * factor) for v in truth]
    cfg = {"analysis_mode": mode,
           "initial_parameters": {"parameter_names": list(names), "values": values}}
    for key, value in extra.items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


def reduced_reference(data, result, fixed):
    """scipy on the reduced vector (the fixed entries removed), residuals from g2_model
    over the fitted points (`fitted_residual`)."""
    names = result.parameter_names
    free = np.array([i for i, n in enumerate(names) if n not in fixed])

    def full(z):
        x = jnp.zeros(len(names)).at[free].set(z)
        for name, value in fixed.items():
            x = x.at[names.index(name)].set(value)
        return x

    fun = jax.jit(lambda z: fitted_residual(full(z), data))
    jac = jax.jit(jax.jacfwd(lambda z: fitted_residual(full(z), data)))
    space = xpcsfit.ParameterSpace.create("laminar_flow", data.n_phi)
    ref = scipy.optimize.least_squares(
        lambda z: np.asarray(fun(jnp.asarray(z))), result.initial_parameters[free],
        jac=lambda z: np.asarray(jac(jnp.asarray(z))),
        bounds=(space.full_lower()[free], space.full_upper()[free]), method="trf",
        x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14)
    return free, ref
