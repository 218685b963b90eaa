"""A name → architecture registry, so the trainer builds any registered model from a Configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

    from ferkit.config import Configuration


@dataclass(frozen=True)
class Architecture:
    """How to build one architecture and how to reject configurations it cannot honour.

    Args:
        name: the registry key, used as `Configuration.Architecture`.
        build: `(config, num_classes) -> keras.Model`, uncompiled, taking images of pixel values 0..255.
        check: raises `ValueError` for a configuration this architecture cannot build.
    """

    name: str
    build: Callable[[Configuration, int], keras.Model]
    check: Callable[[Configuration], None]


_REGISTRY: dict[str, Architecture] = {}


def register(name: str, check: Callable[[Configuration], None] = lambda config: None):
    """Decorator that registers a builder function under `name`."""

    def decorator(build: Callable[[Configuration, int], keras.Model]):
        _REGISTRY[name] = Architecture(name=name, build=build, check=check)
        return build

    return decorator


def available() -> list[str]:
    from ferkit.models import ferres, fervgg, lenet  # noqa: F401  (registers the architectures)

    return sorted(_REGISTRY)


def get(name: str) -> Architecture:
    available()
    return _REGISTRY[name]


def build_model(config: Configuration, num_classes: int) -> keras.Model:
    """Build the configured architecture for `num_classes` classes."""
    return get(config.Architecture).build(config, num_classes)
