"""Read a homodyne-layout YAML (or JSON) config file: the fit settings (`FitConfig`) and
the data settings (file, q, frames, φ ranges, cache) of DESIGN §7.

The file is turned into a plain dict and handed to `FitConfig.from_dict`, which validates
the fit keys; this module validates only the data keys. Relative paths in the file are
relative to the directory of the config file.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..fitting.config import FitConfig
from ._optional import require
from .cache import TEMPLATE_KEY, check_template
from .paths import existing_file

# Data keys read here (the rest of experimental_data / phi_filtering is reported unused).
_DATA_KEYS = {"data_folder_path", "data_file_name", "cache_file_path",
              "cache_filename_template", "cache_compression", "phi_filtering",
              "dt", "geometry", "sample_detector_distance"}
_DATA_INFO_KEYS = {"file_format", "data_type", "exchange_key"}  # descriptive, accepted
_PHI_KEYS = {"enabled", "target_ranges", "fallback_to_all_angles"}
DEFAULT_CACHE_TEMPLATE = "{stem}_q{wavevector_q:.6g}_frames_{start_frame}_{end_frame}.npz"


MAX_CONFIG_BYTES = 10_000_000
"""A config is small text; a larger file (e.g. an HDF5 file given as --config) is refused."""


def _safe_loader(yaml):
    """PyYAML's SafeLoader (no tags that run code) that also refuses aliases (`*name`,
    including merge keys `<<: *name`) and duplicate keys. Aliases let a few hundred bytes
    expand exponentially (an "alias bomb") or refer to themselves; a config needs neither."""

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*{event.anchor}) are not supported; write the "
                    f"value out in full", event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str | int | float | bool) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r}", key_node.start_mark)
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _parse_yaml(path: Path, text: str) -> Any:
    yaml = require("yaml")
    try:
        return yaml.load(text, Loader=_safe_loader(yaml))  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"config {path}: invalid YAML{where}: {problem}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML (.yaml/.yml) or JSON (.json) config file into a dict.

    Raises ValueError naming the file (and the line and column of a YAML syntax error):
    also for a file that is not UTF-8 text, larger than 10 MB, nested too deeply, or a YAML
    file with aliases or duplicate keys.
    """
    path = existing_file(path, "config")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"config {path}: {size:,} bytes is too large for a config file "
                             f"(limit {MAX_CONFIG_BYTES:,})")
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"config {path}: cannot read: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"config {path}: not UTF-8 text (byte 0x{data[err.start]:02x} at "
                         f"offset {err.start}); is it a config file?") from None
    try:
        if path.suffix.lower() == ".json":
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"config {path}: invalid JSON at line {err.lineno}, column "
                                 f"{err.colno}: {err.msg}") from None
        else:
            raw = _parse_yaml(path, text)
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"config {path}: expected a mapping of sections at the top "
                             f"level, got a {type(raw).__name__}")
        _string_keys(path, raw, "")
    except RecursionError:
        raise ValueError(f"config {path}: nested too deeply to be a config") from None
    return dict(raw)


def _string_keys(path: Path, node: Any, where: str) -> None:
    """Every mapping key is a string (YAML also allows numbers, null, dates as keys)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ValueError(f"config {path}: key {key!r} {f'in {where} ' if where else ''}"
                                 f"is not a string")
            _string_keys(path, value, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _string_keys(path, item, f"{where}[{i}]")


def _section(cfg: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping, got {value!r}")
    return dict(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _phi_ranges(key: str, spec: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(spec, list | tuple) or not spec:
        raise ValueError(f"{key}: expected a non-empty list of {{min_angle, max_angle}}, got {spec!r}")
    out = []
    for i, item in enumerate(spec):
        if not isinstance(item, Mapping) or "min_angle" not in item or "max_angle" not in item:
            raise ValueError(f"{key}[{i}]: expected {{min_angle, max_angle}}, got {item!r}")
        try:
            lo, hi = float(item["min_angle"]), float(item["max_angle"])
        except (TypeError, ValueError):
            raise ValueError(f"{key}[{i}]: min_angle/max_angle must be numbers, got {item!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{key}[{i}]: angles must be finite, got {item!r}")
        out.append((lo, hi))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """Where the data are and which part to fit.

    `data_file`: the HDF5 file (None if the config names none); `q` [Å⁻¹]: target
    wavevector (the nearest in the file is used); `dt` [s]: frame time; `start_frame`,
    `end_frame`: 1-based inclusive frames (−1 = last); `phi_ranges`: ((min, max), …) in
    degrees, wrap-around, or None for all angles; `cache_dir`: NPZ cache directory or None.
    """

    data_file: Path | None = None
    q: float | None = None
    dt: float | None = None
    start_frame: int = 1
    end_frame: int = -1
    phi_ranges: tuple[tuple[float, float], ...] | None = None
    fallback_to_all_angles: bool = False
    cache_dir: Path | None = None
    cache_template: str = DEFAULT_CACHE_TEMPLATE
    cache_compression: bool = True

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], fit: FitConfig, base_dir: Path
                  ) -> tuple[DataSettings, tuple[str, ...]]:
        """Data settings and the unused data keys, from the config dict and its `FitConfig`
        (which has already validated dt, q and the frames)."""
        exp = _section(cfg, "experimental_data")
        unknown = [f"experimental_data.{k}" for k in exp
                   if k not in _DATA_KEYS and k not in _DATA_INFO_KEYS]
        kw: dict[str, Any] = {"q": fit.q, "dt": fit.dt}
        if exp.get("data_file_name") is not None:
            name = _string("experimental_data.data_file_name", exp["data_file_name"])
            folder = _string("experimental_data.data_folder_path",
                             exp.get("data_folder_path", "."))
            kw["data_file"] = base_dir / folder / name
        if exp.get("cache_file_path") is not None:
            kw["cache_dir"] = base_dir / _string("experimental_data.cache_file_path",
                                                 exp["cache_file_path"])
        if exp.get("cache_filename_template") is not None:
            kw["cache_template"] = _string(TEMPLATE_KEY, exp["cache_filename_template"])
            check_template(kw["cache_template"])
        if exp.get("cache_compression") is not None:
            kw["cache_compression"] = _bool("experimental_data.cache_compression",
                                            exp["cache_compression"])
        if fit.start_frame is not None:
            kw["start_frame"] = fit.start_frame
        if fit.end_frame is not None:
            kw["end_frame"] = fit.end_frame
        if kw.get("start_frame", 1) < 1:
            raise ValueError(f"analyzer_parameters.start_frame: frames are 1-based, got "
                             f"{kw['start_frame']!r}")
        end = kw.get("end_frame", -1)
        if end != -1 and end < kw.get("start_frame", 1):
            raise ValueError(f"analyzer_parameters.end_frame: {end!r} is before start_frame "
                             f"{kw.get('start_frame', 1)!r} (use -1 for the last frame)")
        for prefix, phi in (("phi_filtering", _section(cfg, "phi_filtering")),
                            ("experimental_data.phi_filtering",
                             _section(exp, "phi_filtering"))):
            unknown += [f"{prefix}.{k}" for k in phi if k not in _PHI_KEYS]
            if phi and _bool(f"{prefix}.enabled", phi.get("enabled", True)):
                kw["phi_ranges"] = _phi_ranges(f"{prefix}.target_ranges", phi.get("target_ranges"))
                kw["fallback_to_all_angles"] = _bool(f"{prefix}.fallback_to_all_angles",
                                                     phi.get("fallback_to_all_angles", False))
        return cls(**kw), tuple(unknown)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true/false, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class LoadedConfig:
    """A config file read and validated: `raw` (the dict, a copy), `fit` (FitConfig),
    `data` (DataSettings), `unknown_keys` (dotted paths xpcsfit does not use), `path`."""

    raw: dict[str, Any]
    fit: FitConfig
    data: DataSettings
    unknown_keys: tuple[str, ...]
    path: Path | None = None


def config_from_dict(cfg: Mapping[str, Any], base_dir: str | Path = ".",
                     path: Path | None = None) -> LoadedConfig:
    """Validate a homodyne-layout dict into fit and data settings (input not modified).

    Unused keys are collected in `unknown_keys` and reported with one warning.
    """
    raw = copy.deepcopy(dict(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FitConfig's own unknown-key warning: merged below
        fit = FitConfig.from_dict(raw)
    data, data_unknown = DataSettings.from_dict(raw, fit, Path(base_dir))
    unknown = tuple(sorted(set(fit.unknown_keys) | set(data_unknown)))
    if unknown:
        warnings.warn(f"config keys not used by xpcsfit (ignored): {', '.join(unknown)}",
                      stacklevel=2)
    return LoadedConfig(raw=raw, fit=fit, data=data, unknown_keys=unknown, path=path)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a homodyne-layout YAML/JSON config file (DESIGN §7 keys plus the
    data keys of `DataSettings`); relative paths are taken from the file's directory."""
    path = Path(path)
    return config_from_dict(read_config_file(path), path.parent, path)
