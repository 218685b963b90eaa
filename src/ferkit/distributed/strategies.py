"""How the trainer spreads one training run over devices and processes.

- `SingleProcess`: ordinary training in this process (the default).
- `JaxDataParallel`: one of N processes (one or many hosts) training one model with Keras 3's
  `keras.distribution.DataParallel` on the JAX backend, gradients averaged with gloo collectives on CPU.
  Every process runs the same seeded input pipeline and keeps its own slice of each global batch of
  `BatchSize` images, so the batches, and the result, are those of a single-process run.
- `Mirrored`: TensorFlow's `MirroredStrategy` over the GPUs of one host (one replica on a CPU-only host).

The trainer asks a strategy for a scope to build and fit in, for this process's share of the data, whether it
is the chief (rank 0, the only one that writes the run folder), and for a barrier.
"""

from __future__ import annotations

import contextlib
import os
import sys

from ferkit.distributed.process_group import DistributedError, ProcessGroup, resolve_process_group
from ferkit.errors import ConfigError, DataError


def use_jax_backend() -> None:
    """Make Keras use JAX: set KERAS_BACKEND before Keras is imported, or refuse if it is too late."""
    requested = os.environ.get("KERAS_BACKEND", "jax")
    if requested != "jax":
        raise DistributedError(
            f"multi-process training runs on the JAX backend, but KERAS_BACKEND={requested}; unset it or set "
            "KERAS_BACKEND=jax")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "jax":
            raise DistributedError(
                f"multi-process training runs on the JAX backend, but Keras was already imported with the "
                f"{keras.backend.backend()!r} backend in this process; start it with KERAS_BACKEND=jax")
    try:
        import jax  # noqa: F401
    except ImportError:
        raise DistributedError("multi-process training needs JAX: pip install 'ferkit[distributed]'") \
            from None
    os.environ["KERAS_BACKEND"] = "jax"


class SingleProcess:
    """Training in this process alone, the way it always worked."""

    process_id = 0
    num_processes = 1
    is_chief = True
    tag = ""

    def describe(self) -> str:
        return "single process"

    def check(self, batch_size: int, train_images: int, validation_images: int) -> None:
        """Raise a FerkitError when the run cannot be split as configured."""

    def start(self) -> None:
        """Join the other processes or devices; call once, before Keras builds anything."""

    def scope(self):
        """Context in which the model is built, compiled and fitted."""
        return contextlib.nullcontext()

    def shard_training(self, dataset, batch_size: int):
        """This process's part of the (repeated, batched) training dataset."""
        return dataset

    def shard_validation(self, dataset, batch_size: int, images: int):
        """This process's part of the (finite, batched) validation dataset of `images` images."""
        return dataset

    def barrier(self, name: str) -> None:
        """Wait until every process reaches the barrier `name`."""

    def is_peer_failure(self, error: BaseException) -> bool:
        """Whether `error` means another process of the job died or became unreachable."""
        return False

    @contextlib.contextmanager
    def stop_on_peer_failure(self, print_error=print):
        """Turn the loss of another process into one error line and an immediate exit (status 1).

        The exit skips JAX's shutdown barrier, which would otherwise wait for the process that is gone.
        """
        try:
            yield
        except Exception as error:
            if not self.is_peer_failure(error):
                raise
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print_error(f"{self.tag}error: lost another process of the job ({first_line}); stopping. Run the "
                        "same command again to resume from the last finished epoch.")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)


class JaxDataParallel(SingleProcess):
    """One process of a data-parallel job on the JAX backend (`keras.distribution.DataParallel`).

    Args:
        group: coordinator address, number of processes and this process's id.
        heartbeat_timeout: seconds without a heartbeat after which a process counts as dead; the survivors
            then stop with an error instead of waiting for it forever. Also bounds the wait at shutdown.
        join_timeout: seconds to wait for every process to join at start.
    """

    def __init__(self, group: ProcessGroup, heartbeat_timeout: int = 60, join_timeout: int = 300):
        self.group = group
        self.process_id = group.process_id
        self.num_processes = group.num_processes
        self.is_chief = group.is_chief
        self.tag = f"[rank {group.process_id}] "
        self.heartbeat_timeout = heartbeat_timeout
        self.join_timeout = join_timeout
        self._distribution = None

    def describe(self) -> str:
        return (f"rank {self.process_id} of {self.num_processes} processes (keras.distribution.DataParallel "
                f"on JAX, gloo collectives, coordinator {self.group.coordinator})")

    def check(self, batch_size: int, train_images: int, validation_images: int) -> None:
        if batch_size % self.num_processes:
            raise ConfigError(
                f"configuration key BatchSize={batch_size}: the global batch must divide evenly over "
                f"{self.num_processes} processes")
        if train_images < batch_size or validation_images < batch_size:
            raise DataError(
                f"distributed training needs at least BatchSize={batch_size} training and validation images "
                f"(got {train_images} and {validation_images})")

    def start(self) -> None:
        use_jax_backend()
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(
                coordinator_address=self.group.coordinator,
                num_processes=self.num_processes,
                process_id=self.process_id,
                initialization_timeout=self.join_timeout,
                heartbeat_timeout_seconds=self.heartbeat_timeout,
                shutdown_timeout_seconds=self.heartbeat_timeout,
            )
        except Exception as exc:  # JAX raises RuntimeError / XlaRuntimeError with long multi-line texts
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DistributedError(
                f"rank {self.process_id}: could not join the job at {self.group.coordinator} within "
                f"{self.join_timeout} s ({reason})") from None
        import keras

        self._distribution = keras.distribution.DataParallel(auto_shard_dataset=False)

    def scope(self):
        if self._distribution is None:
            raise RuntimeError("JaxDataParallel.start() must be called before scope()")
        return self._distribution.scope()

    def shard_training(self, dataset, batch_size: int):
        return dataset.rebatch(batch_size // self.num_processes).shard(self.num_processes, self.process_id)

    def shard_validation(self, dataset, batch_size: int, images: int):
        """Whole global batches only (every process must run the same number of steps), then this slice."""
        import tensorflow as tf

        whole = dataset.rebatch(batch_size, drop_remainder=True)
        steps = images // batch_size
        return self.shard_training(whole, batch_size).apply(tf.data.experimental.assert_cardinality(steps))

    def barrier(self, name: str) -> None:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)

    def is_peer_failure(self, error: BaseException) -> bool:
        import jax

        text = str(error).lower()
        return (isinstance(error, jax.errors.JaxRuntimeError) or "gloo" in text
                or "coordination service" in text)


class Mirrored(SingleProcess):
    """TensorFlow's MirroredStrategy over this host's GPUs (or its CPU when there is none)."""

    def __init__(self):
        self._strategy = None

    def describe(self) -> str:
        replicas = self._strategy.num_replicas_in_sync if self._strategy else "?"
        return f"tf.distribute.MirroredStrategy with {replicas} replica(s)"

    def start(self) -> None:
        if "keras" in sys.modules:
            import keras

            if keras.backend.backend() != "tensorflow":
                raise DistributedError(
                    "distribution='mirrored' runs on the TensorFlow backend, not "
                    f"{keras.backend.backend()!r}; unset KERAS_BACKEND")
        import tensorflow as tf

        self._strategy = tf.distribute.MirroredStrategy()

    def check(self, batch_size: int, train_images: int, validation_images: int) -> None:
        import tensorflow as tf

        replicas = max(len(tf.config.list_logical_devices("GPU")), 1)
        if batch_size % replicas:
            raise ConfigError(
                f"configuration key BatchSize={batch_size}: the global batch must divide evenly over "
                f"{replicas} GPUs")

    def scope(self):
        if self._strategy is None:
            raise RuntimeError("Mirrored.start() must be called before scope()")
        return self._strategy.scope()


DISTRIBUTIONS = ("data-parallel", "mirrored")


def strategy_for(distribution: str | None = None, distributed: bool = False, coordinator: str | None = None,
                 num_processes: int | None = None, process_id: int | None = None,
                 heartbeat_timeout: int = 60) -> SingleProcess:
    """The strategy the `train` flags ask for; for multi-process runs, also selects the JAX backend.

    Call before anything imports Keras. `distributed=True` means `distribution="data-parallel"`.
    """
    if distributed:
        if distribution not in (None, "data-parallel"):
            raise DistributedError(f"distributed=True runs data-parallel processes; it cannot be combined with "
                                   f"distribution={distribution!r}")
        distribution = "data-parallel"
    if distribution is None:
        return SingleProcess()
    if distribution not in DISTRIBUTIONS:
        raise DistributedError(f"distribution={distribution!r}: use one of {', '.join(DISTRIBUTIONS)}")
    if distribution == "mirrored":
        return Mirrored()
    if heartbeat_timeout < 5:
        raise DistributedError(f"heartbeat_timeout={heartbeat_timeout}: needs at least 5 seconds")
    group = resolve_process_group(coordinator, num_processes, process_id)
    use_jax_backend()
    return JaxDataParallel(group, heartbeat_timeout=heartbeat_timeout)
