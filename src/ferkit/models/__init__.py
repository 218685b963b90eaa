"""Model architectures, registered by name, and self-describing model files."""

from ferkit.models import fervgg, lenet  # noqa: F401  (registers the architectures)
from ferkit.models.registry import available, build_model, get, register

__all__ = ["available", "build_model", "get", "register"]
