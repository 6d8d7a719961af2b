"""Several q-bins of one file: the `--q` selection (all | LIST | MIN:MAX) and loading
each selected q as its own `XPCSData` (through `load_dataset`, so frames, φ ranges, the
cache and the diagonal correction are those of a single-q fit)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..data import XPCSData
from .dataset import load_dataset
from .hdf5 import file_q_values, select_q
from .yaml_config import LoadedConfig


@dataclasses.dataclass(frozen=True)
class QSelection:
    """A parsed `--q`: `kind` "all", "list" (`values`, each the nearest file q within 10 %)
    or "range" (`low`..`high` inclusive, [Å⁻¹])."""

    kind: str
    values: tuple[float, ...] = ()
    low: float = 0.0
    high: float = math.inf


def _number(text: str, spec: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field}: {spec!r}: {text.strip()!r} is not a number (expected "
                         f"all, a comma-separated list of q or MIN:MAX)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field}: {spec!r}: q must be finite and > 0, got {text.strip()!r}")
    return value


def parse_q_selection(spec: str, field: str = "--q") -> QSelection:
    """Parse "all", "0.005,0.0065" or "0.004:0.008" (q in Å⁻¹); ValueError naming `field`
    and the value otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{field}: empty selection {spec!r} (expected all, a "
                         f"comma-separated list of q or MIN:MAX)")
    text = spec.strip()
    if text.lower() == "all":
        return QSelection("all")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 2:
            raise ValueError(f"{field}: {spec!r}: a range is MIN:MAX with one colon")
        low, high = (_number(p, spec, field) for p in parts)
        if low > high:
            raise ValueError(f"{field}: {spec!r}: MIN {low!r} exceeds MAX {high!r}")
        return QSelection("range", low=low, high=high)
    values = tuple(_number(p, spec, field) for p in text.split(","))
    return QSelection("list", values=values)


def select_q_values(selection: QSelection, available: np.ndarray, file: Path,
                    field: str = "--q") -> list[float]:
    """The file q values (ascending, distinct) that `selection` picks from `available`."""
    available = np.unique(np.asarray(available, dtype=np.float64))
    if selection.kind == "all":
        chosen = available.tolist()
    elif selection.kind == "range":
        chosen = available[(available >= selection.low) & (available <= selection.high)].tolist()
        if not chosen:
            raise ValueError(f"{field}: no q of {file} lies in {selection.low:g}:"
                             f"{selection.high:g}; available "
                             f"{[float(f'{q:.6g}') for q in available]}")
    else:
        try:
            chosen = sorted({select_q(available, q, file) for q in selection.values})
        except ValueError as err:
            raise ValueError(f"{field}: {err}") from None
    return [float(q) for q in chosen]


def q_configs(config: LoadedConfig, selection: QSelection | str,
              data_file: str | Path | None = None, data_field: str = "data_file",
              field: str = "--q") -> tuple[Path, str, list[tuple[float, LoadedConfig]]]:
    """(data file, the field naming it, [(q, `config` at that q)]) for every q-bin that
    `selection` picks (ascending q)."""
    if isinstance(selection, str):
        selection = parse_q_selection(selection, field)
    path = Path(data_file) if data_file is not None else config.data.data_file
    if path is None:
        raise ValueError("experimental_data.data_file_name: no data file in the config "
                         "(set it or pass --data FILE)")
    where = data_field if data_file is not None else "experimental_data.data_file_name"
    chosen = select_q_values(selection, file_q_values(path, where), path, field)
    return path, where, [(q, dataclasses.replace(config, data=dataclasses.replace(
        config.data, q=q))) for q in chosen]


def load_datasets(config: LoadedConfig, selection: QSelection | str,
                  data_file: str | Path | None = None, data_field: str = "data_file",
                  field: str = "--q") -> list[tuple[XPCSData, dict[str, Any]]]:
    """Load every q-bin that `selection` picks (ascending q), each as `load_dataset` would
    at that q: a list of (XPCSData, dataset description)."""
    path, where, bins = q_configs(config, selection, data_file, data_field, field)
    out = []
    for q, at_q in bins:
        data, info = load_dataset(at_q, path, data_field=where)
        info["q_requested"] = q
        out.append((data, info))
    return out
