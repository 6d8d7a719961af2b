"""Read a homodyne-layout YAML (or JSON) config file: the fit settings (`FitConfig`) and
the data settings (file, q, frames, φ ranges, cache) of DESIGN §7.

The file is turned into a plain dict and handed to `FitConfig.from_dict`, which validates
every key through the config key table (fit and data keys alike); `DataSettings` reads its
typed `data` and `geometry` sections. Relative paths in the file are relative to the
directory of the config file.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..fitting.config import FitConfig
from ._optional import require
from .cache import check_template
from .paths import existing_file

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
    def from_fit(cls, fit: FitConfig, base_dir: Path) -> DataSettings:
        """Data settings from a `FitConfig` (its `data` and `geometry` sections, validated by
        the key table); relative paths are taken from `base_dir`."""
        d, g = fit.data, fit.geometry
        kw: dict[str, Any] = {"q": g.q, "dt": g.dt, "cache_compression": d.cache_compression}
        if d.data_file_name is not None:
            kw["data_file"] = base_dir / d.data_folder_path / d.data_file_name
        if d.cache_file_path is not None:
            kw["cache_dir"] = base_dir / d.cache_file_path
        if d.cache_filename_template is not None:
            kw["cache_template"] = d.cache_filename_template
            check_template(kw["cache_template"])
        if g.start_frame is not None:
            kw["start_frame"] = g.start_frame
        if g.end_frame is not None:
            kw["end_frame"] = g.end_frame
        end = kw.get("end_frame", -1)
        if end != -1 and end < kw.get("start_frame", 1):
            raise ValueError(f"analyzer_parameters.end_frame: {end!r} is before start_frame "
                             f"{kw.get('start_frame', 1)!r} (use -1 for the last frame)")
        said = {"phi_filtering.enabled", "experimental_data.phi_filtering.enabled"} & set(fit.given)
        if d.phi_filtering or (d.phi_ranges is not None and not said):  # ranges given: on
            if d.phi_ranges is None:
                raise ValueError("phi_filtering.target_ranges: required when phi_filtering "
                                 "is enabled")
            kw["phi_ranges"] = d.phi_ranges
            kw["fallback_to_all_angles"] = d.fallback_to_all_angles
        return cls(**kw)


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

    Keys xpcsfit does not use are collected in `unknown_keys` and reported by
    `FitConfig.from_dict` with one short warning.
    """
    raw = copy.deepcopy(dict(cfg))
    fit = FitConfig.from_dict(raw)
    data = DataSettings.from_fit(fit, Path(base_dir))
    unknown = tuple(sorted(set(fit.unknown_keys) | set(fit.unused_keys)))
    return LoadedConfig(raw=raw, fit=fit, data=data, unknown_keys=unknown, path=path)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a homodyne-layout YAML/JSON config file (DESIGN §7 keys plus the
    data keys of `DataSettings`); relative paths are taken from the file's directory."""
    path = Path(path)
    return config_from_dict(read_config_file(path), path.parent, path)
