"""The README demo: simulate laminar-flow data, fit it, print parameters, χ² and timing."""

from __future__ import annotations

import time

import numpy as np

DEMO_TRUTH = {
    "D0": 3.0e3,
    "alpha": 0.6,
    "D_offset": 20.0,
    "gamma_dot_t0": 2.0e-4,
    "beta": 0.4,
    "gamma_dot_t_offset": 1.0e-5,
    "phi0": 3.0,
}
DEMO_SETUP = {"n_t": 200, "dt": 0.1, "q": 0.005, "L": 2.0e6, "noise": 0.01}
DEMO_ANGLES = np.linspace(-170.0, 170.0, 23)


def demo_data(seed: int = 0):
    """The demo's synthetic dataset: 23 angles × 200² frames (0.92M fitted points)."""
    from . import simulate

    contrast = 0.3 + 0.1 * np.cos(np.deg2rad(DEMO_ANGLES)) ** 2
    offset = 1.0 + 0.01 * np.sin(np.deg2rad(DEMO_ANGLES))
    return simulate(list(DEMO_TRUTH.values()), contrast, offset, phi=DEMO_ANGLES,
                    mode="laminar_flow", seed=seed, **DEMO_SETUP)


def run_demo(write=print) -> dict:
    """Fit the demo data twice (cold: includes compilation; warm: new noise) and report."""
    from . import fit

    data, truth = demo_data(seed=0)
    start = {k: (v * 1.5 if k not in ("D_offset", "phi0", "gamma_dot_t_offset") else v * 0.5)
             for k, v in DEMO_TRUTH.items()}
    config = {"analysis_mode": "laminar_flow",
              "initial_parameters": {"parameter_names": list(start), "values": list(start.values())}}
    write(f"xpcsfit demo: laminar flow, {data.n_phi} angles × {data.n_t}² frames "
          f"= {data.n_points:,} fitted points, start at truth × 1.5")
    t0 = time.perf_counter()
    cold = fit(data, config)
    cold_s = time.perf_counter() - t0
    data2, _ = demo_data(seed=1)
    t0 = time.perf_counter()
    warm = fit(data2, config)
    warm_s = time.perf_counter() - t0
    write(f"{'parameter':>20} {'truth':>12} {'fit':>12} {'± std err':>12} {'(fit−truth)/σ':>14}")
    for name, true in DEMO_TRUTH.items():
        value, err = cold.value(name), cold.uncertainty(name)
        z = (value - true) / err if err > 0 else float("nan")
        write(f"{name:>20} {true:12.5g} {value:12.5g} {err:12.3g} {z:14.2f}")
    write(f"χ² = {cold.chi_squared:.6g}, reduced χ² = {cold.reduced_chi_squared:.4f}, "
          f"quality = {cold.quality_flag}, status = {cold.convergence_status}, "
          f"strategy = {cold.device_info['strategy']}, per-angle = "
          f"{cold.device_info['per_angle_mode']}, iterations = {cold.iterations}")
    write(f"time: cold (incl. compilation) {cold_s:.2f} s, warm (new data, same shapes) "
          f"{warm_s:.2f} s = {data.n_points / warm_s / 1e6:.1f} M points/s")
    return {"cold": cold, "warm": warm, "cold_s": cold_s, "warm_s": warm_s, "truth": truth}
