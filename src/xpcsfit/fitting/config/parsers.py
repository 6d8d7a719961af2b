"""Value checks of the config key table: each takes (key path, value) and returns the typed
value or raises ValueError naming the key path and the value."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Parser = Callable[[str, Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(*, minimum: float | None = None, exclusive: bool = False,
           maximum: float | None = None) -> Parser:
    """A finite float, optionally > / ≥ `minimum` and ≤ `maximum`."""

    def parse(key: str, value: Any) -> float:
        if not _is_number(value) or not math.isfinite(float(value)):
            raise ValueError(f"{key}: expected a finite number, got {value!r}")
        v = float(value)
        if minimum is not None and (v <= minimum if exclusive else v < minimum):
            raise ValueError(f"{key}: expected a number {'>' if exclusive else '>='} {minimum}, "
                             f"got {value!r}")
        if maximum is not None and v > maximum:
            raise ValueError(f"{key}: expected a number <= {maximum}, got {value!r}")
        return v

    return parse


def integer(*, minimum: int = 1) -> Parser:
    """An integer ≥ `minimum` (a float with an integral value is accepted)."""

    def parse(key: str, value: Any) -> int:
        if not _is_number(value) or not math.isfinite(float(value)) or int(value) != value:
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        if int(value) < minimum:
            raise ValueError(f"{key}: expected an integer >= {minimum}, got {value!r}")
        return int(value)

    return parse


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def choice(*allowed: str, aliases: Mapping[str, str] | None = None) -> Parser:
    """One of `allowed` (case-insensitive); `aliases` map other accepted names onto them."""
    table = {a: a for a in allowed} | dict(aliases or {})

    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in table:
            raise ValueError(f"{key}: expected one of {tuple(table)}, got {value!r}")
        return table[value.lower()]

    return parse


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def optional(parse: Parser) -> Parser:
    """None stays None; anything else goes through `parse`."""
    return lambda key, value: None if value is None else parse(key, value)


def anything(key: str, value: Any) -> Any:
    """Accepted as given (descriptive keys that change nothing)."""
    return _freeze(value)


def number_or(word: str, parse_number: Parser) -> Parser:
    """Either the string `word` (e.g. "auto", "all", "jac") or a number."""

    def parse(key: str, value: Any) -> Any:
        if isinstance(value, str):
            if value.lower() != word:
                raise ValueError(f"{key}: expected {word!r} or a number, got {value!r}")
            return word
        return parse_number(key, value)

    return parse


def x_scale(key: str, value: Any) -> Any:
    """"jac", one positive number for every parameter, a list of positive numbers (full
    layout), or a mapping name → positive number (physical names, "contrast", "offset")."""
    positive = number(minimum=0.0, exclusive=True)
    if isinstance(value, str):
        if value.lower() != "jac":
            raise ValueError(f"{key}: expected 'jac', a number, a list or a mapping, got {value!r}")
        return "jac"
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), positive(f"{key}.{k}", v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{key}: expected a non-empty list, got {value!r}")
        return tuple(positive(f"{key}[{i}]", v) for i, v in enumerate(value))
    return positive(key, value)


def x_scale_map(key: str, value: Any) -> Any:
    """homodyne's x_scale_map: null or {} (the solver's own "jac" scaling) or name → scale."""
    if value is None or (isinstance(value, Mapping) and not value):
        return "jac"
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping name -> scale, got {value!r}")
    return x_scale(key, value)


def inert_only(*inert: Any, why: str) -> Parser:
    """A homodyne key that changes homodyne's answer in a way xpcsfit does not implement:
    accepted at the values where it does nothing (`inert`), refused otherwise."""

    def parse(key: str, value: Any) -> Any:
        if not any(value == v and type(value) is type(v) for v in inert):
            shown = " or ".join(repr(v) for v in inert)
            raise ValueError(f"{key}: {value!r} is not supported: {why}. Remove the key or "
                             f"set it to {shown}")
        return value

    return parse


def names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of parameter names, got {value!r}")
    return tuple(value)


def numbers_or_null(key: str, value: Any) -> tuple[float | None, ...]:
    """A list of finite numbers (an entry may be null: that parameter keeps its default)."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key}: expected a list of numbers, got {value!r}")
    out = []
    for i, v in enumerate(value):
        out.append(None if v is None else number()(f"{key}[{i}]", v))
    return tuple(out)


def bounds_list(key: str, spec: Any) -> tuple[tuple[str, float, float], ...]:
    """homodyne's [{name, min, max}, …] (or a mapping name → [min, max])."""
    if isinstance(spec, Mapping):
        items = [{"name": k, "min": v[0], "max": v[1]} if isinstance(v, list | tuple)
                 and len(v) == 2 else {"name": k, "bad": v} for k, v in spec.items()]
    elif isinstance(spec, list | tuple):
        items = list(spec)
    else:
        raise ValueError(f"{key}: expected a list of {{name, min, max}}, got {spec!r}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"{key}[{i}]: expected {{name, min, max}}, got {item!r}")
        name = str(item["name"])
        where = f"{key}[{name}]"
        if "min" not in item or "max" not in item:
            raise ValueError(f"{where}: needs min and max, got {dict(item)!r}")
        lo, hi = number()(f"{where}.min", item["min"]), number()(f"{where}.max", item["max"])
        if not lo < hi:
            raise ValueError(f"{where}: min {lo!r} must be < max {hi!r}")
        out.append((name, lo, hi))
    return tuple(out)


def fixed_values(key: str, value: Any) -> tuple[tuple[str, float], ...]:
    """A mapping name → value (the parameter is held at that value)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping name -> value, got {value!r}")
    return tuple(sorted((str(k), number()(f"{key}.{k}", v)) for k, v in value.items()))


def per_angle_values(key: str, value: Any) -> tuple[float, ...]:
    """A number or a non-empty list of finite numbers."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError(f"{key}: expected a number or a non-empty list, got {value!r}")
    return tuple(number()(f"{key}[{i}]", v) for i, v in enumerate(items))


def phi_ranges(key: str, spec: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(spec, list | tuple) or not spec:
        raise ValueError(f"{key}: expected a non-empty list of {{min_angle, max_angle}}, "
                         f"got {spec!r}")
    out = []
    for i, item in enumerate(spec):
        if not isinstance(item, Mapping) or "min_angle" not in item or "max_angle" not in item:
            raise ValueError(f"{key}[{i}]: expected {{min_angle, max_angle}}, got {item!r}")
        out.append((number()(f"{key}[{i}].min_angle", item["min_angle"]),
                    number()(f"{key}[{i}].max_angle", item["max_angle"])))
    return tuple(out)


def _freeze(value: Any) -> Any:
    """A hashable copy of nested dicts/lists (dict → sorted tuple of items)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value
