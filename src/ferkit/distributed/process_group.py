"""Who takes part in a multi-process run: the coordinator address, the number of processes and this one's id.

Each value comes from a command-line flag or, failing that, from the environment, so the same command works
under `ferkit launch`, a cluster scheduler or by hand on every host. Environment variables, first found wins:

- coordinator: `FERKIT_COORDINATOR`, `KERAS_DISTRIBUTION_JOB_ADDRESSES` (its first address),
  `JAX_COORDINATOR_ADDRESS`
- number of processes: `FERKIT_NUM_PROCESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES`, `JAX_NUM_PROCESSES`
- process id: `FERKIT_PROCESS_ID`, `KERAS_DISTRIBUTION_PROCESS_ID`, `JAX_PROCESS_ID`
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ferkit.errors import FerkitError

COORDINATOR_VARIABLES = ("FERKIT_COORDINATOR", "KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS")
NUM_PROCESSES_VARIABLES = ("FERKIT_NUM_PROCESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES")
PROCESS_ID_VARIABLES = ("FERKIT_PROCESS_ID", "KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID")


class DistributedError(FerkitError):
    """A distributed run that cannot start or go on: bad topology, wrong backend, a lost process."""


@dataclass(frozen=True)
class ProcessGroup:
    """The processes of one data-parallel job.

    Args:
        coordinator: HOST:PORT of process 0, where the JAX coordination service listens.
        num_processes: how many processes take part (all hosts together).
        process_id: this process's rank, 0 .. num_processes - 1; rank 0 writes every file.
    """

    coordinator: str
    num_processes: int
    process_id: int

    @property
    def is_chief(self) -> bool:
        return self.process_id == 0


def _from_environment(names: tuple[str, ...], environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value, name
    return None, None


def check_coordinator(address: str, source: str) -> str:
    """Accept HOST:PORT (IPv6 as [::1]:PORT) with a port in 1..65535; raise DistributedError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"{source}={address!r} is not HOST:PORT (e.g. 10.0.0.1:12345)")
    return address


def _as_int(value: str | int, source: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"{source}={value!r} is not a whole number") from None


def resolve_process_group(coordinator: str | None = None, num_processes: int | None = None,
                          process_id: int | None = None,
                          environ: Mapping[str, str] | None = None) -> ProcessGroup:
    """Combine the arguments with the environment (arguments win) and check the result.

    Raises:
        DistributedError: naming the parameter and the environment variables when a value is missing or
            invalid.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, tuple[str | int, str]] = {}
    for key, value, names in (
        ("coordinator", coordinator, COORDINATOR_VARIABLES),
        ("num_processes", num_processes, NUM_PROCESSES_VARIABLES),
        ("process_id", process_id, PROCESS_ID_VARIABLES),
    ):
        if value is not None:
            found[key] = (value, key)
            continue
        text, name = _from_environment(names, environ)
        if text is None:
            raise DistributedError(
                f"distributed training needs {key} (or one of the environment variables "
                f"{', '.join(names)}); `ferkit launch` sets them for local processes"
            )
        if name == "KERAS_DISTRIBUTION_JOB_ADDRESSES":
            text = text.split(",")[0].strip()
        found[key] = (text, name)

    address = check_coordinator(str(found["coordinator"][0]), found["coordinator"][1])
    count = _as_int(*found["num_processes"])
    rank = _as_int(*found["process_id"])
    if count < 1:
        raise DistributedError(f"{found['num_processes'][1]}={count}: needs at least 1 process")
    if not 0 <= rank < count:
        raise DistributedError(
            f"{found['process_id'][1]}={rank} is outside 0..{count - 1} for {count} processes")
    return ProcessGroup(address, count, rank)
