"""Where a batch's pairs run: one after another here, or as tasks on Ray.

An executor maps a function over run configs and yields (index, result) as each ends.
Ray is an optional extra (`pip install -e '.[ray]'`), imported only by `RayExecutor`
(through `tf_style.ray_tasks`, which the web page's Ray runs share).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterator, Optional, Sequence, Tuple, TypeVar

from tf_style import ray_tasks, run_identity
from tf_style.batch_config import BatchConfig
from tf_style.config import INIT_KINDS, TransferConfig
from tf_style.errors import TransferError

Result = TypeVar("Result")
PairFunction = Callable[[TransferConfig], Result]

class Executor:
    """Runs a function of a `TransferConfig` over many configs.

    `reports_steps`: the function runs in this process, so a callback it is given sees
    every step (a batch draws one bar from them); otherwise a pair reports only as it ends.
    """

    reports_steps = False

    def map(self, function: PairFunction, configs: Sequence[TransferConfig]
            ) -> Iterator[Tuple[int, Result]]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class LocalExecutor(Executor):
    """One after another in this process, in order (no Ray needed)."""

    reports_steps = True

    def map(self, function: PairFunction, configs: Sequence[TransferConfig]
            ) -> Iterator[Tuple[int, Result]]:
        for index, config in enumerate(configs):
            yield index, function(config)

    def describe(self) -> str:
        return "one pair after another in this process"


class RayExecutor(Executor):
    """Each pair a Ray task (`tf_style.ray_tasks`) with `task_cpus` CPUs and `task_gpus`
    GPUs; a pair whose --device is gpu asks for a GPU in any case.

    Joins the cluster at `address` (`ray://host:10001`, or `auto` on a cluster node), or
    starts a local Ray in this process when None (with `local_cpus`, default all). Run
    directories must be on a path every worker sees; paths are made absolute before they
    are sent. TensorFlow in a task uses `threads` threads (default `task_cpus`).
    """

    def __init__(self, address: Optional[str] = None, task_cpus: float = 1.0,
                 task_gpus: float = 0.0, max_retries: int = ray_tasks.DEFAULT_MAX_RETRIES,
                 local_cpus: Optional[int] = None, threads: Optional[int] = None):
        ray_tasks.import_ray()
        self.address = address
        self.resources = ray_tasks.TaskResources(task_cpus, task_gpus, max_retries)
        self.local_cpus = local_cpus
        self.threads = threads or max(1, int(task_cpus))

    def describe(self) -> str:
        where = f"Ray at {self.address}" if self.address else "a local Ray"
        return f"as tasks on {where} ({self.resources.describe()})"

    def map(self, function: PairFunction, configs: Sequence[TransferConfig]
            ) -> Iterator[Tuple[int, Result]]:
        ray = ray_tasks.import_ray()
        ray_tasks.connect(self.address, self.local_cpus)
        # No progress bar per task: many would interleave on the driver's terminal; the
        # batch logs a line (with its ETA) as each pair ends.
        pending = {
            ray_tasks.remote(_task, self.resources.for_device(config.device)).remote(
                function, _absolute(dataclasses.replace(config, progress=False)), self.threads):
            index for index, config in enumerate(configs)}
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready)
                try:
                    yield index, ray.get(ready)
                except ray.exceptions.RayError as error:
                    name = os.path.basename(run_identity.run_dir(configs[index]))
                    raise TransferError(
                        f"{name} failed on Ray after {self.resources.max_retries} retries: "
                        f"{str(error).splitlines()[0]}") from None
        finally:
            for reference in pending:
                ray.cancel(reference)


def _task(function: PairFunction, config: TransferConfig, threads: int) -> Result:
    """What a Ray worker runs: TensorFlow held to the task's CPUs, then the pair."""
    ray_tasks.hold_tensorflow_to(threads)
    return function(config)


def _absolute(config: TransferConfig) -> TransferConfig:
    """The config with its paths absolute: a worker's working directory is not ours."""
    def absolute(path: Optional[str]) -> Optional[str]:
        return os.path.abspath(path) if path else path

    init = config.init if config.init in INIT_KINDS else absolute(config.init)
    return dataclasses.replace(
        config, content=absolute(config.content), style=tuple(map(absolute, config.style)),
        workdir=absolute(run_identity.run_dir(config)), weights_dir=absolute(config.weights_dir),
        init=init,
        output=absolute(config.output),
        weights=config.weights if config.weights in ("auto", "imagenet", "random")
        else absolute(config.weights))


def make_executor(batch_config: BatchConfig) -> Executor:
    """The executor `--executor` names, with its resources."""
    if batch_config.executor == "ray":
        return RayExecutor(batch_config.ray_address, batch_config.task_cpus, batch_config.task_gpus)
    return LocalExecutor()
