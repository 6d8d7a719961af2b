"""Simulated XPCS benchmark problems: truth, data, config and start (truth × 1.5).

A case is a plain dict (JSON-serialisable, so it can be handed to a subprocess):
{"name", "mode", "n_phi", "n_t", "dt"}; `dt` defaults to 0.1 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LAMINAR = np.array([3.0e3, 0.6, 20.0, 2.0e-4, 0.4, 1.0e-5, 3.0])
NAMES = ("D0", "alpha", "D_offset", "gamma_dot_t0", "beta", "gamma_dot_t_offset", "phi0")
START_FACTOR = 1.5
QUICK_N_T = 30
"""Frames of the `--quick` case the scaling and screening suites share (laminar 23φ, 20 s
window: 20,010 points, 53 parameters), measured once per run (`isolate` reuse)."""


def truth_for(mode: str) -> np.ndarray:
    """Physical parameters the data are simulated with."""
    return LAMINAR if mode == "laminar_flow" else LAMINAR[:3]


def angles(n_phi: int) -> np.ndarray:
    """n_phi angles (degrees) spread over −170..170."""
    return np.linspace(-170.0, 170.0, n_phi)


def contrast_offset(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-angle contrast and offset of the simulated data."""
    return 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2, 1.0 + 0.01 * np.sin(np.deg2rad(phi))


def make_data(case: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    """`xpcsfit.simulate` data (σ = 0.01) and the truth dict for a case."""
    import xpcsfit

    phi = angles(case["n_phi"])
    contrast, offset = contrast_offset(phi)
    return xpcsfit.simulate(truth_for(case["mode"]), contrast, offset, n_t=case["n_t"],
                            dt=case.get("dt", 0.1), phi=phi, q=0.005, L=2e6, noise=0.01,
                            seed=seed, mode=case["mode"])


def config_for(case: dict[str, Any]) -> dict[str, Any]:
    """Fit config: start at truth × 1.5, per-angle "individual" (2·n_phi + p parameters);
    `screening` (bool) in the case switches global screening."""
    truth = truth_for(case["mode"])
    nlsq: dict[str, Any] = {"anti_degeneracy": {"per_angle_mode": "individual"}}
    if "screening" in case:  # default: the library's default (on)
        nlsq["screening"] = {"enable": bool(case["screening"])}
    return {"analysis_mode": case["mode"],
            "initial_parameters": {"parameter_names": list(NAMES[: truth.shape[0]]),
                                   "values": [float(v) * START_FACTOR for v in truth]},
            "optimization": {"nlsq": nlsq}}


def laminar_window(n_t: int, n_phi: int = 23) -> dict[str, Any]:
    """The laminar case with n_t frames over a fixed 20 s window (dt = 20/n_t), so the
    decorrelation, and the difficulty, stay the same whatever n_t."""
    return {"mode": "laminar_flow", "n_phi": n_phi, "n_t": n_t, "dt": 20.0 / n_t}


def case_label(case: dict[str, Any]) -> str:
    """Short name, e.g. "laminar 23φ×200²"."""
    kind = "laminar" if case["mode"] == "laminar_flow" else "static"
    return case.get("name") or f"{kind} {case['n_phi']}φ×{case['n_t']}²"
