"""Launching a script as N gloo ranks on 127.0.0.1, with a bounded wait and the children killed.

A hang is a failure: each rank's process group has a timeout (``PROCESS_GROUP_TIMEOUT``, set by
``init_rank``), the whole launch has a wall-clock limit, and every child still alive at the end
(normal or not) is killed by its PID.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import torch.distributed as dist

from tests.server_process import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROCESS_GROUP_TIMEOUT = datetime.timedelta(seconds=60)


def run_ranks(
    script: str, args: list[str], world_size: int = 2, timeout: float = 240, cwd: str | None = None
) -> list[str]:
    """Run ``python script *args`` as ``world_size`` ranks (in ``cwd``); return each rank's output.

    ``args[0]`` is a directory: the ranks' output is kept in ``rank<r>.log`` there.

    Raises:
        AssertionError: a rank exited non-zero or the launch ran past ``timeout`` seconds.
    """
    port = free_port()
    children = []
    logs = []
    try:
        for rank in range(world_size):
            env = dict(
                os.environ,
                PYTHONPATH=REPO,
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                WORLD_SIZE=str(world_size),
                LOCAL_WORLD_SIZE=str(world_size),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                OMP_NUM_THREADS="1",
            )
            log = open(os.path.join(args[0], f"rank{rank}.log"), "w+")  # noqa: SIM115 - closed below
            logs.append(log)
            children.append(
                subprocess.Popen(
                    [sys.executable, script, *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd
                )
            )
        codes = [child.wait(timeout=timeout) for child in children]
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"the ranks ran past {timeout} s (a hang): {_outputs(logs)}") from error
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    outputs = _outputs(logs)
    assert codes == [0] * world_size, f"exit codes {codes}: {outputs}"
    return outputs


def init_rank() -> int:
    """Join the gloo process group described by the environment; return this rank."""
    dist.init_process_group("gloo", timeout=PROCESS_GROUP_TIMEOUT)
    return dist.get_rank()


def leave_ranks() -> None:
    """Leave the process group together: a rank that tears gloo down while another still talks
    to it can abort at exit ("terminate called without an active exception")."""
    dist.barrier()
    dist.destroy_process_group()


def _outputs(logs: list) -> list[str]:
    texts = []
    for log in logs:
        log.seek(0)
        texts.append(log.read()[-4000:])
        log.close()
    return texts
