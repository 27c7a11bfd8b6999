"""tf_style: Gatys et al. neural style transfer in TensorFlow 2 / Keras 3.

    from tf_style import TransferConfig, run
    image = run(TransferConfig(content="photo.jpg", style="painting.jpg", iters=300))
"""

from tf_style.config import TransferConfig
from tf_style.errors import TransferError
from tf_style.runner import Interrupted, StepReport, run
from tf_style.transfer import StyleTransfer

__all__ = ["TransferConfig", "TransferError", "Interrupted", "StepReport", "StyleTransfer", "run"]
