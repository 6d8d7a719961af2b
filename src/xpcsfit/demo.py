"""The README demo: simulate laminar-flow data, fit it, print parameters, χ² and timing.

With the `io` extra (h5py, pyyaml) the demo is a real end-to-end run: it writes an APS-U
HDF5 file and a YAML config, loads them through `xpcsfit.io`, fits, and writes the result
files (and figures with the `plot` extra). Without it, it fits the same data in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
_SHIFTED = ("D_offset", "phi0", "gamma_dot_t_offset")  # start at truth × 0.5, others × 1.5


def demo_problem(mode: str = "laminar_flow", n_phi: int = 23, n_t: int = 200,
                 seed: int = 0) -> dict[str, Any]:
    """Keyword arguments of `xpcsfit.io.simulated.simulate_files` for the demo problem:
    truth, per-angle contrast/offset, angles (deg, −170..170), setup, and a start at
    truth × 1.5 (offsets × 0.5)."""
    from .physics.parameters import PHYSICAL_NAMES

    phi = np.linspace(-170.0, 170.0, n_phi) if n_phi > 1 else np.zeros(1)
    truth = {k: DEMO_TRUTH[k] for k in PHYSICAL_NAMES[mode]}
    return {"mode": mode, "truth": truth, "phi": phi, "seed": seed,
            "contrast": 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2,
            "offset": 1.0 + 0.01 * np.sin(np.deg2rad(phi)),
            "start": {k: v * (0.5 if k in _SHIFTED else 1.5) for k, v in truth.items()},
            **DEMO_SETUP, "n_t": n_t}


def demo_data(seed: int = 0):
    """The demo's synthetic dataset: 23 angles × 200² frames (0.92M fitted points)."""
    from . import simulate

    p = demo_problem(seed=seed)
    return simulate(list(p["truth"].values()), p["contrast"], p["offset"], phi=p["phi"],
                    mode=p["mode"], seed=seed, **DEMO_SETUP)


def _io_available() -> bool:
    from .io._optional import available

    return available("h5py") and available("yaml")


def run_demo(write=print, output_dir: str | Path | None = "xpcsfit-demo",
             plots: bool = True) -> dict:
    """Fit the demo data twice (cold: includes compilation; warm: new noise) and report.

    With `output_dir` and the io extra: simulate to files there, load them, fit, and write
    the result files (and figures if `plots` and matplotlib is installed).
    """
    from . import XPCSData, fit
    from .io.results import summary_lines

    problem = demo_problem()
    config: Any = {"analysis_mode": "laminar_flow", "initial_parameters": {
        "parameter_names": list(problem["start"]), "values": list(problem["start"].values())}}
    files = output_dir is not None and _io_available()
    if output_dir is not None and not files:
        write("note: h5py/pyyaml not installed, so the demo fits in memory; "
              "pip install 'xpcsfit[io,plot]' for the end-to-end run with files")
    if files:
        from .io.dataset import load_dataset
        from .io.simulated import simulate_files
        from .io.yaml_config import load_config

        t0 = time.perf_counter()
        paths = simulate_files(output_dir, **problem)
        loaded = load_config(paths["config"])
        data, dataset = load_dataset(loaded)
        io_s = time.perf_counter() - t0
        config = loaded.fit
        write(f"wrote {paths['data']} (APS-U layout) and {paths['config']}; loaded "
              f"q = {dataset['q']:g} Å⁻¹ (the file holds "
              f"{', '.join(f'{q:g}' for q in dataset['q_available'])}) in {io_s:.1f} s")
    else:
        data, _ = demo_data(seed=0)
    write(f"xpcsfit demo: laminar flow, {data.n_phi} angles × {data.n_t}² frames "
          f"= {data.n_points:,} fitted points, start at truth × 1.5")
    t0 = time.perf_counter()
    cold = fit(data, config)
    cold_s = time.perf_counter() - t0
    fresh, _ = demo_data(seed=1)  # same shapes and σ handling as `data`: no recompilation
    data2 = XPCSData.from_arrays(np.asarray(fresh.g2), fresh.t, fresh.phi, q=fresh.q,
                                 L=fresh.L, sigma=None if files else fresh.sigma)
    t0 = time.perf_counter()
    warm = fit(data2, config)
    warm_s = time.perf_counter() - t0
    for line in summary_lines(cold, problem["truth"]):
        write(line)
    write(f"time: cold (incl. compilation) {cold_s:.2f} s, warm (new data, same shapes) "
          f"{warm_s:.2f} s = {data.n_points / warm_s / 1e6:.1f} M points/s")
    out = {"cold": cold, "warm": warm, "cold_s": cold_s, "warm_s": warm_s,
           "truth": problem["truth"], "files": {}}
    if files:
        from .io._optional import available
        from .io.results import write_results

        t0 = time.perf_counter()
        out["files"] = write_results(output_dir, cold, data, loaded.fit, dataset=dataset,
                                     config_echo=loaded.raw)
        if plots and available("matplotlib"):
            from .io.plots import plot_results

            out["figures"] = plot_results(output_dir)
        write(f"results: {', '.join(str(p) for p in out['files'].values())}"
              + (f" and {len(out.get('figures', []))} figures" if out.get("figures") else "")
              + f" ({time.perf_counter() - t0:.1f} s)")
    return out
