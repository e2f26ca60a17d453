"""Local stand-ins for the platforms' web APIs (127.0.0.1 only)."""
