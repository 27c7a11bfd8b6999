"""A stand-in for StyleTransfer with what callbacks read: the image and a compiled step."""

import numpy as np
import tensorflow as tf

from tf_style.callbacks import StepReport

LOSSES = {"total": 12.5, "content": 0.25, "style": 0.0125, "tv": 0.03, "style/block1_conv1": 0.01}


class FakeTransfer:
    def __init__(self, image: np.ndarray):
        self.image = tf.Variable(image[None].astype(np.float32))
        self.train_step = tf.function(lambda: {"total": tf.reduce_sum(tf.nn.relu(self.image))})

    def step_graph(self):
        return self.train_step.get_concrete_function().graph

    def result(self) -> np.ndarray:
        return self.image.numpy()[0]


def report(step, transfer, iters=10, scale_end=10, seconds=1.0, presenter=None, losses=None,
           scale_index=0, scale_step=None):
    extra = {} if presenter is None else {"presenter": presenter}
    return StepReport(step, iters, dict(losses or LOSSES), seconds, transfer, scale_end, **extra,
                      scale_index=scale_index, scale_step=step if scale_step is None else scale_step)
