"""The default schedule (coarse to fine, stop on convergence) against 500 steps at one scale.

    python benchmarks/schedule.py                       # 512 px: all three schedules, ~13 min
    python benchmarks/schedule.py --size 3840 --only default --content tubingen_16x9.png

Each schedule is a real `train.py` run in its own process (`--weights random`, Tübingen x
Starry Night from ../shared/images unless --content/--style say otherwise): wall time
and peak RSS from the kernel (wait4), steps taken, and the total loss of the finished
picture, evaluated afresh on the same inputs at full size by one `StyleTransfer` for
both (so both losses are measured the same way); then the mean difference between the
two pictures in grey levels (0-255).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEDULES = {
    # What `train.py` did by default before the schedule: one scale, all 500 steps.
    "one scale, 500 steps": ["--scales=1", "--convergence_tolerance=0", "--iters=500"],
    "default": [],
    "tolerance 0.005": ["--convergence_tolerance=0.005"],
}


def _run(arguments, workdir):
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *arguments,
                                f"--workdir={workdir}", "--progress=false"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    error = process.stderr.read().decode()
    if status != 0:
        sys.exit(f"train.py {' '.join(arguments)} failed:\n{error[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def _evaluate(config, paths):
    """The total loss of each picture at `paths`, on the inputs of `config` at full size."""
    from tf_style import images, vgg, weights
    from tf_style.inputs import prepare_inputs
    from tf_style.transfer import StyleTransfer
    import tensorflow as tf
    inputs = prepare_inputs(config)
    model = vgg.build_vgg(config.content_layers + config.style_layers)
    weights.load_weights(model, weights.WeightsSource("random", seed=config.seed))
    transfer = StyleTransfer.from_config(config, inputs, model, tile_size=config.tile_size)
    losses = []
    for path in paths:
        picture = images.load_image(path).astype(np.float32)
        if transfer.evaluator.tile_size is not None:
            step_losses, _ = transfer.evaluator.losses_and_gradient(tf.constant(picture[None]))
        else:
            step_losses = transfer.compute_losses(tf.constant(picture[None]))
        losses.append(float(step_losses["total"]))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--content", default=pictures.picture("tubingen"))
    parser.add_argument("--style", default=pictures.picture("starry_night"))
    parser.add_argument("--only", choices=sorted(SCHEDULES), help="run one schedule")
    parser.add_argument("--workdir", help="keep the runs here (default: a new temporary folder)")
    parser.add_argument("--evaluate_tile_size", type=int,
                        help="evaluate the final losses in tiles of this size (large pictures)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    from tf_style import TransferConfig, images
    from tf_style.checkpoints import Checkpoints  # noqa: F401 - fails early on a broken install
    import tensorflow as tf

    directory = args.workdir or tempfile.mkdtemp(prefix="tf_style_schedule_")
    common = [f"--content={args.content}", f"--style={args.style}", "--weights=random",
              f"--size={args.size}"]
    rows = {}
    for name, extra in SCHEDULES.items():
        if args.only and name != args.only:
            continue
        workdir = os.path.join(directory, name.split(",")[0].replace(" ", "_"))
        seconds, peak = _run(common + extra, workdir)
        step = int(tf.train.load_checkpoint(os.path.join(workdir, "checkpoints")).get_tensor(
            "step/.ATTRIBUTES/VARIABLE_VALUE"))
        rows[name] = dict(seconds=seconds, peak=peak, steps=step,
                          output=os.path.join(workdir, "output.png"))
        print(f"{name}: {seconds:.0f} s, {step} steps, peak RSS {peak / 1e9:.2f} GB", flush=True)
    config = TransferConfig(content=args.content, style=args.style, weights="random",
                            size=args.size, tile_size=args.evaluate_tile_size)
    losses = _evaluate(config, [row["output"] for row in rows.values()])
    print(f"\n{'schedule':>22} {'seconds':>8} {'vs 500':>7} {'steps':>6} {'final loss':>11} "
          f"{'vs 500':>7} {'peak RSS GB':>11}")
    reference = rows.get("one scale, 500 steps")
    reference_loss = losses[0] if reference else None
    for (name, row), loss in zip(rows.items(), losses):
        time_ratio = f"{row['seconds'] / reference['seconds']:.0%}" if reference else "-"
        loss_ratio = f"{loss / reference_loss - 1:+.1%}" if reference else "-"
        print(f"{name:>22} {row['seconds']:>8.0f} {time_ratio:>7} {row['steps']:>6} {loss:>11.4f} "
              f"{loss_ratio:>7} {row['peak'] / 1e9:>11.2f}")
    if reference:
        first = images.load_image(reference["output"])
        for name, row in rows.items():
            if row is not reference:
                difference = np.abs(images.load_image(row["output"]) - first).mean()
                print(f"mean difference from 500 steps, {name}: {difference:.2f} grey levels (0-255)")


if __name__ == "__main__":
    main()
