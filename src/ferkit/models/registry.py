"""A name → architecture registry, so the trainer builds any registered model from a Configuration."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ferkit.errors import ConfigError

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


class UnknownArchitectureError(ConfigError):
    """An architecture name that nothing is registered under."""


_REGISTRY: dict[str, Architecture] = {}


def register(name: str, check: Callable[[Configuration], None] = lambda config: None):
    """Decorator that registers a builder function under `name`.

    Registering a name twice warns (two modules claiming one name is almost always a mistake) and keeps the
    newer builder, so re-importing a module during development still works.
    """

    def decorator(build: Callable[[Configuration, int], keras.Model]):
        if name in _REGISTRY:
            warnings.warn(f"architecture {name!r} is registered again; {build.__qualname__} replaces "
                          f"{_REGISTRY[name].build.__qualname__}", stacklevel=2)
        _REGISTRY[name] = Architecture(name=name, build=build, check=check)
        return build

    return decorator


def available() -> list[str]:
    """The registered architecture names, sorted (imports the built-in architectures on first use)."""
    from ferkit.models import ferres, fervgg, lenet  # noqa: F401  (registers the architectures)

    return sorted(_REGISTRY)


def get(name: str) -> Architecture:
    """The architecture registered under `name`; `UnknownArchitectureError` names the choices otherwise."""
    names = available()
    if name not in _REGISTRY:
        raise UnknownArchitectureError(f"unknown architecture {name!r}; available: {', '.join(names)}")
    return _REGISTRY[name]


def build_model(config: Configuration, num_classes: int) -> keras.Model:
    """Build the configured architecture for `num_classes` classes."""
    return get(config.Architecture).build(config, num_classes)
