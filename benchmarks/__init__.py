"""Benchmark suites for xpcsfit (run with `python -m benchmarks`)."""
