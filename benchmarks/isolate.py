"""Run one benchmark case in a fresh Python process, so peak RSS is that case's alone.

`isolated("benchmarks.fitcase:xpcsfit_case", spec)` runs
`python -m benchmarks.isolate benchmarks.fitcase:xpcsfit_case '<spec json>'`, which prints
the function's dict as the last line of stdout as JSON. The environment (JAX_PLATFORMS,
the requested device) is inherited.
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


def isolated(target: str, spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Call `module:function(spec)` in a subprocess and return its dict."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.isolate", target, json.dumps(spec)],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        raise CaseError(f"{target}({spec}) failed (exit {out.returncode}):\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    target, spec = argv
    module, function = target.split(":")
    result = getattr(importlib.import_module(module), function)(json.loads(spec))
    print(json.dumps(result, default=json_default))


if __name__ == "__main__":
    main(sys.argv[1:])
