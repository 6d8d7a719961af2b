"""The `xpcsfit` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xpcsfit` command; returns the exit code."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="xpcsfit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xpcsfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="fit bundled synthetic laminar-flow data and print the result")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(write=lambda line: print(line, file=sys.stdout, flush=True))
        return 0
    return 2
