"""The memory plan against measurement: predicted and measured peak RSS and seconds per step.

    python benchmarks/memory.py                  # 256-2048 px whole, 2048 px in 1024/512/256 tiles
    python benchmarks/memory.py --fit            # also fit tf_style/memory.py's constants
    python benchmarks/memory.py --runs 3840:1024,7680x4320:1280 --iters 2
    python benchmarks/memory.py --precision bfloat16 --fit   # bfloat16's constants
    python benchmarks/memory.py --model vgg16 --runs 512:0,1024:0,2048:1024   # VGG16's scaled model

Each row is a real `train.py` run in its own process (`--weights random`, Tübingen x
Starry Night from ../shared/images, one scale, `--iters` steps, `--tile_size` as listed):
its peak RSS from the kernel (wait4), the median seconds of its steps after the first
(TensorBoard's perf/seconds_per_step), and what `tf_style.plan` predicts for it.
A size is the longest side (the photo's 4:3) or WxH (the photo cropped to that shape).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RUNS = "256:0,512:0,1024:0,1536:0,2048:0,2048:1024,2048:512,2048:256,1024:256"


def _content_for(size: str, directory: str):
    """The photo for a size: the file itself for a longest side, else cropped to WxH's shape."""
    from tf_style import images
    photo = pictures.picture("tubingen")
    if "x" not in size:
        return photo, int(size)
    width, height = (int(v) for v in size.split("x"))
    image = images.load_image(photo)
    rows, columns = image.shape[:2]
    if columns / rows > width / height:  # too wide: crop the sides
        keep = round(rows * width / height)
        image = image[:, (columns - keep) // 2:(columns - keep) // 2 + keep]
    else:
        keep = round(columns * height / width)
        image = image[(rows - keep) // 2:(rows - keep) // 2 + keep]
    path = os.path.join(directory, f"tubingen_{width}x{height}.png")
    images.save_image(path, images.resize(image, (width, height)))
    return path, max(width, height)


def _measure(arguments, workdir):
    """Runs train.py; returns (peak RSS bytes, median seconds per step after the first)."""
    from tensorboard.backend.event_processing import event_accumulator
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *arguments,
                                "--workdir", workdir], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    error = process.stderr.read().decode()
    if status != 0:
        sys.exit(f"train.py {' '.join(arguments)} failed:\n{error[-2000:]}")
    accumulator = event_accumulator.EventAccumulator(
        workdir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    seconds = [float(tf_make_ndarray(event.tensor_proto))
               for event in accumulator.Tensors("perf/seconds_per_step")][1:]
    return usage.ru_maxrss * 1024, float(np.median(seconds)) if seconds else float("nan")


def tf_make_ndarray(proto):
    import tensorflow as tf
    return tf.make_ndarray(proto)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS,
                        help="size:tile pairs (tile 0 = whole image)")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--fit", action="store_true", help="fit the model's constants")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--model", default="vgg19", choices=("vgg19", "vgg16"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    from tf_style import TransferConfig, memory, plan

    directory = tempfile.mkdtemp(prefix="tf_style_memory_")
    style = pictures.picture("starry_night")
    rows = []
    print(f"{'size':>10} {'tile':>6} {'tiles':>5} {'predicted GB':>12} {'measured GB':>11} "
          f"{'error':>6} {'pred. s/step':>12} {'s/step':>7}", flush=True)
    for index, run in enumerate(args.runs.split(",")):
        size, tile = run.split(":")
        content, longest = _content_for(size, directory)
        settings = dict(content=content, style=style, weights="random", size=longest,
                        scales=(1,), iters=args.iters, tile_size=int(tile) or None,
                        memory_limit=1000.0, summary_every=1, progress=False,
                        precision=args.precision, model=args.model)
        config = TransferConfig(**settings)
        predicted = plan(config)
        scale = predicted.scales[-1]
        arguments = [f"--content={content}", f"--style={style}", "--weights=random",
                     f"--size={longest}", "--scales=1", f"--iters={args.iters}",
                     "--memory_limit=1000", "--summary_every=1", "--progress=false",
                     "--checkpoint_every=1000", "--save_every=1000", f"--precision={args.precision}",
                     f"--model={args.model}"]
        if int(tile):
            arguments.append(f"--tile_size={tile}")
        peak, seconds = _measure(arguments, os.path.join(directory, f"run{index}"))
        error = scale.peak_bytes / peak - 1
        rows.append((config, scale, peak, seconds, predicted))
        print(f"{scale.width}x{scale.height:<5} {tile if int(tile) else 'whole':>6} {scale.tiles:>5} "
              f"{scale.peak_bytes / memory.GB:>12.2f} {peak / memory.GB:>11.2f} {error:>+6.0%} "
              f"{scale.seconds_per_step:>12.2f} {seconds:>7.2f}", flush=True)
    if args.fit:
        _fit(rows, args.precision)


def _fit(rows, precision: str) -> None:
    """Least squares for the model's base, per-image-pixel and per-network-pixel bytes, and
    its time constants, for `precision` on this CPU."""
    from tf_style import memory
    design, target = [], []
    time_design, time_target = [], []
    for config, scale, peak, seconds, predicted in rows:
        height, width, tile = scale.height, scale.width, scale.tile_size
        model = memory.cost_model("cpu", precision, config)
        exact = scale.peak_bytes - (model.base_bytes + model.per_image_pixel_bytes * height * width
                                    + model.per_network_pixel_bytes
                                    * memory.network_pixels(config, height, width, tile))
        design.append([1.0, height * width, memory.network_pixels(config, height, width, tile)])
        target.append(peak - exact)
        seen = memory.network_pixels_per_step(config, height, width, tile)
        time_design.append([1.0, seen if tile is None else 0.0, seen if tile else 0.0])
        time_target.append(seconds)
    base, per_image, per_network = np.linalg.lstsq(np.array(design), np.array(target), rcond=None)[0]
    fixed, per_pixel, per_tiled_pixel = np.linalg.lstsq(
        np.array(time_design), np.array(time_target), rcond=None)[0]
    print(f"\nCPU_{precision.upper()} = CostModel(\n"
          f"    base_bytes={base / 1e9:.3f}e9, per_image_pixel_bytes={per_image:.1f}, "
          f"per_network_pixel_bytes={per_network:.1f},\n"
          f"    seconds_per_step={fixed:.3f}, seconds_per_network_pixel={per_pixel:.3g}, "
          f"tiled_pass_cost={per_tiled_pixel / per_pixel:.3f}, ...)")


if __name__ == "__main__":
    main()
