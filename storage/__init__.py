"""Storage: tables, stores behind small interfaces, engine and migrations."""
