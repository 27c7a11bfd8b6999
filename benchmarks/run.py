"""Speed and convergence benchmark: prints a table and writes JSON.

    python benchmarks/run.py                 # 256 and 512 px, 1000-step Adam reference
    python benchmarks/run.py --quick         # a smoke run of a few minutes

Measures, on --weights random --seed 0 with ../shared/images/tubingen.jpg and
starry_night.jpg (synthetic images when those are absent):
- seconds per step for each optimizer at each size, beside this machine's float32
  matmul peak measured in the same run, and the fraction of it a step reaches
  (a step's FLOPs counted from the conv layer shapes: forward + input gradient);
- time to quality: the total loss plain Adam reaches after --reference_steps at the
  largest size, and the wall time each optimizer needs to reach it, as a ratio;
- peak memory (RSS) of each mode, each in its own process.
Compare numbers within one run only: a shared machine is noisy across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "images")
OPTIMIZERS = ("adam", "lbfgs")


def _inputs(size: int):
    import numpy as np
    from tf_style import images
    content_path = os.path.join(SHARED, "tubingen.jpg")
    style_path = os.path.join(SHARED, "starry_night.jpg")
    if os.path.exists(content_path) and os.path.exists(style_path):
        content = images.resize_longest_side(images.load_image(content_path), size)
        style = images.resize_longest_side(images.load_image(style_path), size)
        return content, style, "shared images"
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from conftest import synthetic_image
    content = synthetic_image(size * 3 // 4, size, seed=1).astype(np.float32)
    style = synthetic_image(size, size, seed=2).astype(np.float32)
    return content, style, "synthetic images"


def _transfer(size: int, optimizer: str):
    from tf_style import vgg, weights
    from tf_style.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, DEFAULT_LEARNING_RATES
    from tf_style.transfer import StyleTransfer
    content, style, source = _inputs(size)
    model = vgg.build_vgg19(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    transfer = StyleTransfer(
        model, content, style, content, content_layers=DEFAULT_CONTENT_LAYERS,
        style_layers=DEFAULT_STYLE_LAYERS, style_layer_weights=[0.2] * 5, content_weight=1.0,
        style_weight=1e3, tv_weight=1e-2, optimizer=optimizer,
        learning_rate=DEFAULT_LEARNING_RATES[optimizer])
    return transfer, model, source


def step_flops(model, height: int, width: int) -> float:
    """Forward conv FLOPs times two: the backward pass computes only the input gradient."""
    from tf_style import vgg
    total = 0.0
    for layer in vgg.conv_layers(model):
        block = int(layer.name[5])
        h, w = height // 2 ** (block - 1), width // 2 ** (block - 1)
        kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
        total += 2.0 * h * w * kernel_h * kernel_w * channels_in * channels_out
    return 2.0 * total


def matmul_peak(seconds: float = 3.0) -> float:
    """Best float32 GFLOP/s of a 2048^3 matmul over a few seconds."""
    import tensorflow as tf
    n = 2048
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    multiply = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    multiply().numpy()
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        multiply().numpy()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - started) / 1e9)
    return best


def worker(task: dict) -> dict:
    """One measurement in this process; prints nothing but its JSON result."""
    transfer, model, source = _transfer(task["size"], task["optimizer"])
    height, width = transfer.image.shape[1:3]
    result = {"task": task, "inputs": source, "height": height, "width": width,
              "gflop_per_step": step_flops(model, height, width) / 1e9}
    if task["kind"] == "speed":
        for _ in range(3):  # tracing and warm-up
            transfer.train_step()["total"].numpy()
        times = []
        for _ in range(task["steps"]):
            started = time.perf_counter()
            transfer.train_step()["total"].numpy()
            times.append(time.perf_counter() - started)
        result["seconds_per_step"] = sorted(times)[len(times) // 2]
    else:  # quality: run until the target loss (or the step budget) is reached
        started = time.perf_counter()
        target = task.get("target")
        losses = []
        for step in range(1, task["steps"] + 1):
            loss = float(transfer.train_step()["total"])
            losses.append(loss)
            if target is not None and loss <= target:
                break
        result["seconds"] = time.perf_counter() - started
        result["steps"] = len(losses)
        result["final_loss"] = losses[-1]
        result["reached"] = target is None or losses[-1] <= target
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _run_worker(task: dict) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], cwd=ROOT, check=True,
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and step counts")
    parser.add_argument("--sizes", default=None, help="comma-separated longest sides (px)")
    parser.add_argument("--reference_steps", type=int, default=None,
                        help="Adam steps that set the quality target (default 1000; quick 60)")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    sizes = [int(s) for s in (args.sizes or ("128,256" if args.quick else "256,512")).split(",")]
    reference_steps = args.reference_steps or (60 if args.quick else 1000)
    speed_steps = 3 if args.quick else 10
    report = {"matmul_peak_gflops": None, "speed": [], "quality": []}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    report["matmul_peak_gflops"] = matmul_peak()
    peak = report["matmul_peak_gflops"]
    print(f"float32 matmul peak: {peak:.0f} GFLOP/s")
    print(f"{'size':>6} {'optimizer':>9} {'GFLOP/step':>10} {'s/step':>8} {'% of peak':>9} {'peak RSS MB':>11}")
    for size in sizes:
        for optimizer in OPTIMIZERS:
            result = _run_worker({"kind": "speed", "size": size, "optimizer": optimizer,
                                  "steps": speed_steps})
            result["fraction_of_peak"] = result["gflop_per_step"] / result["seconds_per_step"] / peak
            report["speed"].append(result)
            print(f"{size:>6} {optimizer:>9} {result['gflop_per_step']:>10.1f} "
                  f"{result['seconds_per_step']:>8.3f} {100 * result['fraction_of_peak']:>8.0f}% "
                  f"{result['peak_rss_mb']:>11.0f}")

    size = max(sizes)
    reference = _run_worker({"kind": "quality", "size": size, "optimizer": "adam",
                             "steps": reference_steps})
    target = reference["final_loss"]
    report["quality"].append(reference)
    print(f"\ntime to quality at {size} px: target = loss of {reference_steps}-step Adam = {target:.4g}")
    print(f"{'optimizer':>9} {'steps':>6} {'seconds':>8} {'vs Adam':>8} {'reached':>8} {'peak RSS MB':>11}")
    print(f"{'adam':>9} {reference['steps']:>6} {reference['seconds']:>8.1f} {1.0:>8.2f} "
          f"{'yes':>8} {reference['peak_rss_mb']:>11.0f}")
    for optimizer in OPTIMIZERS[1:]:
        result = _run_worker({"kind": "quality", "size": size, "optimizer": optimizer,
                              "steps": reference_steps, "target": target})
        result["ratio_to_adam"] = result["seconds"] / reference["seconds"]
        report["quality"].append(result)
        print(f"{optimizer:>9} {result['steps']:>6} {result['seconds']:>8.1f} "
              f"{result['ratio_to_adam']:>8.2f} {'yes' if result['reached'] else 'no':>8} "
              f"{result['peak_rss_mb']:>11.0f}")
    with open(args.output, "w") as file:
        json.dump(report, file, indent=2)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
