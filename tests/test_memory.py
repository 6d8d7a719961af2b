"""Memory estimate, RAM detection, memory fraction and the strategy decision tree."""

import os

import pytest

from xpcsfit.fitting import memory
from xpcsfit.fitting.memory import estimate_peak_memory_gb, memory_fraction, select_strategy


def test_peak_estimate_is_six_and_a_half_jacobians():
    n, p = 915_400, 53
    jacobian_gb = n * p * 8 / 1024**3
    assert estimate_peak_memory_gb(n, p) == pytest.approx(6.5 * jacobian_gb, rel=1e-15)
    assert sum(memory.PEAK_FACTORS.values()) == 6.5


def test_memory_fraction_sources_and_clamp(monkeypatch):
    monkeypatch.delenv("XPCSFIT_MEMORY_FRACTION", raising=False)
    monkeypatch.delenv("NLSQ_MEMORY_FRACTION", raising=False)
    assert memory_fraction() == 0.75
    monkeypatch.setenv("NLSQ_MEMORY_FRACTION", "0.5")
    assert memory_fraction() == 0.5
    monkeypatch.setenv("XPCSFIT_MEMORY_FRACTION", "0.95")
    assert memory_fraction() == 0.9  # clamped
    assert memory_fraction(0.01) == 0.1  # clamped, config wins over env
    monkeypatch.setenv("XPCSFIT_MEMORY_FRACTION", "lots")
    with pytest.raises(ValueError, match="XPCSFIT_MEMORY_FRACTION"):
        memory_fraction()


def test_ram_detection_falls_back(monkeypatch):
    ram, source = memory.total_ram_gb()
    assert ram > 0 and source in ("psutil", "sysconf", "default")
    import builtins

    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError("no psutil")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    ram2, source2 = memory.total_ram_gb()
    assert source2 == "sysconf" and ram2 == pytest.approx(
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    )

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert memory.total_ram_gb() == (16.0, "default")


@pytest.mark.parametrize(
    ("n_points", "n_params", "ram", "expected"),
    [
        (100_000, 53, 16.0, "standard"),  # small
        (2_000_000, 9, 16.0, "out_of_core"),  # fits, but ≥ 1M points
        (20_000_000, 53, 16.0, "out_of_core"),  # peak 51 GiB > 12 GiB; index 0.15 GiB fits
        (2_000_000_000, 53, 16.0, "hybrid_streaming"),  # index memory 14.9 GiB > 12 GiB
    ],
)
def test_decision_tree(n_points, n_params, ram, expected):
    strategy, info = select_strategy(n_points, n_params, memory_fraction_value=0.75, ram_gb=ram)
    assert strategy == expected
    assert info["threshold_gb"] == pytest.approx(12.0)
    assert info["peak_memory_gb"] == pytest.approx(estimate_peak_memory_gb(n_points, n_params))


def test_bad_sizes():
    with pytest.raises(ValueError, match="n_points"):
        estimate_peak_memory_gb(-1, 3)
