"""`load_dataset` for a multi-process job: each process reads only its t1 rows of the
matrices from the HDF5 file and the job's `XPCSData` is built from the shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..data import DEFAULT_GAP, XPCSData
from ..distributed.shares import diagonal_corrected_share, global_data, share_rows
from .dataset import load_raw
from .yaml_config import LoadedConfig


def load_share(config: LoadedConfig, data_file: str | Path | None = None,
               data_field: str = "data_file") -> tuple[XPCSData, dict[str, Any]]:
    """The data `config` describes, as `load_dataset` gives them, with this process holding
    only its rows (`share_rows`); call it in every process of the job. The NPZ cache is
    not used (each process reads its rows from the file). Raises ValueError as
    `load_dataset` does, and when the frames do not split evenly over the devices."""
    if config.data.dt is None:
        raise ValueError("analyzer_parameters.dt: required to build the time grid t = k·dt")
    rows: list[slice] = []

    def rows_of(n_t: int) -> slice:
        rows.append(share_rows(n_t))
        return rows[-1]

    raw, info = load_raw(config.data, data_file, data_field, rows_of)
    n_t = raw.c2.shape[2]
    dt = float(config.data.dt)
    gap = config.fit.geometry.L
    data = global_data(diagonal_corrected_share(raw.c2, rows[0]), np.arange(n_t) * dt,
                       raw.phi, q=raw.q, L=DEFAULT_GAP if gap is None else gap, dt=dt)
    info.update(n_phi=data.n_phi, n_t=data.n_t, n_points=data.n_points, dt=dt,
                L=float(data.L), diagonal_correction="basic", processes=jax.process_count(),
                rows=[rows[0].start, rows[0].stop], from_cache=False)
    return data, info
