"""float32 against bfloat16: seconds per step, the picture, and time to a finished picture.

    python benchmarks/precision.py                   # all three parts, about 35 min
    python benchmarks/precision.py --parts speed     # seconds per step only, a few minutes

On --weights random, Tübingen x Starry Night from ../shared/images:
- speed: one process holds a float32 and a bfloat16 transfer and steps them in turn
  (alternating, so both see the same machine), 3 steps of warm-up then --steps each; the
  median seconds of a 512 px L-BFGS step and of a 2048 px step in 1024 px tiles;
- picture (--picture_size, 256 px): train.py runs with the defaults in float32, in float32
  from a start image with 0.1% seeded noise (--init_noise_ratio 0.001: how far a
  perturbation alone moves the picture, the floor), and in bfloat16; and float32 and
  bfloat16 for a fixed --fixed_steps. Every picture's loss is evaluated by the same float32
  objective, and its mean distance from the float32 picture in grey levels (0-255);
- time (--time_size, 512 px): the defaults in float32 and bfloat16, and 500 steps at one
  scale in both: seconds, steps, peak RSS, the loss and distance from 500 steps in the
  same precision, and the time as a share of 500 float32 steps; both also at each of
  --tolerances.
Compare numbers within one run only: a shared machine is noisy across runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from schedule import ROOT, _evaluate, _run  # benchmarks/schedule.py, beside this script
import pictures  # benchmarks/pictures.py, beside this script

CONTENT = pictures.picture("tubingen")
STYLE = pictures.picture("starry_night")


def _transfers(size: int, tile_size):
    """A float32 and a bfloat16 transfer of the default run at `size`, as tf_style.run builds them."""
    from tf_style import TransferConfig, images, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    content, style = (images.resize_longest_side(images.load_image(path), size)
                      for path in (CONTENT, STYLE))
    config = TransferConfig(content="content", style="style", size=size, weights="random")
    transfers = {}
    for precision in ("float32", "bfloat16"):
        model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision)
        weights.load_weights(model, weights.WeightsSource("random", seed=0))
        transfers[precision] = StyleTransfer.from_config(
            config, PreparedInputs.from_arrays(content, [style]), model, tile_size=tile_size)
    return transfers


def speed(steps: int) -> None:
    print(f"{'step':>28} {'float32 s':>10} {'bfloat16 s':>10} {'speed-up':>9}", flush=True)
    for size, tile_size in ((512, None), (2048, 1024)):
        transfers = _transfers(size, tile_size)
        for transfer in transfers.values():
            for _ in range(3):
                float(transfer.train_step()["total"])
        seconds = {precision: [] for precision in transfers}
        for _ in range(steps):
            for precision, transfer in transfers.items():
                started = time.perf_counter()
                float(transfer.train_step()["total"])
                seconds[precision].append(time.perf_counter() - started)
        float32, bfloat16 = (statistics.median(seconds[p]) for p in ("float32", "bfloat16"))
        height, width = transfers["float32"].image.shape[1:3]
        how = "whole" if tile_size is None else f"{tile_size} px tiles"
        print(f"{f'{width}x{height} L-BFGS, {how}':>28} {float32:>10.3f} {bfloat16:>10.3f} "
              f"{float32 / bfloat16:>8.2f}x", flush=True)


def _train(directory: str, name: str, size: int, extra):
    """One train.py run: its seconds, peak RSS, steps and output path."""
    import tensorflow as tf
    workdir = os.path.join(directory, name)
    seconds, peak = _run([f"--content={CONTENT}", f"--style={STYLE}", "--weights=random",
                          f"--size={size}", *extra], workdir)
    steps = int(tf.train.load_checkpoint(os.path.join(workdir, "checkpoints")).get_tensor(
        "step/.ATTRIBUTES/VARIABLE_VALUE"))
    print(f"  {name}: {seconds:.0f} s, {steps} steps, peak RSS {peak / 1e9:.2f} GB", flush=True)
    return dict(seconds=seconds, peak=peak, steps=steps, output=os.path.join(workdir, "output.png"))


def _table(rows, size: int, reference: str, timing: str = None) -> None:
    """Each run's float32-objective loss and distance from `reference`; time against `timing`."""
    from tf_style import TransferConfig, images
    config = TransferConfig(content=CONTENT, style=STYLE, weights="random", size=size)
    losses = dict(zip(rows, _evaluate(config, [row["output"] for row in rows.values()])))
    picture = images.load_image(rows[reference]["output"])
    print(f"\n{'run':>34} {'steps':>6} {'seconds':>8} {'time':>6} {'float32 loss':>13} "
          f"{'vs ref.':>8} {'grey levels from ref.':>22} {'peak RSS GB':>12}")
    for name, row in rows.items():
        share = f"{row['seconds'] / rows[timing]['seconds']:.0%}" if timing else "-"
        distance = np.abs(images.load_image(row["output"]) - picture).mean()
        print(f"{name:>34} {row['steps']:>6} {row['seconds']:>8.0f} {share:>6} "
              f"{losses[name]:>13.5f} {losses[name] / losses[reference] - 1:>+8.2%} "
              f"{distance:>22.2f} {row['peak'] / 1e9:>12.2f}")
    return losses


def picture(directory: str, size: int, fixed_steps: int) -> None:
    print(f"picture at {size} px (reference: float32 with the defaults)", flush=True)
    runs = {
        "float32, defaults": ["--precision=float32"],
        "float32, 0.1% noise (the floor)": ["--precision=float32", "--init_noise_ratio=0.001"],
        "bfloat16, defaults": ["--precision=bfloat16"],
    }
    rows = {name: _train(directory, f"picture_{index}", size, extra)
            for index, (name, extra) in enumerate(runs.items())}
    _table(rows, size, "float32, defaults", "float32, defaults")
    fixed = [f"--iters={fixed_steps}", "--convergence_tolerance=0"]
    print(f"\npicture at {size} px, {fixed_steps} steps each (reference: float32)", flush=True)
    rows = {f"{precision}, {fixed_steps} steps": _train(
        directory, f"fixed_{precision}", size, [f"--precision={precision}", *fixed])
        for precision in ("float32", "bfloat16")}
    _table(rows, size, f"float32, {fixed_steps} steps", f"float32, {fixed_steps} steps")


def time_to_picture(directory: str, size: int, tolerances) -> None:
    print(f"\ntime to a finished picture at {size} px", flush=True)
    five_hundred = ["--scales=1", "--convergence_tolerance=0", "--iters=500"]
    runs = {"float32, 500 steps": ["--precision=float32", *five_hundred],
            "bfloat16, 500 steps": ["--precision=bfloat16", *five_hundred],
            "float32, defaults": ["--precision=float32"],
            "bfloat16, defaults": ["--precision=bfloat16"]}
    for tolerance in tolerances:
        for precision in ("float32", "bfloat16"):
            runs[f"{precision}, tolerance {tolerance:g}"] = [
                f"--precision={precision}", f"--convergence_tolerance={tolerance:g}"]
    rows = {name: _train(directory, f"time_{index}", size, extra)
            for index, (name, extra) in enumerate(runs.items())}
    print("\nagainst 500 float32 steps:")
    _table(rows, size, "float32, 500 steps", "float32, 500 steps")
    print("\nagainst 500 bfloat16 steps:")
    _table(rows, size, "bfloat16, 500 steps", "float32, 500 steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,picture,time")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--picture_size", type=int, default=256)
    parser.add_argument("--fixed_steps", type=int, default=200)
    parser.add_argument("--time_size", type=int, default=512)
    parser.add_argument("--tolerances", default="", help="more runs of each precision: 0.005,0.003")
    parser.add_argument("--workdir", help="keep the runs here (default: a new temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    directory = args.workdir or tempfile.mkdtemp(prefix="tf_style_precision_")
    parts = args.parts.split(",")
    if "speed" in parts:
        speed(args.steps)
    if "picture" in parts:
        picture(directory, args.picture_size, args.fixed_steps)
    if "time" in parts:
        time_to_picture(directory, args.time_size,
                        [float(value) for value in args.tolerances.split(",") if value])


if __name__ == "__main__":
    main()
