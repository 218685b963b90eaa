"""Training one model with several processes (Keras 3 `keras.distribution` on JAX) or mirrored GPUs.

Importing this package does not import Keras, so the backend can still be chosen after it is imported.
"""

from ferkit.distributed.process_group import DistributedError, ProcessGroup, resolve_process_group
from ferkit.distributed.strategies import (
    JaxDataParallel,
    Mirrored,
    SingleProcess,
    strategy_for,
    use_jax_backend,
)

__all__ = [
    "DistributedError",
    "JaxDataParallel",
    "Mirrored",
    "ProcessGroup",
    "SingleProcess",
    "resolve_process_group",
    "strategy_for",
    "use_jax_backend",
]
