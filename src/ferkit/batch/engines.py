"""Where a batch job's files are recognised: `local` (this process, no Ray imported at all) or `ray` (a Ray
Data actor pool on a local or remote Ray cluster). Both yield Arrow tables of file results
(`rows.file_result_schema`) made by the same `RecognizeFiles` step, so their output is the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from ferkit.batch.recognize import RecognizeFiles
from ferkit.errors import FerkitError

ENGINES = ("local", "ray")
MAX_BLOCKS = 20_000
RAY_NEEDS_EXTRA = "engine='ray' needs Ray: pip install 'ferkit[cluster]'"


@dataclass(frozen=True)
class StepSettings:
    """How each worker builds its `RecognizeFiles` step."""

    model: str | None
    detector: str | None
    runtime: str
    fps: float | None
    batch_size: int

    def build(self) -> RecognizeFiles:
        return RecognizeFiles(self.model, self.detector, self.runtime, self.fps, self.batch_size)


def local_results(files: list[str], step: StepSettings) -> Iterator[pa.Table]:
    """Recognise `files` in this process, `batch_size` files at a time."""
    recognize = step.build()
    for start in range(0, len(files), step.batch_size):
        yield recognize.process(files[start:start + step.batch_size])


def files_per_ray_batch(files: int, workers: int, batch_size: int) -> int:
    """Files per `map_batches` call: `batch_size`, or fewer when that would leave workers idle."""
    return max(1, min(batch_size, math.ceil(files / workers)))


def actor_cpus(cluster_cpus: float, workers: int) -> float:
    """CPUs reserved per actor: one each when the cluster has a core to spare beside them, else a share
    that leaves room for Ray Data's own tasks (two 1-CPU actors on a 2-CPU machine starve them and the
    pipeline stalls)."""
    return min(1.0, cluster_cpus / (workers + 1))


def _connect(address: str | None) -> bool:
    """Connect to the Ray cluster at `address` (None: start one on this machine); True if started here."""
    try:
        import ray
    except ImportError:
        raise FerkitError(RAY_NEEDS_EXTRA) from None
    if ray.is_initialized():
        return False
    options = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:  # a private cluster for this job, even when another one runs on this machine
        address, options["include_dashboard"] = "local", False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FerkitError(f"cannot connect to the Ray cluster at {address} "
                          f"({reason})") from None
    return True


def _last_line(exc: Exception) -> str:
    """The final line of an error whose message carries a remote traceback (its actual reason)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def ray_results(files: list[str], step: StepSettings, address: str | None = None,
                workers: int | None = None) -> Iterator[pa.Table]:
    """Recognise `files` on a Ray cluster: `map_batches` over an actor pool of `workers` recognizers (default:
    one per CPU the cluster has), each loaded once. A worker that dies is restarted and its batches retried
    (Ray Data's actor pools retry without limit)."""
    started = _connect(address)
    import ray

    try:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        cluster_cpus = ray.cluster_resources().get("CPU", 1.0)
        workers = workers or max(1, int(cluster_cpus))
        files_per_batch = files_per_ray_batch(len(files), workers, step.batch_size)
        blocks = max(1, min(MAX_BLOCKS, math.ceil(len(files) / files_per_batch)))
        dataset = ray.data.from_items([{"file": file} for file in files], override_num_blocks=blocks)
        results = dataset.map_batches(
            RecognizeFiles,
            fn_constructor_kwargs={"model": step.model, "detector": step.detector, "runtime": step.runtime,
                                   "fps": step.fps, "batch_size": step.batch_size},
            batch_size=files_per_batch, compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=actor_cpus(cluster_cpus, workers))
        try:
            yield from results.iter_batches(batch_size=None, batch_format="pyarrow")
        except ray.exceptions.ActorDiedError as exc:  # the recognizer could not be built in a worker
            raise FerkitError(f"the Ray workers could not load the recognizer: {_last_line(exc)}") from None
    finally:
        if started:
            ray.shutdown()
