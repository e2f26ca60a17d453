"""valuesbot: the platform-neutral core."""
