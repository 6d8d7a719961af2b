"""The `xpcsfit` command: simulate → fit end to end, and one-line errors with exit code 2."""

import io
import json
import logging
import re

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("yaml")

import xpcsfit  # noqa: E402
from xpcsfit.cli import Progress, main  # noqa: E402


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--output-dir", str(out), "--mode", "static_isotropic",
                 "--n-phi", "3", "--n-t", "30"]) == 0
    return out


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("xpcsfit: error: "), err
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_simulate_then_fit_end_to_end(simulated, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["fit", "--config", str(simulated / "config.yaml"), "--output-dir", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "q = 0.005 Å⁻¹" in stdout and "reduced χ²" in stdout
    for name in ("parameters.json", "fit_report.json", "fitted_data.npz", "parameters.png",
                 "c2_cuts.png", "c2_heatmap_phi00.png", "c2_heatmap_phi02.png",
                 "c2_heatmaps.pdf"):
        assert (out / name).stat().st_size > 0, name
    pdf = (out / "c2_heatmaps.pdf").read_bytes()  # one page per angle
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 3
    truth = json.loads((simulated / "truth.json").read_text())
    p = json.loads((out / "parameters.json").read_text())
    for name, value in truth["physical"].items():
        fit = p["parameters"][name]
        assert abs(fit["value"] - value) < 3 * fit["uncertainty"], (name, fit, value)
    for a, c in enumerate(truth["contrast"]):
        fit = p["parameters"][f"contrast[{a}]"]
        assert abs(fit["value"] - c) < 3 * fit["uncertainty"], (a, fit, c)
    assert p["quality_flag"] == "good"
    with np.load(out / "fitted_data.npz", allow_pickle=False) as z:
        # The files store one triangle, so c2 is exactly symmetric: the fit holds t1 < t2.
        assert np.array_equal(z["c2_exp"], np.swapaxes(z["c2_exp"], 1, 2))
        fitted = np.triu(~np.eye(z["t"].size, dtype=bool))
        chi2 = float(np.sum((z["residuals"] / z["sigma"])[:, fitted] ** 2))
        assert p["n_points"] == z["phi"].size * int(fitted.sum())
    assert chi2 == pytest.approx(p["chi_squared"], rel=1e-9)  # the files agree with the fit
    report = json.loads((out / "fit_report.json").read_text())
    assert report["result"]["chi_squared"] == p["chi_squared"]
    assert report["dataset"]["layout"] == "aps_u" and report["dataset"]["q"] == 0.005


def test_verbose_logs_and_quiet_prints_only_problems(simulated, tmp_path, capsys):
    cfg = str(simulated / "config.yaml")
    assert main(["fit", "--verbose", "--config", cfg, "--output-dir", str(tmp_path / "v"),
                 "--no-plots"]) == 0
    loud = capsys.readouterr()
    assert "reduced χ²" in loud.out
    assert re.search(r"xpcsfit: INFO: xpcsfit\.fitting\.api: plan: ", loud.err), loud.err
    assert main(["fit", "-q", "--config", cfg, "--output-dir", str(tmp_path / "q"),
                 "--no-plots"]) == 0
    quiet = capsys.readouterr()
    assert quiet.out == "" and "INFO" not in quiet.err
    assert (tmp_path / "q" / "parameters.json").stat().st_size > 0  # the results are written
    assert not logging.getLogger("xpcsfit").handlers  # the CLI leaves no handler behind
    assert main(["config", "-q"]) == 0 and "analysis_mode:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["fit", "-q", "-v", "--config", cfg])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def _edit(src, dst, old, new):
    text = src.read_text()
    assert old in text
    dst.write_text(text.replace(old, new))
    return dst


@pytest.mark.parametrize("old, new, pattern", [
    ("wavevector_q: 0.005", "wavevector_q: 0.05", r"wavevector_q: 0\.05 .* not within 10%"),
    ("end_frame: -1", "end_frame: 31", r"end_frame: 31 exceeds the 30 frames"),
    ("start_frame: 1 ", "start_frame: 0 ", r"start_frame: expected an integer >= 1, got 0"),
    ("dt: 0.1", "dt: [0.1", r"invalid YAML at line \d+"),
    ('data_file_name: "simulated_xpcs.h5"', 'data_file_name: "nope.h5"',
     r"data_file_name: file not found: .*nope\.h5"),
])
def test_config_errors_are_one_line(simulated, capsys, old, new, pattern):
    cfg = _edit(simulated / "config.yaml", simulated / "edited.yaml", old, new)
    line = _error(capsys, ["fit", "--config", str(cfg)])
    assert re.search(pattern, line), line


def test_unknown_keys_are_listed_before_an_error(simulated, capsys):
    cfg = _edit(simulated / "config.yaml", simulated / "unknown.yaml", "physics:\n",
                "physics:\n  frobnicate: 1\n")
    _edit(cfg, cfg, "wavevector_q: 0.005", "wavevector_q: 0.5")
    assert main(["fit", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "xpcsfit: warning: config keys not used by xpcsfit (ignored): physics.frobnicate"
    assert err[1].startswith("xpcsfit: error: analyzer_parameters.scattering.wavevector_q: 0.5")


def test_missing_hdf5_key_is_named(simulated, tmp_path, capsys):
    import shutil

    import h5py

    data = tmp_path / "broken.h5"
    shutil.copy(simulated / "simulated_xpcs.h5", data)
    with h5py.File(data, "a") as f:
        del f["xpcs/twotime/processed_bins"]
    line = _error(capsys, ["fit", "--config", str(simulated / "config.yaml"), "--data", str(data)])
    assert "xpcs/twotime/processed_bins: missing" in line


def test_config_command_and_version(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    assert main(["config", "--mode", "static_isotropic", "--output", str(path)]) == 0
    assert "analysis_mode: static_isotropic" in path.read_text()
    assert "--force" in _error(capsys, ["config", "--output", str(path)])
    assert main(["config", "--mode", "laminar_flow"]) == 0
    assert "analysis_mode: laminar_flow" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and xpcsfit.__version__ in capsys.readouterr().out


def test_progress_lines(monkeypatch):
    clock = iter(np.arange(0.0, 100.0, 0.5))
    monkeypatch.setattr("xpcsfit.cli_progress.time.perf_counter", lambda: float(next(clock)))
    stream = io.StringIO()
    progress = Progress(stream, max_iterations=10, delay=1.0, interval=0.0)  # t0 = 0
    for k in range(4):  # called at t = 0.5, 1.0, 1.5, 2.0 s
        progress(k, 100.0 / (k + 1), 0.1, 1.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # nothing before 1 s
    assert re.match(r"\s+iteration\s+3\s+cost 2\.500000e\+01\s+step 1\.00e-01\s+2\.0 s\s+"
                    r"ETA ≤ 3 s", lines[-1]), lines[-1]  # 6 iterations left at 0.5 s each
    for k in (0, 1, 0, 1):  # two more solves (a defense layer's block solves) restart at 0
        progress(k, 10.0, 0.1, 1.0)
    lines = stream.getvalue().splitlines()
    assert "solve 2 iteration    1" in lines[-3] and "solve 3 iteration    1" in lines[-1]
