"""Does the optimizer's state, carried from a coarse scale to the next, save steps there?

Tübingen x Starry Night (benchmarks/pictures.py), random weights, bfloat16: `--coarse_steps`
at half `--size`, then `--fine_steps` at `--size` from the coarse result upsampled, once
with a fresh optimizer (what runs do) and once with the coarse one's state resampled to
the finer image:

- adam: both moments resampled (bilinear); with `--gradient_ratio r` the first moment is
  multiplied by r and the second by r^2 (a fine pixel's gradient is about 1/4 of a coarse
  one's: four times the pixels share the loss); the step count is kept (bias correction).
- lbfgs: each (s, y) history pair resampled, y times the ratio, and 1 / (y . s) recomputed.

Prints, for the fresh run's loss at steps 10, 25, 50 and 100, the step at which the
carried run reaches it. python benchmarks/carry_over.py --optimizer adam takes ~5 min here.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import pictures  # benchmarks/pictures.py, beside this script

sys.path.insert(0, pictures.ROOT)


def _resample(tensor, shape):
    import tensorflow as tf
    return tf.image.resize(tf.convert_to_tensor(tensor), shape[1:3], method="bilinear")


def _carry_adam(old, new, ratio: float) -> None:
    for before, after in zip(old._momentums, new._momentums):
        after.assign(_resample(before, after.shape) * ratio)
    for before, after in zip(old._velocities, new._velocities):
        after.assign(_resample(before, after.shape) * ratio ** 2)
    new.iterations.assign(old.iterations)


def _carry_lbfgs(old, new, coarse_shape, fine_shape, ratio: float) -> None:
    import tensorflow as tf
    for index in range(min(int(old.pairs), old.history_size)):
        rows = []
        for differences, scales, factor in ((old.position_differences, old.position_scales, 1.0),
                                            (old.gradient_differences, old.gradient_scales, ratio)):
            row = tf.reshape(old._history_row(differences, scales, index), coarse_shape)
            rows.append(tf.reshape(_resample(row, fine_shape), [-1]) * factor)
        for differences, scales, row in ((new.position_differences, new.position_scales, rows[0]),
                                         (new.gradient_differences, new.gradient_scales, rows[1])):
            encoded, scale = new._encoded(row)
            differences[index].assign(encoded)
            scales[index].assign(scale)
        new.inverse_curvatures[index].assign(1.0 / float(tf.reduce_sum(rows[0] * rows[1])))
    new.pairs.assign(old.pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--coarse_steps", type=int, default=100)
    parser.add_argument("--fine_steps", type=int, default=100)
    parser.add_argument("--gradient_ratio", type=float, default=0.25)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tf_style import vgg, weights
    from tf_style.config import TransferConfig
    from tf_style.inputs import prepare_inputs
    from tf_style.transfer import StyleTransfer

    config = TransferConfig(content=pictures.picture("tubingen"),
                            style=pictures.picture("starry_night"), optimizer=arguments.optimizer,
                            weights="random", size=arguments.size)
    model = vgg.build_vgg(config.content_layers + config.style_layers, precision="bfloat16")
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    fine_inputs = prepare_inputs(config, arguments.size)
    coarse = StyleTransfer.from_config(config, prepare_inputs(config, arguments.size // 2), model)
    for _ in range(arguments.coarse_steps):
        coarse.train_step()
    start = fine_inputs.upsampled(coarse.result())
    curves = {}
    for mode in ("fresh", "carried"):
        fine = StyleTransfer.from_config(config, fine_inputs, model, start)
        if mode == "carried" and arguments.optimizer == "adam":
            _carry_adam(coarse.optimizer, fine.optimizer, arguments.gradient_ratio)
        elif mode == "carried":
            _carry_lbfgs(coarse.optimizer, fine.optimizer, coarse.image.shape, fine.image.shape,
                         arguments.gradient_ratio)
        curves[mode] = np.array([float(fine.train_step()["total"])
                                 for _ in range(arguments.fine_steps)])
    print(f"{arguments.optimizer}, {arguments.size // 2} -> {arguments.size} px, "
          f"gradient ratio {arguments.gradient_ratio:g}")
    print("| fresh's step | fresh's loss | carried's loss then | carried reaches it at step |")
    print("|---|---|---|---|")
    for step in (10, 25, 50, 100):
        if step <= arguments.fine_steps:
            target, carried = curves["fresh"][step - 1], curves["carried"]
            reached = int(np.argmax(carried <= target)) + 1 if (carried <= target).any() else "never"
            print(f"| {step} | {target:.4g} | {carried[step - 1]:.4g} | {reached} |")


if __name__ == "__main__":
    main()
