"""Speed and convergence benchmark: prints a table and writes JSON.

    python benchmarks/run.py                 # 256 and 512 px, 1000-step Adam reference
    python benchmarks/run.py --quick         # a smoke run of a few minutes
    python benchmarks/run.py --parts speed   # only the per-step table (a few minutes)

Measures, on --weights random --seed 0 with ../shared/images/tubingen.jpg and
starry_night.jpg (synthetic images when those are absent):
- seconds per step (best and median of 10) for each optimizer at each size, beside this machine's float32
  matmul peak measured in the same run, and the fraction of it a step reaches
  (a step's FLOPs counted from the conv layer shapes: forward + input gradient);
  also the bare network's forward + input gradient, to show what the losses add;
- time to quality: the total loss plain single-scale Adam reaches after
  --reference_steps at the largest size, and the wall time each mode (a whole
  `tf_style.run`, set-up included) needs to reach that loss at full resolution,
  as a ratio to Adam's time;
- peak memory (RSS) of each run, each in its own process.
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
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIMIZERS = ("adam", "lbfgs")
# Modes raced to the quality target: TransferConfig settings, and their --iters as a
# share of the reference's steps (each scale gets iters / len(scales) of them: no
# convergence stop here). A run stops once it reaches the target.
_FIXED = dict(convergence_tolerance=0)
MODES = {
    "adam": (dict(optimizer="adam", scales=(), **_FIXED), 1.0),
    "lbfgs": (dict(optimizer="lbfgs", scales=(), **_FIXED), 1.0),
    "lbfgs, 2 scales": (dict(optimizer="lbfgs", scales=(2,), **_FIXED), 0.5),
    "lbfgs, 3 scales": (dict(optimizer="lbfgs", scales=(3,), **_FIXED), 0.6),
}


def _input_paths():
    """Tübingen and Starry Night (benchmarks/pictures.py: the drawn examples when absent)."""
    return pictures.picture("tubingen"), pictures.picture("starry_night")


def benchmark_inputs(size: int):
    """Content and style at `size`, and which pictures they are."""
    from tf_style import images
    paths = _input_paths()
    content, style = (images.resize_longest_side(images.load_image(path), size) for path in paths)
    shared = all(path.startswith(pictures.SHARED) for path in paths)
    return content, style, "shared images" if shared else "the drawn examples"


def _transfer(size: int, optimizer: str):
    """The default run's StyleTransfer at `size`, as tf_style.run builds it."""
    from tf_style import TransferConfig, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    content, style, source = benchmark_inputs(size)
    config = TransferConfig(content="content", style="style", size=size, optimizer=optimizer,
                            weights="random", seed=0)
    model = vgg.build_vgg(config.content_layers + config.style_layers, pooling=config.pooling)
    weights.load_weights(model, weights.WeightsSource("random", seed=config.seed))
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [style]), model)
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
    result = {"task": task}
    if task["kind"] == "speed":
        result.update(_speed(task["size"], task["optimizer"], task["steps"]))
    else:
        result.update(_quality(task))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def step_seconds(function, steps: int) -> dict:
    """Best and median seconds of `steps` calls, after three for tracing and warm-up.

    The best is what the step costs when the shared machine leaves it alone; it is the
    figure set against the matmul peak, itself a best-of.
    """
    for _ in range(3):
        function()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    times.sort()
    return {"best": times[0], "median": times[len(times) // 2]}


def _speed(size: int, optimizer: str, steps: int) -> dict:
    import tensorflow as tf
    transfer, model, source = _transfer(size, optimizer)
    height, width = transfer.image.shape[1:3]
    image = tf.Variable(transfer.image)

    @tf.function
    def network_only():
        with tf.GradientTape() as tape:
            total = tf.add_n([tf.reduce_sum(tf.cast(f, tf.float32))
                            for f in transfer.network_outputs(image).values()])
        return tape.gradient(total, image)

    return {"inputs": source, "height": height, "width": width,
            "gflop_per_step": step_flops(model, height, width) / 1e9,
            "step_seconds": step_seconds(lambda: transfer.train_step()["total"].numpy(), steps),
            "network_seconds": step_seconds(lambda: network_only().numpy(), steps)}


class _TargetReached(Exception):
    pass


def _quality(task: dict) -> dict:
    """A whole run of one mode until it reaches the target loss at full size (or its iters)."""
    import tempfile
    import tf_style
    from tf_style import schedule
    content, style = _input_paths()
    losses = []

    with tempfile.TemporaryDirectory() as workdir:
        config = tf_style.TransferConfig(
            content=content, style=style, size=task["size"], weights="random", seed=0,
            workdir=workdir, progress=False, summary_every=10 ** 6, save_every=10 ** 6,
            checkpoint_every=10 ** 6, **task["settings"])
        ends = schedule.scale_ends(config)
        final_scale_start = ends[-2] if len(ends) > 1 else 0

        def watch(report) -> None:
            # A step reports the loss of the image it starts from: from the final scale's
            # first step on, that image is at full size.
            if report.step > final_scale_start:
                losses.append(report.losses["total"])
                if task.get("target") is not None and report.losses["total"] <= task["target"]:
                    raise _TargetReached

        started = time.perf_counter()
        try:
            tf_style.run(config, callbacks=[watch])
        except _TargetReached:
            pass
        seconds = time.perf_counter() - started
    # losses[i] is the loss of the image after final_scale_start + i steps.
    return {"seconds": seconds, "steps": final_scale_start + len(losses) - 1,
            "final_loss": losses[-1], "scale_sizes": list(schedule.scale_sizes(config)),
            "reached": task.get("target") is None or losses[-1] <= task["target"]}


def _run_worker(task: dict) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], cwd=ROOT,
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if process.returncode != 0:
        sys.exit(f"benchmark worker failed on {json.dumps(task)}:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and step counts")
    parser.add_argument("--sizes", default=None, help="comma-separated longest sides (px)")
    parser.add_argument("--reference_steps", type=int, default=None,
                        help="Adam steps that set the quality target (default 1000; quick 60)")
    parser.add_argument("--parts", default="speed,quality",
                        help="speed, quality or both (comma-separated); a part run alone "
                             "replaces only its part of --output")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    sizes = [int(s) for s in (args.sizes or ("128,256" if args.quick else "256,512")).split(",")]
    parts = set(args.parts.split(","))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    report = {"speed": [], "quality": []}
    if parts != {"speed", "quality"} and os.path.exists(args.output):
        with open(args.output) as file:  # a part run alone replaces only its part
            report.update(json.load(file))
    if "speed" in parts:
        report.update(speed_table(sizes, steps=3 if args.quick else 10))
    if "quality" in parts:
        report.update(quality_table(max(sizes), args.reference_steps or (60 if args.quick else 1000)))
    with open(args.output, "w") as file:
        json.dump(report, file, indent=2)
    print(f"\nwrote {args.output}")


def speed_table(sizes, steps: int) -> dict:
    """Seconds per step of each optimizer at each size, against the matmul peak."""
    peak = matmul_peak()
    results = []
    print(f"float32 matmul peak: {peak:.0f} GFLOP/s")
    print(f"{'size':>6} {'optimizer':>9} {'GFLOP/step':>10} {'s/step':>8} {'median':>8} "
          f"{'% of peak':>9} {'network s':>9} {'% of peak':>9} {'peak RSS MB':>11}")
    for size in sizes:
        for optimizer in OPTIMIZERS:
            result = _run_worker({"kind": "speed", "size": size, "optimizer": optimizer,
                                  "steps": steps})
            flops = result["gflop_per_step"]
            step, network = result["step_seconds"], result["network_seconds"]
            result["fraction_of_peak"] = flops / step["best"] / peak
            result["network_fraction_of_peak"] = flops / network["best"] / peak
            results.append(result)
            print(f"{size:>6} {optimizer:>9} {flops:>10.1f} {step['best']:>8.3f} "
                  f"{step['median']:>8.3f} {100 * result['fraction_of_peak']:>8.0f}% "
                  f"{network['best']:>9.3f} "
                  f"{100 * result['network_fraction_of_peak']:>8.0f}% "
                  f"{result['peak_rss_mb']:>11.0f}")
    return {"matmul_peak_gflops": peak, "speed": results}


def quality_table(size: int, reference_steps: int) -> dict:
    """Wall time of each mode to the loss that `reference_steps` of plain Adam reach."""
    # One more step than the reference count: a step reports the loss of the image it
    # starts from, so the last one reports the loss after `reference_steps` steps.
    modes = {name: dict(settings, iters=max(len(settings.get("scales", ())) + 1,
                                            round(share * reference_steps) + 1))
             for name, (settings, share) in MODES.items()}
    reference = _run_worker({"kind": "quality", "size": size, "mode": "adam",
                             "settings": modes["adam"]})
    target = reference["final_loss"]
    results = [reference]
    print(f"\ntime to quality at {size} px: target = loss of {reference_steps}-step Adam = {target:.4g}")
    print(f"{'mode':>16} {'scales':>12} {'steps':>6} {'seconds':>8} {'vs Adam':>8} {'reached':>8} "
          f"{'peak RSS MB':>11}")
    for name, settings in modes.items():
        if name == "adam":
            result = reference
        else:
            result = _run_worker({"kind": "quality", "size": size, "mode": name,
                                  "settings": settings, "target": target})
            results.append(result)
        result["ratio_to_adam"] = result["seconds"] / reference["seconds"]
        scales = ",".join(str(s) for s in result["scale_sizes"])
        print(f"{name:>16} {scales:>12} {result['steps']:>6} {result['seconds']:>8.1f} "
              f"{result['ratio_to_adam']:>8.2f} {'yes' if result['reached'] else 'no':>8} "
              f"{result['peak_rss_mb']:>11.0f}")
    return {"quality": results}


if __name__ == "__main__":
    main()
