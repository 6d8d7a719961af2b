"""NPZ cache of the matrices read from an HDF5 file, keyed by file, q and frames.

Plain arrays only (loaded with allow_pickle=False). A cache entry records the source
file's size and modification time and is ignored once the file changes; an unreadable
entry (truncated, empty, wrong content) is ignored too, and a cache that cannot be
written is reported with a warning: the cache never stops a fit.

Cache names come from `cache_filename_template` by plain substitution of the fields
{stem}, {wavevector_q}, {start_frame}, {end_frame} (homodyne's `${name}` spelling too), with
an optional format spec such as {wavevector_q:.6g}; no attribute or index lookups. The
name must be a single file name: the cache stays inside `cache_file_path`.
"""

from __future__ import annotations

import logging
import re
import string
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import write_file_atomic
from .hdf5 import RawC2

logger = logging.getLogger(__name__)

TEMPLATE_KEY = "experimental_data.cache_filename_template"
FIELDS = ("stem", "wavevector_q", "start_frame", "end_frame")
_SPEC = re.compile(r"[<>=^+\- #0-9,._a-zA-Z%]*")
_DOLLAR = re.compile(r"\$\{(\w+)\}")
MAX_NAME_BYTES = 255
_UNREADABLE = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile,
               zlib.error)


def check_template(template: str) -> str:
    """`template` in `str.format` spelling (`${name}` → `{name}`), after checking that it
    uses only plain fields of `FIELDS` with simple format specs; else ValueError."""
    if not isinstance(template, str) or not template:
        raise ValueError(f"{TEMPLATE_KEY}: expected a non-empty string, got {template!r}")
    text = _DOLLAR.sub(r"{\1}", template)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ValueError(f"{TEMPLATE_KEY}: {template!r} is not a valid template ({err})") from None
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in FIELDS or conversion is not None or not _SPEC.fullmatch(spec or ""):
            raise ValueError(f"{TEMPLATE_KEY}: {template!r}: only plain fields "
                             f"{{{'}, {'.join(FIELDS)}}} (with a simple format such as "
                             f"{{wavevector_q:.6g}}) are allowed, got {{{field}"
                             f"{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}")
    return text


def cache_file(cache_dir: Path, template: str, source: Path, q: float | None,
               start_frame: int, end_frame: int) -> Path:
    """The cache path from `template` (fields: stem, wavevector_q, start_frame, end_frame);
    ValueError unless the name is one plain file name inside `cache_dir`."""
    text = check_template(template)
    try:
        name = text.format(stem=source.stem, wavevector_q=q if q is not None else 0.0,
                           start_frame=start_frame, end_frame=end_frame)
    except (KeyError, ValueError, IndexError) as err:
        raise ValueError(f"{TEMPLATE_KEY}: {template!r} cannot be filled ({err}); fields: "
                         f"{', '.join(FIELDS)}") from None
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or Path(name).is_absolute()):
        raise ValueError(f"{TEMPLATE_KEY}: {template!r} gives {name!r}, not a single file name "
                         f"inside the cache folder")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ValueError(f"{TEMPLATE_KEY}: {template!r} gives a name of more than "
                         f"{MAX_NAME_BYTES} bytes")
    return cache_dir / name


def _stamp(source: Path) -> np.ndarray:
    st = source.stat()
    return np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)


def _raw_from(z) -> RawC2:
    raw = RawC2(c2=z["c2"], phi=z["phi"], q=float(z["q"]), q_available=z["q_available"],
                layout=str(z["layout"]), keys=tuple(str(k) for k in z["keys"]),
                n_frames=int(z["n_frames"]))
    n_phi = raw.phi.shape[0] if raw.phi.ndim == 1 else -1
    if (raw.c2.ndim != 3 or raw.c2.shape[0] != n_phi or raw.c2.shape[1] != raw.c2.shape[2]
            or len(raw.keys) != n_phi or raw.c2.dtype.kind != "f"):
        raise ValueError(f"inconsistent content: c2 {raw.c2.shape} {raw.c2.dtype}, "
                         f"phi {raw.phi.shape}, {len(raw.keys)} keys")
    return raw


def read_cache(path: Path, source: Path) -> RawC2 | None:
    """The cached matrices, or None when absent, unreadable or stale."""
    try:
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            if str(z["source"]) != str(source.resolve()) or not np.array_equal(
                    z["stamp"], _stamp(source)):
                logger.info("cache %s is stale; reading %s again", path, source)
                return None
            return _raw_from(z)
    except _UNREADABLE as err:
        logger.warning("cache %s unreadable (%s); reading %s again", path, err, source)
        return None


def write_cache(path: Path, raw: RawC2, source: Path, compress: bool = True) -> bool:
    """Store `raw` with the source's identity (path, size, mtime), atomically (a reader
    never sees a half-written entry). Returns False, with a warning, when it cannot."""
    save = np.savez_compressed if compress else np.savez

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            save(f, c2=raw.c2, phi=raw.phi, q=np.float64(raw.q), q_available=raw.q_available,
                 layout=np.str_(raw.layout), keys=np.array(raw.keys, dtype=str),
                 n_frames=np.int64(raw.n_frames), source=np.str_(str(source.resolve())),
                 stamp=_stamp(source))

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(path, write)
    except OSError as err:
        warnings.warn(f"experimental_data.cache_file_path: cache {path} not written "
                      f"({err.strerror or err}); continuing without it", stacklevel=2)
        return False
    logger.info("cached %s", path)
    return True
