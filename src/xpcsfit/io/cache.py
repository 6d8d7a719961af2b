"""NPZ cache of the matrices read from an HDF5 file, keyed by file, q and frames.

Plain arrays only (loaded with allow_pickle=False). A cache entry records the source
file's size and modification time and is ignored once the file changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .hdf5 import RawC2

logger = logging.getLogger(__name__)


def cache_file(cache_dir: Path, template: str, source: Path, q: float | None,
               start_frame: int, end_frame: int) -> Path:
    """The cache path from `template` (fields: stem, wavevector_q, start_frame, end_frame)."""
    try:
        name = template.format(stem=source.stem, wavevector_q=q if q is not None else 0.0,
                               start_frame=start_frame, end_frame=end_frame)
    except (KeyError, ValueError, IndexError) as err:
        raise ValueError(f"experimental_data.cache_filename_template: {template!r} cannot be "
                         f"filled ({err}); fields: stem, wavevector_q, start_frame, end_frame"
                         ) from None
    return cache_dir / name


def _stamp(source: Path) -> np.ndarray:
    st = source.stat()
    return np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)


def read_cache(path: Path, source: Path) -> RawC2 | None:
    """The cached matrices, or None when absent, unreadable or stale."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["source"]) != str(source.resolve()) or not np.array_equal(
                    z["stamp"], _stamp(source)):
                logger.info("cache %s is stale; reading %s again", path, source)
                return None
            return RawC2(c2=z["c2"], phi=z["phi"], q=float(z["q"]),
                         q_available=z["q_available"], layout=str(z["layout"]),
                         keys=tuple(str(k) for k in z["keys"]), n_frames=int(z["n_frames"]))
    except (OSError, KeyError, ValueError) as err:
        logger.warning("cache %s unreadable (%s); reading %s again", path, err, source)
        return None


def write_cache(path: Path, raw: RawC2, source: Path, compress: bool = True) -> None:
    """Store `raw` with the source's identity (path, size, mtime)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compress else np.savez
    tmp = path.with_name(path.name + ".tmp.npz")
    save(tmp, c2=raw.c2, phi=raw.phi, q=np.float64(raw.q), q_available=raw.q_available,
         layout=np.str_(raw.layout), keys=np.array(raw.keys, dtype=str),
         n_frames=np.int64(raw.n_frames), source=np.str_(str(source.resolve())),
         stamp=_stamp(source))
    tmp.replace(path)
    logger.info("cached %s", path)
