"""The tiled step against the whole one: seconds per step and peak memory by tile size.

    python benchmarks/tiles.py                       # 2048 px: whole, then 1024, 512, 256 px tiles
    python benchmarks/tiles.py --size 1024 --tiles 512,256 --steps 3

Each row runs in its own process (`--weights random --seed 0`, Tübingen x Starry Night
from ../shared/images, the drawn examples when absent, default layers, L-BFGS): the median
seconds of `--steps` steps after one warm-up step, the cost per pixel relative to the
whole step, and the process's peak RSS (targets and start-up included).
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


def worker(size: int, tile_size: int, steps: int) -> dict:
    from run import benchmark_inputs  # benchmarks/ is this script's folder, on sys.path
    from tf_style import TransferConfig, vgg, weights
    from tf_style.inputs import PreparedInputs
    from tf_style.transfer import StyleTransfer
    content, style, source = benchmark_inputs(size)
    config = TransferConfig(content="content", style="style", size=size, weights="random",
                            tile_size=tile_size or None)
    model = vgg.build_vgg(config.content_layers + config.style_layers)
    weights.load_weights(model, weights.WeightsSource("random", seed=0))
    transfer = StyleTransfer.from_config(config, PreparedInputs.from_arrays(content, [style]), model)
    transfer.train_step()  # tracing
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        float(transfer.train_step()["total"])
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    height, width = content.shape[:2]
    return {"size": f"{width}x{height}", "tile_size": tile_size, "inputs": source,
            "median_seconds": seconds[len(seconds) // 2],
            "tiles": len(transfer.evaluator.tiles(height, width)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tiles", default="1024,512,256", help="tile sizes (multiples of 16)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(**json.loads(args.worker))))
        return
    rows = []
    print(f"{'size':>10} {'tile':>6} {'tiles':>5} {'s/step':>8} {'x whole':>8} {'peak RSS MB':>11}")
    for tile_size in [0] + [int(t) for t in args.tiles.split(",")]:
        task = {"size": args.size, "tile_size": tile_size, "steps": args.steps}
        process = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                                 cwd=ROOT, capture_output=True, text=True,
                                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        if process.returncode != 0:
            sys.exit(f"worker failed on {task}:\n{process.stderr[-3000:]}")
        row = json.loads(process.stdout.strip().splitlines()[-1])
        rows.append(row)
        relative = row["median_seconds"] / rows[0]["median_seconds"]
        print(f"{row['size']:>10} {tile_size or 'whole':>6} {row['tiles']:>5} "
              f"{row['median_seconds']:>8.2f} {relative:>8.2f} {row['peak_rss_mb']:>11.0f}",
              flush=True)


if __name__ == "__main__":
    main()
