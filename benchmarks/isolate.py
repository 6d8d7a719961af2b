"""Run one benchmark case in a fresh Python process, so peak RSS is that case's alone.

`isolated("benchmarks.fitcase:xpcsfit_case", spec)` runs
`python -m benchmarks.isolate benchmarks.fitcase:xpcsfit_case '<spec json>'`, which prints
the function's dict as the last line of stdout as JSON. The environment (JAX_PLATFORMS,
the requested device) is inherited.

With `reuse=True` a call identical to an earlier one of this run (same target and spec)
returns that measurement again, marked `"reused": True`, instead of starting another
process: `--quick` suites that share a case (scaling and screening's "on" row) pay its
compilation once. Full runs never reuse.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

from benchmarks.common import json_default


class CaseError(RuntimeError):
    """A case's subprocess failed; the message carries the last lines of its stderr."""


_MEASURED: dict[str, dict[str, Any]] = {}
"""Results of this run's isolated calls, by `target` and spec (for `reuse=True`)."""


def isolated(target: str, spec: dict[str, Any], timeout: float | None = None,
             reuse: bool = False) -> dict[str, Any]:
    """Call `module:function(spec)` in a subprocess and return its dict (a copy of an
    identical earlier call's, with "reused": True, if `reuse`)."""
    key = f"{target} {json.dumps(spec, sort_keys=True)}"
    if reuse and key in _MEASURED:
        return {**_MEASURED[key], "reused": True}
    out = subprocess.run([sys.executable, "-m", "benchmarks.isolate", target, json.dumps(spec)],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        raise CaseError(f"{target}({spec}) failed (exit {out.returncode}):\n{tail}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    _MEASURED[key] = result
    return dict(result)


def main(argv: list[str]) -> None:
    target, spec = argv
    module, function = target.split(":")
    result = getattr(importlib.import_module(module), function)(json.loads(spec))
    print(json.dumps(result, default=json_default))


if __name__ == "__main__":
    main(sys.argv[1:])
