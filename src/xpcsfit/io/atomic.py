"""Result folders that never hold a partial run.

A run's files are first written to a hidden staging folder inside the output folder
(`.xpcsfit-staging-<pid>-…`), then renamed into place together while Ctrl-C (SIGINT) is
held back, and `manifest.json` (names, sizes, SHA-256 of the files) is written last. Files
of an earlier run that this run does not write again (e.g. `c2_heatmap_phi05.png` after a
refit with fewer angles) are removed, so a folder never mixes two runs. If a run is
stopped, its staging folder is deleted; one left by a killed process is deleted by the
next run into the same folder. A folder without `manifest.json` is incomplete.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STAGING_PREFIX = ".xpcsfit-staging-"
_MANIFEST_TMP = ".manifest.json.tmp"


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold SIGINT back until the block ends, then deliver it to the previous handler
    (in the main thread; elsewhere the block runs unprotected)."""
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
        installed = True
    except ValueError:  # not the main thread: signals cannot be handled here
        installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
            if received:
                signal.raise_signal(signal.SIGINT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_abandoned(out_dir: Path) -> None:
    """Delete staging folders left in `out_dir` by processes that no longer run."""
    for child in out_dir.glob(STAGING_PREFIX + "*"):
        pid = child.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)
            logger.info("removed %s, left by an interrupted run", child)


@contextlib.contextmanager
def staging(out_dir: str | Path) -> Iterator[Path]:
    """A fresh hidden folder inside `out_dir` (same file system, so renames are atomic);
    it and anything left in it are deleted when the block ends, however it ends."""
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
    try:
        yield stage
    finally:
        with deferred_sigint():
            shutil.rmtree(stage, ignore_errors=True)


def _describe(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a staged file, flushed to disk first (so that a rename never
    publishes a file whose data a crash could still lose)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        os.fsync(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of `out_dir`, or None when there is none (or it is unreadable)."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(manifest, dict) and isinstance(manifest.get("files"), dict)
    return manifest if ok else None


def commit(stage: Path, out_dir: str | Path, owned: Callable[[str], bool]) -> list[Path]:
    """Move every file of `stage` into `out_dir` and write its manifest last.

    Files of `out_dir` that `owned(name)` claims and that `stage` does not bring are
    removed (they belong to an earlier run); other files are left alone, and stay in the
    manifest if it listed them. SIGINT is held back from the first change to the last.
    Returns the paths moved into place.
    """
    out = Path(out_dir)
    names = sorted(p.name for p in stage.iterdir() if p.is_file())
    entries = {name: _describe(stage / name) for name in names}
    old = read_manifest(out) or {"files": {}}
    kept = {name: entry for name, entry in old["files"].items()
            if name not in entries and not owned(name) and (out / name).is_file()}
    stale = [p for p in out.iterdir()
             if p.is_file() and owned(p.name) and p.name not in entries and p.name != MANIFEST]
    manifest = {"format": "xpcsfit results", "complete": True,
                "written": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "files": dict(sorted({**kept, **entries}.items()))}
    (stage / _MANIFEST_TMP).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    remove_abandoned(out)
    with deferred_sigint():
        (out / MANIFEST).unlink(missing_ok=True)  # from here until the end: incomplete
        for path in stale:
            path.unlink(missing_ok=True)
        for name in names:
            os.replace(stage / name, out / name)
        os.replace(stage / _MANIFEST_TMP, out / MANIFEST)
    if stale:
        logger.info("removed %s of an earlier run", ", ".join(p.name for p in stale))
    return [out / name for name in names]


def write_file_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a temporary path next to `path`, then rename it onto `path`:
    `path` is either the old file or the complete new one, never a truncated one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name[:100]}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(Path(tmp))
        with deferred_sigint():
            os.replace(tmp, path)
    finally:
        with deferred_sigint():
            Path(tmp).unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """`write_file_atomic` of UTF-8 `text`."""
    return write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
