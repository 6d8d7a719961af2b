"""HDF5 loading: both APS layouts, q selection, frames, φ ranges, cache, diagonal correction.

Every file is built here with h5py from known full symmetric matrices, stored as upper
triangles the way APS does; the loader must give the originals back.
"""

import os

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from xpcsfit.io.cache import cache_file  # noqa: E402
from xpcsfit.io.dataset import in_phi_ranges, load_dataset, load_raw  # noqa: E402
from xpcsfit.io.hdf5 import read_hdf5  # noqa: E402
from xpcsfit.io.yaml_config import DataSettings, config_from_dict  # noqa: E402

Q = np.array([0.004, 0.0055])  # Å⁻¹
PHI = np.array([30.0, -45.0, 170.0])  # file order, deliberately unsorted
N_T = 12
DT = 0.05


def _matrices(seed=0):
    """Full symmetric c2 per (q, φ) with a distinct diagonal: (n_q, n_phi, n_t, n_t)."""
    rng = np.random.default_rng(seed)
    a = 1.0 + 0.3 * rng.random((Q.size, PHI.size, N_T, N_T))
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _write_aps_u(path, c2, drop=None, bins=None):
    bins = list(range(1, Q.size * PHI.size + 1)) if bins is None else bins
    with h5py.File(path, "w") as f:
        f["xpcs/qmap/dynamic_v_list_dim0"] = Q
        f["xpcs/qmap/dynamic_v_list_dim1"] = PHI
        for k, b in enumerate(bins):
            iq, ip = divmod(b - 1, PHI.size)
            f[f"xpcs/twotime/correlation_map/c2_{k + 1:05d}"] = np.triu(c2[iq, ip])
        f["xpcs/twotime/processed_bins"] = np.array(bins)
        if drop:
            del f[drop]


def _write_old(path, c2, drop=None):
    with h5py.File(path, "w") as f:
        f["xpcs/dqlist"] = np.repeat(Q, PHI.size)[None, :]
        f["xpcs/dphilist"] = np.tile(PHI, Q.size)[None, :]
        for k in range(Q.size * PHI.size):
            f[f"exchange/C2T_all/c2_{k + 1:05d}"] = np.triu(c2[k // PHI.size, k % PHI.size])
        if drop:
            del f[drop]


def _aps_u_file(tmp_path, seed=0):
    c2 = _matrices(seed)
    path = tmp_path / "u.h5"
    _write_aps_u(path, c2)
    return path, c2


def _basic_diagonal(c2):
    """Independent reference: diagonal = mean of c2[i, i+1] and c2[i−1, i] (ends: one)."""
    out = c2.copy()
    n = c2.shape[-1]
    for i in range(n):
        neighbours = [c2[..., i, i + 1]] if i + 1 < n else []
        neighbours += [c2[..., i - 1, i]] if i > 0 else []
        out[..., i, i] = np.mean(neighbours, axis=0)
    return out


def _settings(path, **kw):
    return DataSettings(data_file=path, q=kw.pop("q", 0.0053), dt=DT, **kw)


@pytest.mark.parametrize("writer", [_write_aps_u, _write_old])
def test_both_layouts_give_back_the_stored_matrices(tmp_path, writer):
    c2 = _matrices()
    path = tmp_path / "f.h5"
    writer(path, c2)
    raw, _ = read_hdf5(path, q=0.0053)  # nearest q: 0.0055 (index 1)
    assert raw.q == Q[1] and raw.layout == ("aps_u" if writer is _write_aps_u else "aps_old")
    np.testing.assert_array_equal(raw.phi, PHI)
    np.testing.assert_array_equal(raw.c2, c2[1])
    raw, window = read_hdf5(path, q=0.004, start_frame=3, end_frame=10)
    assert raw.q == Q[0] and window == slice(2, 10)
    np.testing.assert_array_equal(raw.c2, c2[0][:, 2:10, 2:10])


def test_aps_u_bins_map_to_q_and_phi(tmp_path):
    """Only some bins processed, keys in bin order: bin−1 → (q = //n_φ, φ = %n_φ)."""
    c2 = _matrices(1)
    path = tmp_path / "u.h5"
    _write_aps_u(path, c2, bins=[2, 4, 6])  # (q0, φ1), (q1, φ0), (q1, φ2)
    raw, _ = read_hdf5(path, q=0.0055)
    np.testing.assert_array_equal(raw.phi, PHI[[0, 2]])
    np.testing.assert_array_equal(raw.c2, c2[1][[0, 2]])
    raw, _ = read_hdf5(path, q=0.004)
    np.testing.assert_array_equal(raw.phi, PHI[[1]])


def test_dataset_is_sorted_timed_and_diagonal_corrected(tmp_path):
    path, c2 = _aps_u_file(tmp_path, 2)
    cfg = config_from_dict({
        "analysis_mode": "laminar_flow",
        "analyzer_parameters": {"dt": DT, "start_frame": 2, "end_frame": 9,
                                "scattering": {"wavevector_q": 0.0041},
                                "geometry": {"stator_rotor_gap": 1.5e6}},
        "experimental_data": {"data_folder_path": ".", "data_file_name": "u.h5"},
    }, base_dir=tmp_path)
    data, info = load_dataset(cfg)
    order = np.argsort(PHI)
    expected = _basic_diagonal(c2[0][:, 1:9, 1:9])[order]
    np.testing.assert_allclose(np.asarray(data.g2), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(data.t), DT * np.arange(8), rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(data.phi), PHI[order])
    assert float(data.q) == Q[0] and float(data.L) == 1.5e6
    assert info["layout"] == "aps_u" and info["end_frame"] == 9 and not info["from_cache"]


def test_phi_ranges_wrap_around():
    phi = np.array([-170.0, -5.0, 0.0, 90.0, 170.0, 355.0])
    np.testing.assert_array_equal(in_phi_ranges(phi, ((160.0, 200.0),)),
                                  [True, False, False, False, True, False])
    np.testing.assert_array_equal(in_phi_ranges(phi, ((350.0, 10.0),)),
                                  [False, True, True, False, False, True])
    np.testing.assert_array_equal(in_phi_ranges(phi, ((-10.0, 10.0), (80.0, 100.0))),
                                  [False, True, True, True, False, True])


def test_phi_filtering_selects_and_rejects(tmp_path):
    path, c2 = _aps_u_file(tmp_path, 3)
    raw, _ = load_raw(_settings(path, phi_ranges=((160.0, 200.0), (20.0, 40.0))))
    np.testing.assert_array_equal(raw.phi, PHI[[0, 2]])
    np.testing.assert_array_equal(raw.c2, c2[1][[0, 2]])
    with pytest.raises(ValueError, match=r"phi_filtering\.target_ranges"):
        load_raw(_settings(path, phi_ranges=((60.0, 80.0),)))
    raw, _ = load_raw(_settings(path, phi_ranges=((60.0, 80.0),), fallback_to_all_angles=True))
    assert raw.phi.size == PHI.size


def test_cache_is_used_and_invalidated(tmp_path):
    path, c2 = _aps_u_file(tmp_path, 4)
    settings = _settings(path, cache_dir=tmp_path / "cache", start_frame=2, end_frame=-1)
    first, info1 = load_raw(settings)
    second, info2 = load_raw(settings)
    assert not info1["from_cache"] and info2["from_cache"]
    assert cache_file(tmp_path / "cache", settings.cache_template, path, 0.0053, 2, -1).is_file()
    np.testing.assert_array_equal(second.c2, first.c2)
    np.testing.assert_array_equal(second.c2, c2[1][:, 1:, 1:])
    c2_new = _matrices(5)
    _write_aps_u(path, c2_new)
    os.utime(path, ns=(1, 1))  # a changed file must not be served from the cache
    third, info3 = load_raw(settings)
    assert not info3["from_cache"]
    np.testing.assert_array_equal(third.c2, c2_new[1][:, 1:, 1:])


@pytest.mark.parametrize("writer, key", [
    (_write_aps_u, "xpcs/twotime/processed_bins"),
    (_write_aps_u, "xpcs/qmap/dynamic_v_list_dim1"),
    (_write_old, "xpcs/dphilist"),
    (_write_old, "xpcs/dqlist"),
])
def test_missing_key_is_named(tmp_path, writer, key):
    path = tmp_path / "f.h5"
    writer(path, _matrices(), drop=key)
    with pytest.raises(ValueError, match=key):
        read_hdf5(path, q=0.004)


@pytest.mark.parametrize("kw, pattern", [
    ({"q": 0.02}, r"wavevector_q: 0\.02 .*available \[0\.004, 0\.0055\]"),
    ({"q": 0.004, "end_frame": 13}, r"end_frame: 13 exceeds the 12 frames"),
    ({"q": 0.004, "start_frame": 13}, r"start_frame: 13 is outside the 12 frames"),
    ({"q": 0.004, "start_frame": 5, "end_frame": 5}, r"fewer than 2 time points"),
])
def test_wrong_q_and_frames_are_named(tmp_path, kw, pattern):
    path, _ = _aps_u_file(tmp_path)
    with pytest.raises(ValueError, match=pattern):
        read_hdf5(path, **kw)


def test_not_a_half_matrix_or_not_aps(tmp_path):
    path = tmp_path / "full.h5"
    with h5py.File(path, "w") as f:
        f["xpcs/dqlist"] = [[0.004]]
        f["xpcs/dphilist"] = [[0.0]]
        f["exchange/C2T_all/c2_00001"] = _matrices()[0, 0]  # full, not a triangle
    with pytest.raises(ValueError, match=r"C2T_all/c2_00001: expected one stored triangle"):
        read_hdf5(path, q=0.004)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["entry/data"] = [1.0]
    with pytest.raises(ValueError, match=r"not an APS two-time file.*\['entry'\]"):
        read_hdf5(other, q=0.004)
    with pytest.raises(ValueError, match="file not found"):
        read_hdf5(tmp_path / "absent.h5", q=0.004)
