"""Benchmarks, run by hand (``make bench`` or ``python -m benchmarks.NAME``); results go into docs/benchmarks.md."""
