"""Local stand-ins for the platforms' web APIs (tests and benchmarks)."""
