"""The ferkit web service (REST API and web page): `create_app` builds it, `ferkit serve` runs it."""

from ferkit.serving.app import create_app
from ferkit.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
