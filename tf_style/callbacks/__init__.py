"""Periodic work during a run, one callback a file (as in `keras.callbacks`).

The runner's own summaries, intermediate images and progress bar are callbacks of the
same kind a user passes to `tf_style.run`.
"""

from tf_style.callbacks.batch_progress_bar import BatchProgressBar
from tf_style.callbacks.callback import (Callback, CallbackLike, LambdaCallback, StepReport,
                                         as_callback, is_due)
from tf_style.callbacks.eta import Eta
from tf_style.callbacks.intermediate_images import IntermediateImages
from tf_style.callbacks.progress_bar import ProgressBar
from tf_style.callbacks.tensorboard import TensorBoard

__all__ = ["BatchProgressBar", "Callback", "CallbackLike", "LambdaCallback", "StepReport",
           "as_callback", "is_due", "Eta", "IntermediateImages", "ProgressBar", "TensorBoard"]
