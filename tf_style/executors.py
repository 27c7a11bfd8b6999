"""Where a batch's pairs run: one after another here, or as tasks on Ray.

An executor maps a function over run configs and yields (index, result) as each ends.
Ray is an optional extra (`pip install -e '.[ray]'`), imported only by `RayExecutor`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterator, Optional, Sequence, Tuple, TypeVar

from tf_style.config import INIT_KINDS, BatchConfig, TransferConfig
from tf_style.errors import TransferError

Result = TypeVar("Result")
PairFunction = Callable[[TransferConfig], Result]

# How often Ray runs a task again after its worker died (killed, out of memory, a lost
# node); each retry resumes the pair from its last checkpoint.
DEFAULT_MAX_RETRIES = 3


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
    """Each pair a Ray task with `task_cpus` CPUs and `task_gpus` GPUs.

    Joins the cluster at `address` (`ray://host:10001`, or `auto` on a cluster node), or
    starts a local Ray in this process when None (with `local_cpus`, default all). Run
    directories must be on a path every worker sees; paths are made absolute before they
    are sent. TensorFlow in a task uses `threads` threads (default `task_cpus`): the sums
    of a step depend on how many, so the same count gives the same picture to the bit.
    """

    def __init__(self, address: Optional[str] = None, task_cpus: float = 1.0,
                 task_gpus: float = 0.0, max_retries: int = DEFAULT_MAX_RETRIES,
                 local_cpus: Optional[int] = None, threads: Optional[int] = None):
        try:
            import ray  # noqa: F401, PLC0415
        except ImportError:
            raise TransferError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        self.address = address
        self.task_cpus = task_cpus
        self.task_gpus = task_gpus
        self.max_retries = max_retries
        self.local_cpus = local_cpus
        self.threads = threads or max(1, int(task_cpus))

    def describe(self) -> str:
        where = f"Ray at {self.address}" if self.address else "a local Ray"
        return f"as tasks on {where} ({self.task_cpus:g} CPU, {self.task_gpus:g} GPU each)"

    def map(self, function: PairFunction, configs: Sequence[TransferConfig]
            ) -> Iterator[Tuple[int, Result]]:
        import ray  # noqa: PLC0415

        if not ray.is_initialized():
            # Workers' own output stays in Ray's log files (/tmp/ray/session_latest/logs):
            # here it would interleave TensorFlow's start-up lines of every task. What a
            # pair says that matters comes back in its result.
            ray.init(address=self.address, num_cpus=None if self.address else self.local_cpus,
                     include_dashboard=False, logging_level="error", log_to_driver=False)
        task = ray.remote(num_cpus=self.task_cpus, num_gpus=self.task_gpus,
                          max_retries=self.max_retries)(_task)
        # No progress bar per task: many would interleave on the driver's terminal; the
        # batch logs a line (with its ETA) as each pair ends.
        pending = {task.remote(function, _absolute(dataclasses.replace(config, progress=False)),
                               self.threads): index
                   for index, config in enumerate(configs)}
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready)
                try:
                    yield index, ray.get(ready)
                except ray.exceptions.RayError as error:
                    raise TransferError(f"{os.path.basename(configs[index].run_dir)} failed on "
                                        f"Ray after {self.max_retries} retries: "
                                        f"{str(error).splitlines()[0]}") from None
        finally:
            for reference in pending:
                ray.cancel(reference)


def _task(function: PairFunction, config: TransferConfig, threads: int) -> Result:
    """What a Ray worker runs: TensorFlow held to the task's CPUs, then the pair."""
    # Read by TensorFlow when it starts in this worker; without them each task would use
    # every core of its machine and the tasks sharing it would fight over them.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(threads))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return function(config)


def _absolute(config: TransferConfig) -> TransferConfig:
    """The config with its paths absolute: a worker's working directory is not ours."""
    def absolute(path: Optional[str]) -> Optional[str]:
        return os.path.abspath(path) if path else path

    init = config.init if config.init in INIT_KINDS else absolute(config.init)
    return dataclasses.replace(
        config, content=absolute(config.content), style=tuple(map(absolute, config.style)),
        workdir=absolute(config.run_dir), weights_dir=absolute(config.weights_dir), init=init,
        output=absolute(config.output),
        weights=config.weights if config.weights in ("auto", "imagenet", "random")
        else absolute(config.weights))


def make_executor(batch_config: BatchConfig) -> Executor:
    """The executor `--executor` names, with its resources."""
    if batch_config.executor == "ray":
        return RayExecutor(batch_config.ray_address, batch_config.task_cpus, batch_config.task_gpus)
    return LocalExecutor()
