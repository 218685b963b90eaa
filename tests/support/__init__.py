"""Shared test helpers, one module per area: `support.inference` (drawn photos, tiny models, encoders),
`support.serving`, `support.batch`, `support.distributed` and `support.durability` (the kill harness that
`bench/durability.py` reuses). Fixtures live in `tests/conftest.py`."""
