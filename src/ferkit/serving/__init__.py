"""The ferkit web service (REST API and web page): `create_app` builds it, `ferkit serve` runs it."""

from ferkit.serving.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
