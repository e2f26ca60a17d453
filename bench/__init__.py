"""Benchmarks of valuesbot on this machine (issue 8): each module runs as ``python -m bench.NAME``
from the repository root and writes its figures to ``bench/results/NAME[-variant].json``."""
