"""One process of a multi-process job (tests/test_distributed.py and the `distributed`
benchmark run it through `xpcsfit.distributed.local.launch_local`): join the job, read this
process's rows of c2 from a memory-mapped .npy file, fit (twice with `--warm`), and write
what it saw to <out>/process_<id>.json.

    python benchmarks/distributed_worker.py DATA_DIR OUT_DIR CONFIG_JSON [--warm]

CONFIG_JSON is one config dict or a list of them (fitted in turn; `--warm` needs one).
DATA_DIR holds g2.npy (n_phi, n_t, n_t) and meta.json (t, phi, q, L, sigma: a number or
null for the estimate). With XPCSFIT_TEST_DIE=<id>, that process dies (os._exit) just
before the fit; with XPCSFIT_TEST_FAIL=<id>, it raises there (an error, as in user code);
with XPCSFIT_TEST_NAN=<a>,<i>,<j>, the process holding row i sets c2[a, i, j] to NaN.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.common import peak_rss_gb  # noqa: E402


def main(data_dir: str, out_dir: str, config_json: str, *flags: str) -> int:
    start = time.perf_counter()
    from xpcsfit.distributed import global_data, initialize, settings_from_env, share_rows

    runtime = initialize(settings_from_env(os.environ))
    joined = time.perf_counter() - start
    import numpy as np

    import xpcsfit

    meta = json.loads((Path(data_dir) / "meta.json").read_text())
    rss_start = peak_rss_gb()
    g2 = np.load(Path(data_dir) / "g2.npy", mmap_mode="r")
    rows = share_rows(len(meta["t"]))
    share = np.array(g2[:, rows, :])  # only this process's rows are read
    if os.environ.get("XPCSFIT_TEST_NAN"):
        a, i, j = (int(k) for k in os.environ["XPCSFIT_TEST_NAN"].split(","))
        if rows.start <= i < rows.stop:
            share[a, i - rows.start, j] = np.nan
    data = global_data(share, np.asarray(meta["t"]), np.asarray(meta["phi"]), q=meta["q"],
                       L=meta["L"], sigma=meta["sigma"])
    if os.environ.get("XPCSFIT_TEST_DIE") == str(runtime.settings.process_id):
        os._exit(9)
    if os.environ.get("XPCSFIT_TEST_FAIL") == str(runtime.settings.process_id):
        raise ValueError("XPCSFIT_TEST_FAIL: this process fails before the fit")
    configs = json.loads(config_json)
    fits = []
    for config in configs if isinstance(configs, list) else [configs]:
        t0 = time.perf_counter()
        result = xpcsfit.fit(data, config)
        fits.append({"parameters": np.asarray(result.parameters).tolist(),
                     "uncertainties": np.asarray(result.uncertainties).tolist(),
                     "strategy": result.device_info.get("strategy"),
                     "chi_squared": float(result.chi_squared), "quality": result.quality_flag,
                     "nfev": int(result.nfev), "seconds": time.perf_counter() - t0,
                     "n_devices": result.device_info.get("n_devices")})
    warm = None
    if "--warm" in flags:
        t0 = time.perf_counter()
        xpcsfit.fit(data, configs)
        warm = time.perf_counter() - t0
    report = {"process": runtime.settings.process_id, "rows": [rows.start, rows.stop],
              "share_bytes": int(share.nbytes), "rss_start_gb": rss_start,
              "rss_peak_gb": peak_rss_gb(), "join_s": joined, "cold_s": fits[0]["seconds"],
              "warm_s": warm,
              **{k: fits[0][k] for k in ("parameters", "uncertainties", "chi_squared", "quality",
                                         "nfev", "n_devices", "strategy")}, "fits": fits}
    Path(out_dir, f"process_{runtime.settings.process_id}.json").write_text(json.dumps(report))
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
