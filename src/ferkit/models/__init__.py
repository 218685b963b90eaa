"""Model architectures, registered by name, and self-describing model files.

The architecture modules (which import Keras) are imported by `registry.available()` on first use, so
reading a model's metadata or running an exported model never loads TensorFlow.
"""

from ferkit.models.registry import available, build_model, get, register

__all__ = ["available", "build_model", "get", "register"]
