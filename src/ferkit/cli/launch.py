"""`ferkit launch`: run a ferkit command in N local processes as one job (e.g. distributed training)."""

from __future__ import annotations

from typing import Annotated

import typer


def launch(
    ctx: typer.Context,
    nproc: Annotated[int, typer.Option(help="Number of local processes (ranks 0..N-1).")] = 2,
    coordinator: Annotated[str | None, typer.Option(
        help="HOST:PORT for rank 0's coordination service (default: a free port on 127.0.0.1).")] = None,
    grace: Annotated[float, typer.Option(
        help="Seconds the other ranks get to stop by themselves after one rank failed, before they are "
             "terminated.")] = 10.0,
) -> None:
    """Run a ferkit command as N local processes of one job, such as data-parallel training.

    `ferkit launch --nproc 2 -- train --data d.npz` starts `ferkit train` twice. Each process gets
    FERKIT_COORDINATOR, FERKIT_NUM_PROCESSES and FERKIT_PROCESS_ID; `train` also gets the JAX backend and
    --distributed. Every output line is prefixed with its rank. If one rank fails, the others are stopped
    and the launcher exits non-zero; running the same command again resumes training.
    """
    from ferkit.distributed.launcher import launch as run
    from ferkit.distributed.process_group import DistributedError, check_coordinator

    if nproc < 1:
        raise DistributedError(f"--nproc {nproc}: needs at least 1 process")
    if not ctx.args:
        raise DistributedError("no command to launch; give it after --: ferkit launch --nproc 2 -- train ...")
    if coordinator:
        check_coordinator(coordinator, "--coordinator")
    code = run(nproc, list(ctx.args), coordinator=coordinator, grace=grace, echo=typer.echo,
               echo_err=lambda text: typer.echo(text, err=True))
    raise typer.Exit(code)
