"""Energy tables (TOML data) and per-algorithm operation-count models (no torch)."""
