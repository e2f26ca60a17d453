"""Benchmarks of valuesbot on this machine: run each with ``python -m bench.NAME``."""
