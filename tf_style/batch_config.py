"""Where the pairs of a batch run: the settings of `--executor` and its Ray resources."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from tf_style.settings import (check_fields, require_non_negative_float, require_positive_float,
                               setting)

EXECUTORS: Tuple[str, ...] = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    """Where the pairs of a batch run (--content or --style naming folders or globs).

    Each field is also a flag, as TransferConfig's are.
    """

    executor: str = setting(
        "local", help="where a batch's pairs run: local (one after another here) or ray (Ray "
        "tasks; pip install -e '.[ray]')", result=False, choices=EXECUTORS)
    ray_address: Optional[str] = setting(
        None, help="with --executor ray: join this cluster (ray://head:10001, or auto on one of "
        "its machines); run directories must be on a path all workers share", result=False,
        shown_default="start a local Ray")
    task_cpus: float = setting(
        1.0, help="with --executor ray: CPUs per pair (TensorFlow uses as many threads)",
        result=False, check=require_positive_float)
    task_gpus: float = setting(
        0.0, help="with --executor ray: GPUs per pair", result=False,
        check=require_non_negative_float)

    def __post_init__(self):
        check_fields(self)
