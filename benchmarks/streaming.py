"""HYBRID_STREAMING on memory-mapped data: 23 angles, 10M (and optionally 100M) points.

The c2 data are generated angle by angle into a memory-mapped .npy file (never whole in
memory), wrapped with `XPCSData.from_host` and fitted with the strategy forced to
hybrid_streaming. Reports wall time, the phases' iterations, peak RSS and the data size.

    python -m benchmarks.streaming [--points 10e6 100e6] [--warmup 100]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import environment, print_table, write_json


def one_case(points: float, warmup: int, folder: str) -> dict:
    import numpy as np

    import xpcsfit
    from benchmarks.common import peak_rss_gb, timed
    from benchmarks.fit_vs_scipy import LAMINAR, config_for

    n_phi = 23
    n_t = int(round(0.5 + math.sqrt(points / n_phi)))
    phi = np.linspace(-170.0, 170.0, n_phi)
    t = np.arange(n_t) * (20.0 / n_t)
    path = Path(folder) / f"c2_{n_t}.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n_phi, n_t, n_t))
    rng = np.random.default_rng(0)
    for a in range(n_phi):  # one angle in memory at a time
        clean = xpcsfit.g2_model(LAMINAR, 0.3 + 0.1 * np.cos(np.deg2rad(phi[a])) ** 2, 1.0, t,
                                 phi[a : a + 1], q=0.005, L=2e6)[0]
        noise = np.triu(rng.normal(0.0, 0.01, (n_t, n_t)), 1)
        mm[a] = np.asarray(clean) + noise + noise.T
    mm.flush()
    del mm
    data = xpcsfit.XPCSData.from_host(np.load(path, mmap_mode="r"), t, phi, q=0.005, L=2e6,
                                      sigma=0.01)
    cfg = config_for({"mode": "laminar_flow"})
    cfg["optimization"]["nlsq"].update({"strategy": "hybrid_streaming", "hybrid_streaming": {
        "chunk_size": 50_000, "warmup_iterations": warmup, "gauss_newton_iterations": 50}})
    result, seconds = timed(lambda: xpcsfit.fit(data, cfg))
    info = result.device_info["streaming"]
    return {"points": data.n_points, "data_gb": path.stat().st_size / 1024**3,
            "seconds": seconds, "warmup_its": info["warmup"]["iterations"],
            "warmup_reason": info["warmup"]["reason"], "gn_nfev": info["gauss_newton"]["nfev"],
            "chunks": info["n_chunks"], "chi2_red": result.reduced_chi_squared,
            "quality": result.quality_flag, "peak_rss_gb": peak_rss_gb()}


def run(points, warmup):
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for p in points:
            out = subprocess.run([sys.executable, "-m", "benchmarks.streaming", "--one", str(p),
                                  "--warmup", str(warmup), "--folder", folder],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"done: {p:.3g} points", flush=True)
    table = print_table(rows, [("points", "points", ","), ("data_gb", "data GiB", ".2f"),
                               ("chunks", "chunks", "d"), ("seconds", "wall s", ".1f"),
                               ("warmup_its", "warmup its", "d"), ("warmup_reason", "stop", "s"),
                               ("gn_nfev", "GN passes", "d"), ("chi2_red", "χ²_red", ".4f"),
                               ("quality", "quality", "s"), ("peak_rss_gb", "peak RSS GiB", ".2f")])
    print(f"wrote {write_json('streaming', {'environment': environment(), 'cases': rows, 'table': table})}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=float, nargs="+", default=[10e6])
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_case(args.one, args.warmup, args.folder)))
    else:
        run(args.points, args.warmup)
