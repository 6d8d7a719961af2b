"""Hostile files through the io layer: YAML and JSON configs, HDF5 files, the NPZ cache,
output folders. Each case asserts a ValueError naming the file and the field (config key
or HDF5 path), or, for the cache, that a bad entry is ignored and read again."""

import os
import shutil
import time

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("yaml")

from hostile_cases import ALIAS_BOMB  # noqa: E402
from xpcsfit.io.cache import TEMPLATE_KEY, cache_file, read_cache, write_cache  # noqa: E402
from xpcsfit.io.dataset import load_raw  # noqa: E402
from xpcsfit.io.hdf5 import RawC2, read_hdf5  # noqa: E402
from xpcsfit.io.paths import prepare_output_dir  # noqa: E402
from xpcsfit.io.yaml_config import DataSettings, read_config_file  # noqa: E402

N_T = 8
PHI = np.array([0.0, 60.0])
MAPS = "xpcs/twotime/correlation_map"


def _aps_u(path, c2=None, q=(0.005,), edit=None):
    """A small APS-U file (one q, two angles); `edit(f)` damages it before closing."""
    c2 = np.ones((len(PHI), N_T, N_T)) * 1.2 if c2 is None else c2
    with h5py.File(path, "w") as f:
        f["xpcs/qmap/dynamic_v_list_dim0"] = np.asarray(q, dtype=float)
        f["xpcs/qmap/dynamic_v_list_dim1"] = PHI
        for a in range(len(PHI)):
            f[f"{MAPS}/c2_{a + 1:05d}"] = np.triu(c2[a])
        f["xpcs/twotime/processed_bins"] = np.arange(1, len(PHI) + 1)
        if edit is not None:
            edit(f)
    return path


def _error(call, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ YAML / JSON configs

def _config(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_alias_bomb_is_refused_fast(tmp_path):
    path = _config(tmp_path, ALIAS_BOMB)
    assert path.stat().st_size < 800  # 9¹⁰ ≈ 3.5e9 leaves once expanded
    start = time.perf_counter()
    message = _error(read_config_file, path)
    assert time.perf_counter() - start < 1.0
    assert message.startswith(f"config {path}: invalid YAML at line 2") and "aliases" in message


@pytest.mark.parametrize("text, line", [
    ("a: &loop [*loop]\n", 1),  # refers to itself
    ("base: &b {dt: 0.1}\nanalyzer_parameters:\n  <<: *b\n", 3),  # merge key = alias
    ("x: 1\ny: *nowhere\n", 2),  # undefined alias
])
def test_aliases_are_refused(tmp_path, text, line):
    path = _config(tmp_path, text)
    message = _error(read_config_file, path)
    assert message.startswith(f"config {path}: invalid YAML at line {line}")


def test_yaml_tags_run_no_code(tmp_path):
    marker = tmp_path / "ran"
    text = f"x: !!python/object/apply:os.system ['touch {marker}']\n"
    message = _error(read_config_file, _config(tmp_path, text))
    assert "invalid YAML at line 1" in message and not marker.exists()


def test_duplicate_keys_are_refused(tmp_path):
    path = _config(tmp_path, "analyzer_parameters:\n  dt: 0.1\n  dt: 1.0\n")
    assert "duplicate key 'dt'" in _error(read_config_file, path)


@pytest.mark.parametrize("name, text, expected", [
    ("config.yaml", b"dt: 0.1\n\xff\xfe\x00binary", "not UTF-8 text (byte 0xff at offset 8)"),
    ("config.h5", b"\x89HDF\r\n\x1a\n\x00\x00", "not UTF-8 text"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep.yaml", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("list.yaml", "- 1\n- 2\n", "expected a mapping of sections"),
    ("bad.json", '{"a": 1,}', "invalid JSON at line 1"),
    ("int_key.yaml", "1: 2\n", "key 1 is not a string"),
    ("null_key.yaml", "physics:\n  ~: paper\n", "key None in physics is not a string"),
])
def test_unreadable_configs_name_the_file(tmp_path, name, text, expected):
    path = _config(tmp_path, text, name)
    message = _error(read_config_file, path)
    assert message.startswith(f"config {path}: ") and expected in message


def test_huge_and_missing_configs(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(20_000_000)  # sparse: nothing written
    assert "too large for a config file" in _error(read_config_file, big)
    assert _error(read_config_file, tmp_path) == f"config: {tmp_path} is a folder, not a file"
    assert _error(read_config_file, tmp_path / "none.yaml").startswith("config: file not found")


# ------------------------------------------------------------------ HDF5 files

HDF5_CASES = {
    "correlation_map a dataset": (lambda f: (f.__delitem__(MAPS), f.__setitem__(MAPS, np.ones(3))),
                                  MAPS, "expected an HDF5 group"),
    "q list a group": (lambda f: (f.__delitem__("xpcs/qmap/dynamic_v_list_dim0"),
                                  f.create_group("xpcs/qmap/dynamic_v_list_dim0")),
                       "xpcs/qmap/dynamic_v_list_dim0", "expected an HDF5 dataset"),
    "q list strings": (lambda f: (f.__delitem__("xpcs/qmap/dynamic_v_list_dim0"),
                                  f.__setitem__("xpcs/qmap/dynamic_v_list_dim0", [b"0.005"])),
                       "xpcs/qmap/dynamic_v_list_dim0", "expected real numbers"),
    "q nan": (lambda f: f["xpcs/qmap/dynamic_v_list_dim0"].__setitem__(0, np.nan),
              "xpcs/qmap/dynamic_v_list_dim0", "non-finite"),
    "bins fractional": (lambda f: (f.__delitem__("xpcs/twotime/processed_bins"),
                                   f.__setitem__("xpcs/twotime/processed_bins", [1.0, 1.5])),
                        "xpcs/twotime/processed_bins", "must be integers"),
    "c2 complex": (lambda f: (f.__delitem__(f"{MAPS}/c2_00002"),
                              f.__setitem__(f"{MAPS}/c2_00002", np.ones((N_T, N_T)) * 1j)),
                   f"/{MAPS}/c2_00002", "complex values"),
    "c2 nan": (lambda f: f[f"{MAPS}/c2_00001"].__setitem__((0, 3), np.nan),
               f"/{MAPS}/c2_00001", "non-finite"),
    "c2 dangling link": (lambda f: (f.__delitem__(f"{MAPS}/c2_00002"),
                                    f.__setitem__(f"{MAPS}/c2_00002",
                                                  h5py.SoftLink("/nowhere"))),
                         f"/{MAPS}/c2_00002", "cannot be read"),
    "c2 external link": (lambda f: (f.__delitem__(f"{MAPS}/c2_00002"),
                                    f.__setitem__(f"{MAPS}/c2_00002",
                                                  h5py.ExternalLink("gone.h5", "/c2"))),
                         f"/{MAPS}/c2_00002", "cannot be read"),
    "c2 a group": (lambda f: (f.__delitem__(f"{MAPS}/c2_00002"),
                              f.create_group(f"{MAPS}/c2_00002")),
                   f"/{MAPS}/c2_00002", "expected an HDF5 dataset"),
}


@pytest.mark.parametrize("edit, where, expected", HDF5_CASES.values(), ids=HDF5_CASES.keys())
def test_damaged_hdf5_names_file_and_path(tmp_path, edit, where, expected):
    path = _aps_u(tmp_path / "data.h5", edit=edit)
    message = _error(read_hdf5, path, q=0.005)
    assert message.startswith(f"{where}: ") and str(path) in message and expected in message


def test_corrupted_object_header(tmp_path):
    path = _aps_u(tmp_path / "data.h5")
    with h5py.File(path, "r") as f:
        addr = h5py.h5o.get_info(f[f"{MAPS}/c2_00001"].id).addr
    with path.open("r+b") as f:
        f.seek(addr)
        f.write(b"\xff" * 16)  # the object header's version and flags
    message = _error(read_hdf5, path, q=0.005)
    assert message.startswith(f"/{MAPS}/c2_00001: cannot be read from {path} (")


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file\n", None])
def test_not_hdf5(tmp_path, content):
    path = tmp_path / "data.h5"
    if content is None:  # a truncated real file
        _aps_u(path)
        path.write_bytes(path.read_bytes()[:1500])
    else:
        path.write_bytes(content)
    message = _error(read_hdf5, path, q=0.005)
    assert message.startswith(f"{path}: ")


def test_data_path_is_a_folder_or_missing(tmp_path):
    assert _error(read_hdf5, tmp_path, q=0.005) == (
        f"experimental_data.data_file_name: {tmp_path} is a folder, not a file")
    settings = DataSettings(data_file=tmp_path / "config_file.h5", q=0.005, dt=0.1)
    message = _error(load_raw, settings, tmp_path / ("x" * 300), "--data")
    assert message.startswith(f"--data: {tmp_path / ('x' * 300)}: File name too long")


# ------------------------------------------------------------------ cache

@pytest.mark.parametrize("template", [
    "../../escaped.npz", "/tmp/absolute.npz", "sub/dir.npz", "{stem.__class__}.npz",
    "{stem[0]}.npz", "{0}.npz", "{}.npz", "{stem!r}.npz", "{wavevector_q:{stem}}.npz",
    "{unknown}.npz", "{stem", "x" * 300, "${stem.__class__}.npz",
])
def test_cache_names_stay_plain_and_inside(tmp_path, template):
    message = _error(cache_file, tmp_path, template, tmp_path / "data.h5", 0.005, 1, -1)
    assert message.startswith(f"{TEMPLATE_KEY}: ")


def test_cache_templates_accepted(tmp_path):
    source = tmp_path / "scan_01.h5"
    dollar = cache_file(tmp_path, "${stem}_q${wavevector_q}_${start_frame}.npz", source,
                        0.005, 1, -1)
    braces = cache_file(tmp_path, "{stem}_q{wavevector_q:.3g}_{end_frame}.npz", source,
                        0.005, 1, -1)
    assert dollar == tmp_path / "scan_01_q0.005_1.npz"
    assert braces == tmp_path / "scan_01_q0.005_-1.npz"
    assert _error(cache_file, tmp_path, "{stem}", tmp_path / "...h5", 0.005, 1, -1).startswith(
        TEMPLATE_KEY)  # stem ".." would leave the folder


def _raw():
    return RawC2(c2=np.ones((2, N_T, N_T)), phi=PHI, q=0.005, q_available=np.array([0.005]),
                 layout="aps_u", keys=("c2_00001", "c2_00002"), n_frames=N_T)


class _Trap:
    """Pickling this would run code at load time."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _bad_cache(kind, path, source):
    write_cache(path, _raw(), source)
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(256))
    elif kind == "pickled":
        with path.open("wb") as f:
            np.savez(f, c2=np.array([_Trap(path.with_name("ran"))], dtype=object))
    elif kind == "wrong shapes":
        z = dict(np.load(path, allow_pickle=False))
        z["c2"] = np.ones(5)
        with path.open("wb") as f:
            np.savez(f, **z)


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "pickled", "wrong shapes"])
def test_bad_cache_is_read_again(tmp_path, kind, caplog):
    source = _aps_u(tmp_path / "data.h5")
    settings = DataSettings(data_file=source, q=0.005, dt=0.1, cache_dir=tmp_path / "cache")
    path = cache_file(settings.cache_dir, settings.cache_template, source, 0.005, 1, -1)
    path.parent.mkdir()
    _bad_cache(kind, path, source)
    if kind == "pickled":  # the trap is live: unpickling this entry would run code
        shutil.copy(path, tmp_path / "copy.npz")
        with np.load(tmp_path / "copy.npz", allow_pickle=True) as z:
            z["c2"]
        assert path.with_name("ran").exists()
        path.with_name("ran").unlink()
    assert read_cache(path, source) is None and "unreadable" in caplog.text
    assert not path.with_name("ran").exists()  # nothing unpickled
    raw, info = load_raw(settings)
    assert not info["from_cache"] and raw.c2.shape == (2, N_T, N_T)
    assert read_cache(path, source) is not None  # written again, whole
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file


def test_unwritable_cache_only_warns(tmp_path):
    source = _aps_u(tmp_path / "data.h5")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    settings = DataSettings(data_file=source, q=0.005, dt=0.1, cache_dir=blocker)
    with pytest.warns(UserWarning, match="experimental_data.cache_file_path: cache .* not "
                                         "written"):
        raw, _ = load_raw(settings)
    assert raw.c2.shape == (2, N_T, N_T)
    assert blocker.read_text().startswith("a file")  # untouched


# ------------------------------------------------------------------ output folders

def test_output_folder_problems(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    assert _error(prepare_output_dir, a_file, "--output-dir") == (
        f"--output-dir: {a_file} exists and is not a folder")
    assert _error(prepare_output_dir, a_file / "sub", "--output-dir").startswith(
        f"--output-dir: cannot create {a_file / 'sub'}: ")
    assert "File name too long" in _error(prepare_output_dir, tmp_path / ("x" * 300), "out")
    if os.path.isdir("/proc/self"):  # not writable, even for root
        assert _error(prepare_output_dir, "/proc/self", "out").startswith(
            "out: cannot write into /proc/self")
    assert a_file.read_text() == "keep"
    assert prepare_output_dir(tmp_path / "new" / "deeper", "out") is True
    assert prepare_output_dir(tmp_path / "new" / "deeper", "out") is False
    assert list((tmp_path / "new" / "deeper").iterdir()) == []  # the probe is gone
