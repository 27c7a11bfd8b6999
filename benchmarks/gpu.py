"""The device check for a GPU: seconds per step, peak GPU memory and the plan, in a few minutes.

    pip install -e '.[gpu]' && python benchmarks/gpu.py --json gpu.json    # about 6 min on an H200
    python benchmarks/gpu.py --quick            # small sizes: checks the script anywhere

On --weights random, Tübingen x Starry Night from ../shared/images (cropped to 16:9 for
WxH sizes), in one process:
1. each size, whole and in tiles, in float32 (TF32 on Ampere and later) and bfloat16:
   the median seconds of --steps L-BFGS steps after two of warm-up, TensorFlow's peak GPU
   memory over them (`tf.config.experimental.get_memory_info`, reset before), and what
   the plan (`tf_style.memory`) predicts for it;
2. XLA: the 512 px loss and gradient compiled with and without `jit_compile` (L-BFGS's
   update cannot be: its history writes need compile-time indices);
3. the largest size that runs whole in bfloat16, growing until TensorFlow runs out;
4. whole runs with `tf_style.run` (set-up included): the default 512 px run to a
   finished picture, 500 steps at 512 px, and 3840x2160 with the defaults (--big adds
   7680x4320): seconds, steps, and whether each ended without an error.
Without a GPU it runs the same on the CPU (peak memory not measured), to check the script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTENT = pictures.picture("tubingen")
STYLE = pictures.picture("starry_night")


def _shape(size: str):
    """(height, width) for a longest side (the photo's 4:3) or WxH."""
    if "x" in size:
        width, height = (int(value) for value in size.split("x"))
        return height, width
    return int(size) * 3 // 4, int(size)


def _pictures(height: int, width: int):
    import numpy as np
    from tf_style import images
    photo = images.load_image(CONTENT)
    rows, columns = photo.shape[:2]
    if columns / rows > width / height:
        keep = round(rows * width / height)
        photo = photo[:, (columns - keep) // 2:(columns - keep) // 2 + keep]
    else:
        keep = round(columns * height / width)
        photo = photo[(rows - keep) // 2:(rows - keep) // 2 + keep]
    content = images.resize(photo, (width, height)).astype(np.float32)
    style = images.resize_longest_side(images.load_image(STYLE), max(height, width))
    return content, style


def _peak_bytes(gpu: bool):
    import tensorflow as tf
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] if gpu else float("nan")


def step_row(size: str, tile_size, precision: str, steps: int, gpu: bool, device) -> dict:
    """One transfer's seconds per step and peak memory, beside the plan's prediction."""
    import tensorflow as tf
    from tf_style import TransferConfig, memory, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    height, width = _shape(size)
    content, style = _pictures(height, width)
    config = TransferConfig(content="c", style="s", size=max(height, width), weights="random",
                            precision=precision, tile_size=tile_size)
    model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    state_device = "/CPU:0" if gpu and tile_size else None
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [style]),
                                         model, state_device=state_device)
    for _ in range(2):
        float(transfer.train_step()["total"])
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        float(transfer.train_step()["total"])
        seconds.append(time.perf_counter() - started)
    cost = memory.cost_model(device.kind, precision, config)
    predicted = memory.peak_bytes(config, height, width, tile_size, 0.0, cost, precision)
    return {"size": f"{width}x{height}", "tile_size": tile_size, "precision": precision,
            "seconds_per_step": statistics.median(seconds), "peak_bytes": _peak_bytes(gpu),
            "predicted_bytes": predicted}


def xla_rows(size: str, steps: int) -> list:
    """Median seconds of the loss and its gradient, with and without XLA, per precision."""
    import tensorflow as tf
    from tf_style import TransferConfig, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    height, width = _shape(size)
    content, style = _pictures(height, width)
    rows = []
    for precision in ("float32", "bfloat16"):
        config = TransferConfig(content="c", style="s", size=max(height, width), precision=precision)
        model = vgg.build_vgg(config.content_layers + config.style_layers, precision=precision)
        weights.load_weights(model, weights.WeightsSource("random", seed=0))
        transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [style]),
                                             model)

        def loss_and_gradient():
            with tf.GradientTape() as tape:
                total = transfer.compute_losses(transfer.image)["total"]
            return tape.gradient(total, transfer.image)

        functions = {jit: tf.function(loss_and_gradient, jit_compile=jit) for jit in (False, True)}
        seconds = {jit: [] for jit in functions}
        for round_index in range(2 + steps):
            for jit, function in functions.items():
                started = time.perf_counter()
                function().numpy()
                if round_index >= 2:
                    seconds[jit].append(time.perf_counter() - started)
        rows.append({"precision": precision, "seconds": statistics.median(seconds[False]),
                     "xla_seconds": statistics.median(seconds[True])})
        print(f"  {width}x{height} {precision}: {rows[-1]['seconds']:.4f} s, with XLA "
              f"{rows[-1]['xla_seconds']:.4f} s", flush=True)
    return rows


def largest_whole(sizes, steps: int, gpu: bool, device) -> str:
    """The largest of `sizes` whose bfloat16 step runs whole."""
    import tensorflow as tf
    largest = "none"
    for size in sizes:
        try:
            row = step_row(size, None, "bfloat16", steps, gpu, device)
        except tf.errors.ResourceExhaustedError:
            break
        largest = size
        print(f"  {row['size']} whole in bfloat16: {row['seconds_per_step']:.3f} s/step, "
              f"peak {row['peak_bytes'] / 1e9:.1f} GB", flush=True)
    return largest


def whole_run(name: str, **settings) -> dict:
    from tf_style import TransferConfig, run
    steps = []
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            run(TransferConfig(content=settings.pop("content", CONTENT), style=STYLE,
                               weights="random", workdir=workdir, progress=False, **settings),
                callbacks=[lambda report: steps.append(report.step)])
        error = None
    except Exception as exception:  # noqa: BLE001 - reported in the table
        error = f"{type(exception).__name__}: {str(exception)[:200]}"
    seconds = time.perf_counter() - started
    print(f"  {name}: {seconds:.1f} s, {steps[-1] if steps else 0} steps"
          f"{', ' + error if error else ''}", flush=True)
    return {"run": name, "seconds": seconds, "steps": steps[-1] if steps else 0, "error": error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and runs")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="also 7680x4320 with the defaults")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import tensorflow as tf
    from tf_style import devices

    device = devices.find_device("auto")
    devices.configure(device)
    gpu = device.kind == "gpu"
    print(f"{datetime.date.today()}: {device.describe()}, tensorflow {tf.__version__}")
    if args.quick:
        rows = [("256", None), ("256", 128)]
        largest_sizes, runs = ["256", "384"], [("default 256 px run", dict(size=256, iters=30))]
    else:
        rows = [("512", None), ("1024", None), ("2048", None), ("2048", 1024),
                ("3840x2160", None), ("3840x2160", 1280)]
        largest_sizes = ["3840x2160", "5120x2880", "7680x4320", "10240x5760", "15360x8640"]
        runs = [("default 512 px run", dict(size=512)),
                ("500 steps at 512 px", dict(size=512, scales=(), iters=500,
                                             convergence_tolerance=0)),
                ("3840x2160, defaults", dict(size=3840, content=_wide_content()))]
        if args.big:
            runs.append(("7680x4320, defaults", dict(size=7680, content=_wide_content())))
    results = {"date": str(datetime.date.today()), "device": device.describe(), "steps": []}
    print(f"\n{'size':>10} {'tiles':>6} {'precision':>9} {'s/step':>8} {'peak GB':>8} "
          f"{'plan GB':>8}")
    for size, tile_size in rows:
        for precision in ("float32", "bfloat16"):
            try:
                row = step_row(size, tile_size, precision, args.steps, gpu, device)
            except tf.errors.ResourceExhaustedError:
                print(f"{size:>10} {tile_size or 'whole':>6} {precision:>9} out of memory")
                continue
            results["steps"].append(row)
            print(f"{row['size']:>10} {tile_size or 'whole':>6} {precision:>9} "
                  f"{row['seconds_per_step']:>8.3f} {row['peak_bytes'] / 1e9:>8.2f} "
                  f"{row['predicted_bytes'] / 1e9:>8.2f}", flush=True)
    print("\nloss and gradient, without and with XLA (jit_compile):")
    results["xla"] = xla_rows("256" if args.quick else "512", args.steps)
    print("\nlargest size whole in bfloat16:")
    results["largest_whole"] = largest_whole(largest_sizes, 2, gpu, device)
    print(f"  -> {results['largest_whole']}")
    print("\nwhole runs (precision auto):")
    results["runs"] = [whole_run(name, precision="auto", **settings) for name, settings in runs]
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


def _wide_content() -> str:
    """Tübingen cropped to 16:9 (1024x576), written to a temporary file."""
    from tf_style import images
    content, _ = _pictures(576, 1024)
    path = os.path.join(tempfile.mkdtemp(prefix="tf_style_gpu_"), "tubingen_16x9.png")
    images.save_image(path, content)
    return path


if __name__ == "__main__":
    main()
