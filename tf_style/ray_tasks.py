"""The one way tf_style runs work on Ray, for a batch's pairs (`tf_style.executors`) and the
web page's runs (`tf_style.web.ray_launcher`) alike: joining the cluster, a task's
resources, and TensorFlow held to the CPUs a task was given.

Ray is an optional extra (`pip install -e '.[ray]'`), imported only when a task is made.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Optional

from tf_style.errors import TransferError

# How often Ray runs a task again after its worker died (killed, out of memory, a lost
# node); each retry resumes the run from its last checkpoint.
DEFAULT_MAX_RETRIES = 3


@dataclasses.dataclass(frozen=True)
class TaskResources:
    """What one run asks Ray for: CPUs, GPUs, and how often to retry it."""

    cpus: float = 1.0
    gpus: float = 0.0
    max_retries: int = DEFAULT_MAX_RETRIES

    def for_device(self, device: str) -> "TaskResources":
        """These resources for a run whose --device is `device`: a run that must have a
        GPU asks for one, whatever `gpus` says."""
        if device == "gpu" and self.gpus <= 0:
            return dataclasses.replace(self, gpus=1.0)
        return self

    def describe(self) -> str:
        return f"{self.cpus:g} CPU, {self.gpus:g} GPU each"


def import_ray():
    """The `ray` module; TransferError saying how to install it when it is missing."""
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise TransferError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def connect(address: Optional[str], local_cpus: Optional[int] = None) -> None:
    """Joins the cluster at `address` (`ray://host:10001`, `auto`), or starts a local Ray
    (with `local_cpus`, default all), once per process."""
    ray = import_ray()
    if ray.is_initialized():
        return
    # Workers' own output stays in Ray's log files (/tmp/ray/session_latest/logs): here it
    # would interleave TensorFlow's start-up lines of every task. What a run says that
    # matters comes back in its result or its events.
    ray.init(address=address, num_cpus=None if address else local_cpus,
             include_dashboard=False, logging_level="error", log_to_driver=False)


def remote(function: Callable, resources: TaskResources):
    """`function` as a Ray remote function asking for `resources`."""
    return import_ray().remote(num_cpus=resources.cpus, num_gpus=resources.gpus,
                               max_retries=resources.max_retries)(function)


def thread_environment(threads: int) -> Dict[str, str]:
    """The variables that hold TensorFlow to `threads` threads when it starts: without them
    each task would use every core of its machine and the tasks sharing it would fight
    over them. The sums of a step depend on the count, so the same count gives the same
    picture to the bit."""
    threads = str(max(1, int(threads)))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}


def assigned_cpus() -> float:
    """The CPUs Ray gave the task this runs in."""
    return import_ray().get_runtime_context().get_assigned_resources().get("CPU", 1.0)


def hold_tensorflow_to(threads: int) -> None:
    """In a task, before TensorFlow starts: `thread_environment`, unless already set."""
    for name, value in thread_environment(threads).items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
