"""Many q-bins (issue 19): `--q` selection, `fit_many` / `xpcsfit fit --q` against
separate fits, bad input before any compilation."""

import csv
import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("yaml")

import xpcsfit  # noqa: E402
from xpcsfit.cli import main  # noqa: E402
from xpcsfit.io import load_config, load_dataset  # noqa: E402
from xpcsfit.io.hdf5 import file_q_values  # noqa: E402
from xpcsfit.io.many import load_datasets, parse_q_selection, select_q_values  # noqa: E402
from xpcsfit.io.simulated import q_bins  # noqa: E402


@pytest.mark.parametrize("spec, part", [
    ("", "empty"), ("   ", "empty"), ("abc", "'abc' is not a number"),
    ("0.005,x", "'x' is not a number"), ("1:2:3", "one colon"), ("0.01:0.005", "exceeds"),
    ("-0.005", "> 0"), ("nan", "finite"), ("0.005:inf", "finite"), (":0.01", "'' is not"),
])
def test_bad_q_strings_name_the_value(spec, part):
    with pytest.raises(ValueError) as err:
        parse_q_selection(spec)
    assert str(err.value).startswith("--q: ") and part in str(err.value)
    if spec.strip():
        assert repr(spec) in str(err.value)


def test_q_selection_kinds():
    avail = np.array([0.005, 0.0065, 0.008, 0.0095, 0.011])
    assert select_q_values(parse_q_selection("ALL"), avail, "f") == avail.tolist()
    assert select_q_values(parse_q_selection("0.0066, 0.0049,0.0051"), avail, "f") == [
        0.005, 0.0065]  # nearest file q, each once, ascending
    assert select_q_values(parse_q_selection("0.006:0.0095"), avail, "f") == [
        0.0065, 0.008, 0.0095]  # inclusive at both ends
    with pytest.raises(ValueError, match=r"--q: no q of f lies in 0.02:0.03"):
        select_q_values(parse_q_selection("0.02:0.03"), avail, "f")
    with pytest.raises(ValueError, match=r"--q: .*0.02.* is not within 10%"):
        select_q_values(parse_q_selection("0.005,0.02"), avail, "f")


def test_fit_many_bad_input():
    with pytest.raises(ValueError, match=r"datasets: empty list"):
        xpcsfit.fit_many([], {})
    with pytest.raises(ValueError, match=r"datasets\[1\]: expected XPCSData, got dict"):
        d, _ = xpcsfit.simulate([1e3, 0.5, 10.0], 0.4, 1.0, n_t=10, dt=0.1, phi=[0.0],
                                q=0.005, L=2e6, mode="static_isotropic")
        xpcsfit.fit_many([d, {}], {})
    with pytest.raises(ValueError, match=r"datasets: expected a list of XPCSData"):
        xpcsfit.fit_many(d, {})


def test_cli_bad_q_is_a_user_error(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--output-dir", str(sim), "--mode", "static_isotropic",
                 "--n-phi", "2", "--n-t", "12", "--n-q", "3"]) == 0
    code = main(["fit", "--config", str(sim / "config.yaml"), "--output-dir",
                 str(tmp_path / "r"), "--q", "0.005;0.008"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("xpcsfit: error: --q: '0.005;0.008'"), err
    code = main(["fit", "--config", str(sim / "config.yaml"), "--output-dir",
                 str(tmp_path / "r"), "--q", "0.0051", "--joint"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "--joint: needs at least 2 q-bins" in err[-1], err


def test_five_q_file_batch_equals_separate_fits(tmp_path, capsys):
    """A 5-q APS-U file (the simulator writes it): one summary row per q; each q's
    parameters equal a separate single-q fit of that q (same data, same config with
    wavevector_q = that q) to 1e-8 relative; the q figure exists."""
    sim = tmp_path / "sim"
    assert main(["simulate", "--output-dir", str(sim), "--n-phi", "3", "--n-t", "30",
                 "--n-q", "5"]) == 0
    expected_q = q_bins(0.005, 5)
    assert np.allclose(file_q_values(sim / "simulated_xpcs.h5"), expected_q, rtol=1e-12)
    out = tmp_path / "res"
    code = main(["fit", "--config", str(sim / "config.yaml"), "--output-dir", str(out),
                 "--q", "all"])
    assert code in (0, 3)
    capsys.readouterr()
    with open(out / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["q"]) for r in rows] == pytest.approx(expected_q, rel=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_q"] == 5 and len(summary["rows"]) == 5
    assert (out / "parameters_vs_q.png").stat().st_size > 10_000
    assert (out / "manifest.json").is_file()
    loaded = load_config(sim / "config.yaml")
    for row in summary["rows"]:
        q = row["q"]
        at_q = dataclasses.replace(loaded, data=dataclasses.replace(loaded.data, q=q))
        data, _ = load_dataset(at_q)
        cfg = dataclasses.replace(loaded.fit, geometry=dataclasses.replace(
            loaded.fit.geometry, q=q))
        alone = xpcsfit.fit(data, cfg)
        written = json.loads((out / row["folder"] / "parameters.json").read_text())
        assert np.allclose(written["values"], alone.parameters, rtol=1e-8, atol=0), q
        for name, value in alone.physical().items():
            assert row[name] == pytest.approx(value, rel=1e-8)
            assert row[f"{name}_se"] == pytest.approx(alone.uncertainty(name), rel=1e-8)
        assert row["reduced_chi2"] == pytest.approx(alone.reduced_chi_squared, rel=1e-8)
        assert row["quality"] == alone.quality_flag


def test_load_datasets_returns_each_q(tmp_path):
    sim = tmp_path / "sim"
    assert main(["simulate", "--output-dir", str(sim), "--mode", "static_isotropic",
                 "--n-phi", "2", "--n-t", "12", "--n-q", "4"]) == 0
    loaded = load_config(sim / "config.yaml")
    bins = load_datasets(loaded, "0.0064:0.0096")
    assert [float(d.q) for d, _ in bins] == pytest.approx([0.0065, 0.008, 0.0095])
    single, _ = load_dataset(dataclasses.replace(
        loaded, data=dataclasses.replace(loaded.data, q=0.008)))
    np.testing.assert_array_equal(np.asarray(bins[1][0].g2), np.asarray(single.g2))
