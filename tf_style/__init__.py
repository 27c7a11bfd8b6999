"""tf_style: Gatys et al. neural style transfer in TensorFlow 2 / Keras 3.

    from tf_style import TransferConfig, run
    image = run(TransferConfig(content="photo.jpg", style="painting.jpg", iters=300))
"""

import importlib

from tf_style.config import TransferConfig
from tf_style.errors import TransferError

# TensorFlow-backed names load on first use, so `import tf_style.config` (and argument
# checking in train.py) stays fast and TensorFlow-free.
_LAZY = {
    "run": "tf_style.runner",
    "plan": "tf_style.runner",
    "run_batch": "tf_style.batch",
    "run_video": "tf_style.video_runner",
    "Interrupted": "tf_style.signals",
    "Callback": "tf_style.callbacks",
    "StepReport": "tf_style.callbacks",
    "PreparedInputs": "tf_style.inputs",
    "StyleTransfer": "tf_style.transfer",
}

__all__ = ["TransferConfig", "TransferError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tf_style' has no attribute {name!r}")
