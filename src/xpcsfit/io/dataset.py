"""From a config (and an HDF5 file) to `XPCSData`: q, frames, φ ranges, cache, time grid,
diagonal correction."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..data import XPCSData
from .cache import cache_file, read_cache, write_cache
from .hdf5 import RawC2, frame_window, read_hdf5
from .paths import existing_file
from .yaml_config import DataSettings, LoadedConfig

logger = logging.getLogger(__name__)


def in_phi_ranges(phi: np.ndarray, ranges: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Mask of angles [deg] inside any (min, max) range, modulo 360° (so [160, 200] holds
    −170 and [350, 10] holds 0). A range of width ≥ 360° holds every angle."""
    phi = np.asarray(phi, dtype=np.float64)
    keep = np.zeros(phi.shape, dtype=bool)
    for lo, hi in ranges:
        width = hi - lo if hi >= lo else (hi - lo) % 360.0
        if width >= 360.0:
            return np.ones(phi.shape, dtype=bool)
        keep |= np.mod(phi - lo, 360.0) <= width + 1e-9
    return keep


def _filter_phi(raw: RawC2, settings: DataSettings, key: str) -> RawC2:
    if settings.phi_ranges is None:
        return raw
    keep = in_phi_ranges(raw.phi, settings.phi_ranges)
    if not keep.any():
        if settings.fallback_to_all_angles:
            logger.warning("no angle within %s; using all angles", settings.phi_ranges)
            return raw
        raise ValueError(f"{key}: no angle of the file lies in {list(settings.phi_ranges)}; "
                         f"angles are {np.round(raw.phi, 3).tolist()}")
    return dataclasses.replace(raw, c2=raw.c2[keep], phi=raw.phi[keep],
                               keys=tuple(k for k, m in zip(raw.keys, keep, strict=True) if m))


def load_raw(settings: DataSettings, data_file: str | Path | None = None,
             data_field: str = "data_file", rows_of=None) -> tuple[RawC2, dict[str, Any]]:
    """The matrices selected by `settings` (file, q, frames, φ ranges), via the NPZ cache
    when `settings.cache_dir` is set. `data_file` overrides the config's file (errors about
    it name `data_field`, e.g. the CLI's "--data"). With `rows_of(n_t) -> slice`, only
    those t1 rows are read (a multi-process job's share; the cache is not used)."""
    field = data_field if data_file is not None else "experimental_data.data_file_name"
    path = Path(data_file) if data_file is not None else settings.data_file
    if path is None:
        raise ValueError("experimental_data.data_file_name: no data file in the config "
                         "(set it or pass --data FILE)")
    existing_file(path, field)
    cached, cpath = None, None
    if settings.cache_dir is not None and rows_of is None:
        cpath = cache_file(settings.cache_dir, settings.cache_template, path, settings.q,
                           settings.start_frame, settings.end_frame)
        cached = read_cache(cpath, path)
    if cached is not None:
        raw = cached
        frame_window(raw.n_frames, settings.start_frame, settings.end_frame, path)
    else:
        raw, _ = read_hdf5(path, q=settings.q, start_frame=settings.start_frame,
                           end_frame=settings.end_frame, field=field, rows_of=rows_of)
        if cpath is not None:
            write_cache(cpath, raw, path, settings.cache_compression)
    ranges_key = "phi_filtering.target_ranges"
    raw = _filter_phi(raw, settings, ranges_key)
    info = {"file": str(path), "layout": raw.layout, "q": raw.q,
            "q_requested": settings.q, "q_available": raw.q_available.tolist(),
            "phi": raw.phi.tolist(), "keys": list(raw.keys), "n_frames_file": raw.n_frames,
            "start_frame": settings.start_frame,
            "end_frame": settings.end_frame if settings.end_frame != -1 else raw.n_frames,
            "from_cache": cached is not None}
    return raw, info


def homodyne_dict(raw: RawC2, dt: float | None) -> dict[str, Any]:
    """homodyne's data dict (phi_angles_list, c2_exp, t1, t2, wavevector_q_list) with
    t = k·dt [s], k = 0..n_t−1."""
    if dt is None:
        raise ValueError("analyzer_parameters.dt: required to build the time grid t = k·dt")
    t = np.arange(raw.c2.shape[1]) * float(dt)
    return {"phi_angles_list": raw.phi.copy(), "c2_exp": raw.c2, "t1": t, "t2": t.copy(),
            "wavevector_q_list": np.array([raw.q])}


def load_dataset(config: LoadedConfig, data_file: str | Path | None = None,
                 data_field: str = "data_file") -> tuple[XPCSData, dict[str, Any]]:
    """Load and validate the data a config describes: `XPCSData` (angles ascending, the
    basic diagonal correction applied) and a dict describing the dataset. `data_file`
    overrides the config's file; errors about it name `data_field`."""
    raw, info = load_raw(config.data, data_file, data_field)
    data = XPCSData.from_homodyne_dict(homodyne_dict(raw, config.data.dt), config.raw)
    info.update(n_phi=data.n_phi, n_t=data.n_t, n_points=data.n_points, dt=float(data.dt),
                L=float(data.L), diagonal_correction="basic")
    return data.diagonal_corrected(), info
