"""xpcsfit vs scipy.optimize.least_squares(trf) on identical simulated data and start.

Cases (DESIGN §10): static 3φ×100², laminar 3φ×200², laminar 23φ×200² (0.92M points,
53 parameters). Start at truth × 1.5. Reports cold and warm wall time, iterations,
χ²_red, max |fit − truth|/σ over physical parameters, the time of one structured data
pass (the floor), peak RSS, and the scipy/xpcsfit time ratio measured in the same run.

    python -m benchmarks.fit_vs_scipy [--quick] [--no-scipy]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import environment, median_time, peak_rss_gb, print_table, timed, write_json

LAMINAR = np.array([3.0e3, 0.6, 20.0, 2.0e-4, 0.4, 1.0e-5, 3.0])
NAMES = ("D0", "alpha", "D_offset", "gamma_dot_t0", "beta", "gamma_dot_t_offset", "phi0")
CASES = [
    {"name": "static 3φ×100²", "mode": "static_isotropic", "n_phi": 3, "n_t": 100},
    {"name": "laminar 3φ×200²", "mode": "laminar_flow", "n_phi": 3, "n_t": 200},
    {"name": "laminar 23φ×200²", "mode": "laminar_flow", "n_phi": 23, "n_t": 200},
]


def make_data(case, seed):
    import xpcsfit

    phi = np.linspace(-170.0, 170.0, case["n_phi"])
    truth = LAMINAR if case["mode"] == "laminar_flow" else LAMINAR[:3]
    contrast = 0.3 + 0.1 * np.cos(np.deg2rad(phi)) ** 2
    offset = 1.0 + 0.01 * np.sin(np.deg2rad(phi))
    data, info = xpcsfit.simulate(truth, contrast, offset, n_t=case["n_t"], dt=0.1, phi=phi,
                                  q=0.005, L=2e6, noise=0.01, seed=seed, mode=case["mode"])
    return data, info


def config_for(case):
    truth = LAMINAR if case["mode"] == "laminar_flow" else LAMINAR[:3]
    # per-angle "individual" (2·n_phi + p parameters): the same model scipy fits here.
    return {"analysis_mode": case["mode"],
            "initial_parameters": {"parameter_names": list(NAMES[: truth.shape[0]]),
                                   "values": [float(v) * 1.5 for v in truth]},
            "optimization": {"nlsq": {"anti_degeneracy": {"per_angle_mode": "individual"}}}}


def pass_time(data, mode, x):
    from xpcsfit.fitting.strategies import chunk_pairs_for
    from xpcsfit.fitting.structured import make_grid_problem, normal_equations

    problem = make_grid_problem(data.g2, data.sigma, data.t, data.phi, data.q, data.L,
                                mode=mode, convention="paper",
                                chunk_pairs=chunk_pairs_for(data.n_phi, None))
    fn = jax.jit(normal_equations)
    jax.block_until_ready(fn(jnp.asarray(x), problem))
    _, seconds, _ = median_time(lambda: jax.block_until_ready(fn(jnp.asarray(x), problem)), 5)
    return seconds


def scipy_fit(data, mode, x0, lower, upper):
    import scipy.optimize

    from xpcsfit.fitting.residuals import masked_residual

    def residual(x):
        return masked_residual(x, data, mode=mode)

    fun = jax.jit(residual)
    jac = jax.jit(jax.jacfwd(residual))
    jax.block_until_ready(jac(jnp.asarray(x0)))  # compile outside the timing
    res, seconds = timed(lambda: scipy.optimize.least_squares(
        lambda x: np.asarray(fun(jnp.asarray(x))), x0,
        jac=lambda x: np.asarray(jac(jnp.asarray(x))), bounds=(lower, upper), method="trf",
        x_scale="jac", ftol=1e-8, xtol=1e-8, gtol=1e-8))
    return res, seconds


def run(quick=False, with_scipy=True):
    import xpcsfit

    rows = []
    for case in CASES[:2] if quick else CASES:
        data, info = make_data(case, seed=0)
        cfg = config_for(case)
        cold, cold_s = timed(lambda data=data, cfg=cfg: xpcsfit.fit(data, cfg))
        warm_data = [make_data(case, seed=s)[0] for s in (1, 2, 3)]
        it = iter(warm_data)
        warm, warm_s, _ = median_time(lambda cfg=cfg, it=it: xpcsfit.fit(next(it), cfg), 3)
        truth = info["physical"]
        names = NAMES[: truth.shape[0]]
        z = max(abs(cold.value(k) - v) / cold.uncertainty(k)
                for k, v in zip(names, truth, strict=True))
        floor = pass_time(data, case["mode"], cold.parameters)
        row = {"case": case["name"], "points": data.n_points, "params": cold.parameters.size,
               "cold_s": cold_s, "warm_s": warm_s, "iterations": cold.iterations,
               "nfev": cold.nfev, "chi2_red": cold.reduced_chi_squared, "max_z": z,
               "pass_s": floor, "overhead": warm_s / (cold.nfev * floor),
               "points_per_s": data.n_points / warm_s, "quality": cold.quality_flag,
               "peak_rss_gb": peak_rss_gb()}
        if with_scipy and not (quick and data.n_points > 200_000):
            space = xpcsfit.ParameterSpace.create(case["mode"], data.n_phi)
            ref, ref_s = scipy_fit(data, case["mode"], cold.initial_parameters,
                                   space.full_lower(), space.full_upper())
            row.update({"scipy_s": ref_s, "scipy_nfev": int(ref.nfev),
                        "scipy_chi2_red": 2 * ref.cost / (data.n_points - ref.x.size),
                        "ratio": ref_s / warm_s,
                        "max_rel_diff": float(np.max(np.abs(ref.x - cold.parameters)
                                                     / np.maximum(np.abs(ref.x), 1e-12)))})
        rows.append(row)
        print(f"done: {case['name']}", flush=True)
    columns = [("case", "case", "s"), ("points", "points", ","), ("params", "p", "d"),
               ("cold_s", "cold s", ".2f"), ("warm_s", "warm s", ".3f"),
               ("nfev", "passes", "d"), ("pass_s", "pass s", ".4f"), ("overhead", "overhead", ".2f"),
               ("points_per_s", "points/s", ".3g"), ("chi2_red", "χ²_red", ".4f"),
               ("max_z", "max|Δ|/σ", ".2f"), ("scipy_s", "scipy s", ".2f"),
               ("scipy_nfev", "scipy nfev", "d"), ("ratio", "scipy/xpcsfit", ".1f"),
               ("max_rel_diff", "max rel Δx", ".1e"), ("peak_rss_gb", "peak RSS GiB", ".2f")]
    table = print_table(rows, columns)
    path = write_json("fit_vs_scipy", {"environment": environment(), "cases": rows,
                                       "table": table})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 0.92M-point case")
    parser.add_argument("--no-scipy", action="store_true", help="skip the scipy reference")
    args = parser.parse_args()
    run(quick=args.quick, with_scipy=not args.no_scipy)
