"""Read two-time correlation matrices from APS HDF5 files (old APS and APS-U layouts).

Old APS: `xpcs/dqlist` and `xpcs/dphilist` hold q and φ of each matrix in
`exchange/C2T_all/*` (keys in sorted order). APS-U: `xpcs/qmap/dynamic_v_list_dim0` (q) and
`…_dim1` (φ) span a grid; the matrices `xpcs/twotime/correlation_map/*` (sorted keys) belong
to the bins `xpcs/twotime/processed_bins` (1-based: q index = (bin−1) // n_φ, φ index =
(bin−1) % n_φ). Matrices are stored as one triangle: c2 = half + halfᵀ, diagonal halved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._optional import require
from .paths import existing_file

logger = logging.getLogger(__name__)

Q_REL_TOL = 0.10
"""A file q farther than 10% from the configured q is an error, not a silent match."""
APS_U, APS_OLD = "aps_u", "aps_old"
_U_Q, _U_PHI = "xpcs/qmap/dynamic_v_list_dim0", "xpcs/qmap/dynamic_v_list_dim1"
_U_MAPS, _U_BINS = "xpcs/twotime/correlation_map", "xpcs/twotime/processed_bins"
_OLD_Q, _OLD_PHI, _OLD_MAPS = "xpcs/dqlist", "xpcs/dphilist", "exchange/C2T_all"


@dataclasses.dataclass(frozen=True)
class RawC2:
    """Full c2 matrices of one q: `c2` (n_phi, n_t, n_t) in file order, `phi` [deg],
    `q` [Å⁻¹] (the file's value), `q_available` (every q of the file), `layout`,
    `keys` (dataset names), `n_frames` (frames stored in the file)."""

    c2: np.ndarray
    phi: np.ndarray
    q: float
    q_available: np.ndarray
    layout: str
    keys: tuple[str, ...]
    n_frames: int


def full_from_triangle(half: np.ndarray) -> np.ndarray:
    """The symmetric matrix stored as one triangle: half + halfᵀ with the diagonal halved."""
    full = half + half.T
    idx = np.arange(half.shape[0])
    full[idx, idx] *= 0.5
    return full


def _natural(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key))


@contextlib.contextmanager
def _reading(file: Path, path: str) -> Iterator[None]:
    """Turn what h5py raises while reading `path` (corrupt headers, missing filters, wrong
    object kinds) into one ValueError naming the HDF5 path and the file."""
    try:
        yield
    except MemoryError:
        raise ValueError(f"{path}: too large to load from {file}") from None
    except (OSError, RuntimeError, KeyError, TypeError, AttributeError) as err:
        reason = " ".join(str(err).strip("'\"").split()) or type(err).__name__
        raise ValueError(f"{path}: cannot be read from {file} ({reason})") from None


def _node(f, path: str, file: Path, layout: str, *, group: bool):
    """The group or dataset at `path`, else ValueError (missing, other kind, unreadable)."""
    h5py = require("h5py")
    where = path if f.name == "/" else f"{f.name}/{path}"
    with _reading(file, where):
        obj = f[path] if path in f else None
    if obj is None:
        raise ValueError(f"{where}: missing in {file}" + (f" ({layout} layout)" if layout else ""))
    want = h5py.Group if group else h5py.Dataset
    if not isinstance(obj, want):
        raise ValueError(f"{where}: expected an HDF5 {'group' if group else 'dataset'} in "
                         f"{file}, found a {type(obj).__name__.lower()}")
    return obj


def _require_real(ds, path: str, file: Path) -> None:
    kind = ds.dtype.kind
    if kind == "c":
        raise ValueError(f"{path}: complex values in {file} are not accepted (dtype {ds.dtype})")
    if kind not in "fiu":
        raise ValueError(f"{path}: expected real numbers in {file}, got dtype {ds.dtype}")


def _finite(values: np.ndarray, path: str, file: Path) -> np.ndarray:
    bad = ~np.isfinite(values)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: {int(bad.sum())} non-finite value(s) in {file}, first at "
                         f"index {first} = {values[first]!r}")
    return values


def _dataset(f, path: str, file: Path, layout: str) -> np.ndarray:
    ds = _node(f, path, file, layout, group=False)
    _require_real(ds, path, file)
    with _reading(file, path):
        values = np.asarray(ds[()], dtype=np.float64).ravel()
    return _finite(values, path, file)


def _map_keys(f, path: str, file: Path, layout: str) -> list[str]:
    group = _node(f, path, file, layout, group=True)
    with _reading(file, path):
        keys = sorted(group.keys(), key=_natural)
    if not keys:
        raise ValueError(f"{path}: no correlation matrices in {file}")
    return keys


def detect_layout(f, file: Path) -> str:
    """"aps_u" or "aps_old" from the groups present, else ValueError listing what is missing."""
    with _reading(file, "/"):
        if "xpcs/twotime" in f or "xpcs/qmap" in f:
            return APS_U
        if "exchange" in f or "xpcs/dqlist" in f:
            return APS_OLD
        top = sorted(f.keys())
    raise ValueError(f"{file}: not an APS two-time file: neither {_U_MAPS} (APS-U) nor "
                     f"{_OLD_MAPS} (old APS) found; top-level keys {top}")


def select_q(q_values: np.ndarray, q_target: float | None, file: Path) -> float:
    """The file q nearest to `q_target`; with no target, the only q of the file."""
    choices = np.unique(q_values)
    if q_target is None:
        if choices.size != 1:
            raise ValueError(f"analyzer_parameters.scattering.wavevector_q: required, {file} "
                             f"holds {choices.size} q values {choices.tolist()}")
        return float(choices[0])
    best = float(choices[np.argmin(np.abs(choices - q_target))])
    if abs(best - q_target) > Q_REL_TOL * q_target:
        raise ValueError(f"analyzer_parameters.scattering.wavevector_q: {q_target!r} Å⁻¹ is not "
                         f"within {Q_REL_TOL:.0%} of any q in {file}; available "
                         f"{[float(f'{q:.6g}') for q in choices]}")
    return best


def frame_window(n_frames: int, start_frame: int, end_frame: int, file: Path) -> slice:
    """0-based slice of 1-based inclusive frames (end −1 = last); ValueError if outside."""
    end = n_frames if end_frame == -1 else end_frame
    if not 1 <= start_frame <= n_frames:
        raise ValueError(f"analyzer_parameters.start_frame: {start_frame!r} is outside the "
                         f"{n_frames} frames of {file} (1..{n_frames})")
    if end > n_frames:
        raise ValueError(f"analyzer_parameters.end_frame: {end_frame!r} exceeds the {n_frames} "
                         f"frames of {file} (use -1 for the last frame)")
    if end - start_frame + 1 < 2:
        raise ValueError(f"analyzer_parameters.end_frame: frames {start_frame}..{end} leave "
                         f"fewer than 2 time points")
    return slice(start_frame - 1, end)


def _share_from_triangle(ds, window: slice, rows: slice, where: str, file: Path) -> np.ndarray:
    """Rows `rows` (of the window) of half + halfᵀ (diagonal halved), reading only the
    row block and the column block of the stored triangle."""
    first = window.start + rows.start
    block = slice(first, window.start + rows.stop)
    with _reading(file, where):
        top = np.asarray(ds[block, window], dtype=np.float64)  # half[rows, :]
        left = np.asarray(ds[window, block], dtype=np.float64).T  # half[:, rows]ᵀ
    _finite(top, where, file)
    _finite(left, where, file)
    i = np.arange(rows.start, rows.stop)[:, None]  # global row of each share row
    j = np.arange(top.shape[1])[None, :]
    below = np.any(top[j < i]) or np.any(left[j > i])  # entries of the lower triangle
    above = np.any(top[j > i]) or np.any(left[j < i])
    if below and above:
        raise ValueError(f"{where}: expected one stored triangle (half matrix), "
                         f"found values on both sides of the diagonal")
    share = top + left
    r = np.arange(rows.stop - rows.start)
    share[r, rows.start + r] *= 0.5
    return share


def _read_matrices(group, keys: list[str], frames_of, file: Path, rows_of=None
                   ) -> tuple[np.ndarray, int]:
    """Full matrices of `keys` restricted to the frame window `frames_of(n_frames)`; with
    `rows_of(n_t) -> slice`, only those rows (of the window) of each matrix."""
    n_frames = None
    out = []
    for key in keys:
        where = f"{group.name}/{key}"
        ds = _node(group, key, file, "", group=False)
        _require_real(ds, where, file)
        if ds.ndim != 2 or ds.shape[0] != ds.shape[1]:
            raise ValueError(f"{where}: expected a square matrix, got shape {ds.shape}")
        if n_frames is None:
            n_frames = ds.shape[0]
            window = frames_of(n_frames)
        elif ds.shape[0] != n_frames:
            raise ValueError(f"{where}: shape {ds.shape} differs from the "
                             f"{n_frames}×{n_frames} of the other matrices")
        if rows_of is not None:
            out.append(_share_from_triangle(ds, window, rows_of(window.stop - window.start),
                                            where, file))
            continue
        with _reading(file, where):
            half = np.asarray(ds[window, window], dtype=np.float64)
        _finite(half, where, file)
        if np.any(np.tril(half, -1)) and np.any(np.triu(half, 1)):
            raise ValueError(f"{where}: expected one stored triangle (half matrix), "
                             f"found values on both sides of the diagonal")
        out.append(full_from_triangle(half))
    return np.stack(out), int(n_frames)


def _index_aps_u(f, file: Path) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """q and φ of each matrix (keys sorted) of an APS-U file, via the processed bins."""
    q_grid = _dataset(f, _U_Q, file, APS_U)
    phi_grid = _dataset(f, _U_PHI, file, APS_U)
    keys = _map_keys(f, _U_MAPS, file, APS_U)
    bins = _dataset(f, _U_BINS, file, APS_U)
    if np.any(bins != np.round(bins)):
        raise ValueError(f"{_U_BINS}: bins must be integers in {file}, got {bins.tolist()}")
    bins = bins.astype(np.int64) - 1
    if bins.size != len(keys):
        raise ValueError(f"{_U_BINS}: {bins.size} bins for {len(keys)} matrices in {_U_MAPS} "
                         f"of {file}")
    n_phi = phi_grid.size
    if np.any(bins < 0) or np.any(bins >= q_grid.size * n_phi):
        raise ValueError(f"{_U_BINS}: bins must lie in 1..{q_grid.size * n_phi} "
                         f"(n_q × n_φ), got {(bins + 1).tolist()}")
    return q_grid[bins // n_phi], phi_grid[bins % n_phi], keys, _U_MAPS


def _index_aps_old(f, file: Path) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """q and φ of each matrix (keys sorted) of an old APS file."""
    q_list = _dataset(f, _OLD_Q, file, APS_OLD)
    phi_list = _dataset(f, _OLD_PHI, file, APS_OLD)
    keys = _map_keys(f, _OLD_MAPS, file, APS_OLD)
    if not q_list.size == phi_list.size == len(keys):
        raise ValueError(f"{_OLD_Q}/{_OLD_PHI}: {q_list.size} q and {phi_list.size} φ values for "
                         f"{len(keys)} matrices in {_OLD_MAPS} of {file}")
    return q_list, phi_list, keys, _OLD_MAPS


def read_hdf5(path: str | Path, *, q: float | None, start_frame: int = 1, end_frame: int = -1,
              field: str = "experimental_data.data_file_name", rows_of=None
              ) -> tuple[RawC2, slice]:
    """Read the full matrices at the file q nearest to `q` [Å⁻¹], frames
    `start_frame..end_frame` (1-based, inclusive, −1 = last), only that block from disk.
    With `rows_of(n_t) -> slice` (a multi-process job's share), `c2` holds only those t1
    rows of each matrix (n_phi, rows, n_t), and only they are read.

    Raises ValueError naming the file (as `field` when it is missing) and the HDF5 path of
    anything missing, of the wrong kind, unreadable or non-finite; the wrong q; the bad frame.
    """
    h5py = require("h5py")
    path = Path(path)
    existing_file(path, field)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 file ({err})") from None
    window: list[slice] = []

    def frames_of(n_frames: int) -> slice:
        window.append(frame_window(n_frames, start_frame, end_frame, path))
        return window[-1]

    with f:
        layout = detect_layout(f, path)
        index = _index_aps_u if layout == APS_U else _index_aps_old
        q_of, phi_of, keys, group = index(f, path)
        q_sel = select_q(q_of, q, path)
        chosen = np.flatnonzero(q_of == q_sel)
        maps = _node(f, group, path, layout, group=True)
        c2, n_frames = _read_matrices(maps, [keys[i] for i in chosen], frames_of, path,
                                      rows_of)
    raw = RawC2(c2=c2, phi=phi_of[chosen], q=q_sel, q_available=np.unique(q_of), layout=layout,
                keys=tuple(keys[i] for i in chosen), n_frames=n_frames)
    logger.info("read %d matrices at q = %g Å⁻¹ from %s (%s layout)", raw.c2.shape[0], raw.q,
                path, raw.layout)
    return raw, window[0]


def file_q_values(path: str | Path, field: str = "experimental_data.data_file_name"
                  ) -> np.ndarray:
    """Every q [Å⁻¹] of the file's correlation matrices, ascending (no matrix is read)."""
    h5py = require("h5py")
    path = Path(path)
    existing_file(path, field)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 file ({err})") from None
    with f:
        layout = detect_layout(f, path)
        q_of = (_index_aps_u if layout == APS_U else _index_aps_old)(f, path)[0]
    return np.unique(q_of)
