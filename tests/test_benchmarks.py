"""The benchmark harness: pass counts, results schema, suite registry, device choice.

No timing is asserted here: speed is measured by `python -m benchmarks`, never tested.
"""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package

from benchmarks.common import check_payload, markdown_table, read_results, write_json  # noqa: E402
from benchmarks.device import DeviceError, select_device  # noqa: E402
from benchmarks.environment import DEVICE_ENV  # noqa: E402
from benchmarks.passcost import pass_count, roofline_seconds  # noqa: E402
from benchmarks.registry import SuiteError, load_suite, run_suite  # noqa: E402

import xpcsfit  # noqa: E402


def test_pass_count_matches_hand_count_static():
    # 1 angle × 4 pairs, k = 5 rows: Gram 2·25 + 5, moment 10, residual/cost 6, rows 6
    # → 77 per point; per pair 19 (E and 3 tangents).
    count = pass_count(1, 4, "static_isotropic")
    assert count.flops == 4 * 77 + 4 * 19
    assert count.transcendentals == 4 * 2  # sqrt and exp per pair, none per point
    assert count.bytes == 8 * 2 * 4 + 2 * 8 * 4 * 4  # data + weights; E, ∂E×3 written+read


def test_pass_count_matches_hand_count_laminar():
    # 2 angles × 4 pairs, k = 9: 2·81 + 9 + 18 + 6 + 45 = 240 per point; 23 per pair.
    count = pass_count(2, 4, "laminar_flow")
    assert count.flops == 8 * 240 + 4 * 23
    assert count.transcendentals == 8 * 3 + 4 * 2
    assert count.bytes == 8 * 2 * 8 + 2 * 8 * 8 * 4


def test_pass_count_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        pass_count(1, 4, "turbulent")


def test_roofline_is_the_slower_bound():
    count = pass_count(2, 4, "laminar_flow")
    assert roofline_seconds(count, count.flops, 1e30) == pytest.approx(1.0)
    assert roofline_seconds(count, 1e30, count.bytes / 2) == pytest.approx(2.0)


@pytest.mark.parametrize("mode", ["static_isotropic", "laminar_flow"])
def test_structural_counts_agree_with_xla(mode):
    from benchmarks.floor import grid_problem, xla_counts

    physical = np.array([3e3, 0.6, 20.0, 2e-4, 0.4, 1e-5, 3.0])[: 3 if mode == "static_isotropic"
                                                                else 7]
    data, _ = xpcsfit.simulate(physical, 0.3, 1.0, n_t=32, dt=0.1, phi=np.linspace(-60, 60, 8),
                               q=0.005, L=2e6, mode=mode)
    problem = grid_problem(data, mode, chunk_pairs=256)
    xla = xla_counts(problem, 16 + physical.size)
    assert problem.upper  # simulated c2 is symmetric: the fit's t1 < t2 layout
    ours = pass_count(8, problem.g2.shape[1], mode, grid_pairs=32 * 32)  # pieces: whole grid
    if xla["flops_xla"] is None:
        pytest.skip("backend gives no cost analysis")
    # The structural count leaves out selects and broadcasts XLA also counts (≈ 70 FLOP per
    # grid pair in the shared pieces, measured): with 8 angles the totals agree within 10%
    # (4 angles and t1 < t2 only: 12 %, the per-pair part weighs more there).
    assert ours.flops == pytest.approx(xla["flops_xla"], rel=0.10)
    assert ours.transcendentals == pytest.approx(xla["transcendentals_xla"], rel=0.05)


def test_results_round_trip(tmp_path):
    cases = [{"case": "a", "points": 10, "warm_s": 0.5, "note": None}]
    payload = {"environment": {"jax": jax.__version__}, "cases": cases, "table": "| a |"}
    path = write_json("demo", payload, folder=tmp_path)
    doc = read_results("demo", tmp_path)
    assert path.name == "demo.json"
    assert doc["suite"] == "demo" and doc["schema_version"] >= 2
    assert doc["cases"] == cases and doc["environment"] == payload["environment"]
    assert (tmp_path / "demo.md").read_text() == "| a |\n"
    assert read_results("absent", tmp_path) is None


def test_results_folder_follows_environment(tmp_path, monkeypatch):
    from benchmarks.common import RESULTS_ENV, results_dir

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    write_json("demo", {"environment": {}, "cases": [], "table": ""})
    assert results_dir() == tmp_path and read_results("demo")["cases"] == []


def test_summary_table_comes_from_the_results(tmp_path):
    from benchmarks.report import summary

    env = {"backend": "cpu", "cpu": "Some CPU", "cpu_count": 2, "jax": "0.x",
           "date": "today", "devices": [{"kind": "cpu"}], "load_average": [3.0, 2.0, 1.0]}
    write_json("fit", {"environment": env, "table": "",
                       "cases": [{"case": "c", "points": 1234, "warm_s": 0.5}]}, folder=tmp_path)
    text = summary(folder=tmp_path)
    assert "Some CPU, 2 cores (cpu), jax 0.x, today, load average 3.0" in text
    assert "| c | 1,234 |" in text and "| 0.500 |" in text


def test_payload_check_names_missing_keys():
    with pytest.raises(ValueError, match="suite"):
        check_payload({"schema_version": 2, "environment": {}, "cases": [], "table": ""})
    with pytest.raises(ValueError, match="cases"):
        check_payload({"schema_version": 2, "suite": "s", "environment": {}, "cases": [1],
                       "table": ""})


def test_markdown_table_prints_missing_as_dash():
    text = markdown_table([{"a": 1.23456, "b": None}], [("a", "A", ".2f"), ("b", "B", "d")])
    assert text.splitlines() == ["| A | B |", "|---|---|", "| 1.23 | — |"]


@pytest.fixture
def suite_modules(tmp_path, monkeypatch):
    (tmp_path / "bench_no_quick.py").write_text("def run():\n    pass\n")
    (tmp_path / "bench_broken.py").write_text("raise RuntimeError('half-written')\n")
    (tmp_path / "bench_fails.py").write_text(
        "def run(quick=False):\n    raise ValueError('no data\\nsecond line')\n")
    (tmp_path / "bench_ok.py").write_text("CALLS = []\ndef run(quick=False):\n"
                                          "    CALLS.append(quick)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return {"none": "bench_does_not_exist", "no_quick": "bench_no_quick",
            "broken": "bench_broken", "fails": "bench_fails", "ok": "bench_ok",
            "no_run": "benchmarks.passcost"}


@pytest.mark.parametrize("name, message", [
    ("other", "unknown; choose from"),
    ("none", "does not exist"),
    ("no_quick", "does not take `quick`"),
    ("broken", "importing bench_broken failed: RuntimeError: half-written"),
    ("no_run", "has no run"),
])
def test_suite_registry_errors_are_clear(suite_modules, name, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(name, suite_modules)


def test_run_suite_reports_failures_in_one_line(suite_modules):
    import bench_ok

    assert run_suite("fails", True, suite_modules) == "suite 'fails': ValueError: no data"
    assert run_suite("ok", True, suite_modules) is None and bench_ok.CALLS == [True]


def test_device_gpu_without_gpu_is_one_clear_line(monkeypatch):
    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is present")
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    with pytest.raises(DeviceError) as info:
        select_device("gpu")
    assert "no GPU" in str(info.value) and "\n" not in str(info.value)


def test_device_cpu_sets_platform(monkeypatch):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    select_device("cpu")
    import os

    assert os.environ["JAX_PLATFORMS"] == "cpu" and os.environ[DEVICE_ENV] == "cpu"


def test_isolated_reuse_measures_an_identical_case_once(tmp_path, monkeypatch):
    """`reuse=True` returns an identical earlier call's dict (marked) without a new process;
    a different spec, or reuse off, starts one."""
    import os

    from benchmarks import isolate

    log = tmp_path / "calls.txt"
    (tmp_path / "bench_counted.py").write_text(
        "def case(spec):\n"
        f"    with open({str(log)!r}, 'a') as f:\n"
        "        f.write('x')\n"
        "    return {'n': spec['n']}\n")
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), root,
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr(isolate, "_MEASURED", {})
    first = isolate.isolated("bench_counted:case", {"n": 1}, reuse=True)
    again = isolate.isolated("bench_counted:case", {"n": 1}, reuse=True)
    other = isolate.isolated("bench_counted:case", {"n": 2}, reuse=True)
    fresh = isolate.isolated("bench_counted:case", {"n": 1})
    assert first == {"n": 1} and again == {"n": 1, "reused": True}
    assert other == {"n": 2} and fresh == {"n": 1}
    assert log.read_text() == "xxx"  # n=1, n=2, n=1 without reuse


def test_degeneracy_layer_rows_switch_on_one_layer_each():
    """Each per-layer row of the degeneracy suite turns on its own layer and no other
    (recovery and screening off), so its ratio to the plain fit is that layer's cost."""
    import warnings

    from benchmarks.degeneracy import LAYERS, TEMPLATE, _config
    from benchmarks.problems import LAMINAR

    def state(nlsq):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = xpcsfit.FitConfig.from_dict(_config(nlsq, LAMINAR))
        d = cfg.defense
        on = {"hierarchical": d.hierarchical.enable, "regularization": d.regularization.enable,
              "monitor": d.monitor.enable, "shear_weighting": d.shear_weighting.enable}
        layers = {k for k, v in on.items() if v and d.enable}
        if cfg.per_angle.mode == "fourier":
            layers.add("fourier")
        assert not cfg.recovery and not cfg.screening.enable
        return layers

    expected = {"plain (no layer)": set(), "L1 fourier": {"fourier"},
                "L2 hierarchical": {"hierarchical"}, "L3 CV regularisation": {"regularization"},
                "L4 gradient monitor (warn)": {"monitor"},
                "L5 shear weighting": {"shear_weighting"},
                "all layers (defended)": {"hierarchical", "regularization", "monitor",
                                          "shear_weighting"}}
    assert {name: state(nlsq) for name, nlsq in LAYERS.items()} == expected
    assert TEMPLATE.exists()



def test_compile_cache_is_on_only_inside_the_block(tmp_path):
    from benchmarks.common import compile_cache

    before = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs)
    with compile_cache(tmp_path / "c") as folder:
        assert jax.config.jax_compilation_cache_dir == str(folder)
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    assert (jax.config.jax_compilation_cache_dir,
            jax.config.jax_persistent_cache_min_compile_time_secs) == before
