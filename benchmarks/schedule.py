"""The default schedule against the defaults before it, on pictures scored without a network.

    python benchmarks/schedule.py                                  # 6 pairs x 2 weights x 2 starts
    python benchmarks/schedule.py --pairs 2 --starts 0.001         # a quicker look
    python benchmarks/schedule.py --size 1024 --schedules default   # time only, at 1024 px
    python benchmarks/schedule.py --schedule "c2f=--scales=128,256,512"   # try another
    python benchmarks/schedule.py --schedule "ratio1=--coarse_style_ratio=1"   # all at full style
    python benchmarks/schedule.py --sheet schedule.jpg --sheet_pairs 0,1

Each run is a real `train.py` process with its defaults on one of benchmarks/quality.py's
six pairs, on ImageNet VGG16 (`trained`, fetched by tf_style.trained_features) and on
seeded random VGG19 (`random`), from a start perturbed by --init_noise_ratio (the
optimisation is chaotic: the spread between two starts is what a difference must beat).
`before` is what the defaults were before the per-scale schedule, as flags: one scale at
512 px (at other sizes the pyramid then halved --size while at least 400 px), the loss
rule alone, and bfloat16 wherever the CPU has it (it was --precision auto's choice).

Per run: wall time, steps, and the output scored against the photo (the Laplacian content
score, higher nearer) and the painting (patch and colour distances, lower nearer). Then per
pair and weights, each measure's mean over the starts; a difference from `before` counts
only where it is larger than the spread of both schedules' starts. Runs already in
--workdir are not run again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
STARTS = (0.001, 0.002)
MEASURES = ("content", "patches", "colours")  # content: higher is better; the others lower


def _run(arguments, workdir):
    """Runs train.py with `arguments` into `workdir`, its log beside it (`workdir`.log);
    (wall seconds, peak RSS bytes)."""
    started = time.perf_counter()
    with open(f"{workdir}.log", "w") as log:
        process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *arguments,
                                    f"--workdir={workdir}", "--progress=false"], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        with open(f"{workdir}.log") as log:
            sys.exit(f"train.py {' '.join(arguments)} failed:\n{log.read()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def before_flags(size: int) -> list:
    """The defaults before the per-scale schedule, as flags for today's train.py."""
    from tf_style import devices
    sizes, side = [], size
    while side >= 400:
        sizes.insert(0, side)
        side = round(side / 2)
    flags = [f"--scales={','.join(map(str, sizes or [size]))}", "--convergence_change=0",
             "--convergence_window=20"]
    return flags + (["--precision=bfloat16"] if devices.cpu_device().native_bfloat16 else [])


def scale_steps(workdir: str) -> list:
    """Steps each scale took, read from the run's log."""
    text = open(f"{workdir}.log").read()
    ends = [int(end) for end in re.findall(r"Converged at step (\d+)", text)]
    starts = len(re.findall(r"Scale \d+/\d+:", text)) or 1
    import tensorflow as tf
    final = int(tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
                .get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    marks = sorted(set(ends[:starts - 1] + [final]))
    return [later - earlier for earlier, later in zip([0] + marks, marks)]


def _weights_flags(kind: str) -> list:
    if kind == "random":
        return ["--weights=random"]
    from tf_style.trained_features import fetch_trained_vgg16
    path = os.path.abspath(fetch_trained_vgg16(os.path.join(ROOT, "weights")))
    return ["--model=vgg16", f"--weights={path}"]


def score(workdir: str, photo: np.ndarray, painting: np.ndarray) -> dict:
    from tf_style import images, quality
    output = images.load_image(os.path.join(workdir, "output.png"))
    if output.shape != photo.shape:
        output = images.resize(output, (photo.shape[1], photo.shape[0]))
    distance = quality.style_distance(output, painting)
    return dict(content=quality.content_score(output, photo), patches=distance.patches,
                colours=distance.colours)


def verdict(before: list, after: list, measure: str) -> str:
    """'equal' when the means differ by no more than the larger spread of the starts, else
    'better' or 'worse' for `after`."""
    first, second = [row[measure] for row in before], [row[measure] for row in after]
    spread = max(np.ptp(first), np.ptp(second))
    difference = np.mean(second) - np.mean(first)
    if abs(difference) <= spread:
        return "equal"
    return "better" if (difference > 0) == (measure == "content") else "worse"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", default="0,1,2,3,4,5", help="which pairs, by index")
    parser.add_argument("--weights", default="trained,random")
    parser.add_argument("--starts", default=",".join(map(str, STARTS)))
    parser.add_argument("--schedules", default="before,default")
    parser.add_argument("--schedule", action="append", default=[],
                        help="another schedule to compare: NAME=FLAGS (space-separated flags)")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "runs", "schedule"))
    parser.add_argument("--sheet", help="write photo, painting and each schedule's output (first "
                        "start) of --sheet_pairs side by side to this JPEG, a row per weights")
    parser.add_argument("--sheet_pairs", default="0,1")
    parser.add_argument("--rescore", action="store_true",
                        help="score the outputs of runs already made again (after a change here)")
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from quality import _pictures, _write, contact_sheet  # benchmarks/quality.py, beside this
    from tf_style import images

    schedules = {"before": before_flags(arguments.size), "default": []}
    for extra in arguments.schedule:
        name, _, flags = extra.partition("=")
        schedules[name] = flags.split()
    names = arguments.schedules.split(",") + [extra.partition("=")[0] for extra in arguments.schedule]
    starts = [float(ratio) for ratio in arguments.starts.split(",")]
    pictures = _pictures()
    os.makedirs(arguments.workdir, exist_ok=True)
    results_path = os.path.join(arguments.workdir, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    print(f"{'weights':<8} {'pair':<38} {'schedule':<9} {'start':>6} {'s':>6} "
          f"{'steps per scale':<18} {'content':>8} {'patches':>8} {'colours':>8}", flush=True)
    summary = []
    for weights in arguments.weights.split(","):
        for index in map(int, arguments.pairs.split(",")):
            pair, content, style = pictures[index]
            folder = os.path.join(arguments.workdir, f"pair{index}")
            os.makedirs(folder, exist_ok=True)
            content_path = _write(content, os.path.join(folder, "content.png"))
            style_path = _write(style, os.path.join(folder, "style.png"))
            # Scored at the output's size (load_image's longest_side only decodes smaller).
            photo = images.resize_longest_side(images.load_image(content_path), arguments.size)
            painting = images.resize_longest_side(images.load_image(style_path), arguments.size)
            rows = {}
            for name in names:
                for ratio in starts:  # alternated: the machine's speed drifts by the hour
                    key = f"{weights}/{index}/{arguments.size}/{name}/{ratio}"
                    workdir = os.path.join(folder, f"{weights}-{arguments.size}-{name}-{ratio}")
                    if key in results and arguments.rescore:
                        results[key].update(score(workdir, photo, painting))
                    if key not in results:
                        seconds, _ = _run([f"--content={content_path}", f"--style={style_path}",
                                           *_weights_flags(weights), f"--size={arguments.size}",
                                           f"--init_noise_ratio={ratio}", *schedules[name]],
                                          workdir)
                        results[key] = dict(seconds=seconds, steps=scale_steps(workdir),
                                            flags=schedules[name],
                                            **score(workdir, photo, painting))
                        with open(results_path, "w") as file:
                            json.dump(results, file, indent=1)
                    row = results[key]
                    rows.setdefault(name, []).append(row)
                    print(f"{weights:<8} {pair:<38} {name:<9} {ratio:6.3f} {row['seconds']:6.0f} "
                          f"{'+'.join(map(str, row['steps'])):<18} {row['content']:8.3f} "
                          f"{row['patches']:8.4f} {row['colours']:8.4f}", flush=True)
            summary.append((weights, pair, rows))
    with open(results_path, "w") as file:
        json.dump(results, file, indent=1)
    _print_summary(summary, names)
    if arguments.sheet:
        contact_sheet([[(None, os.path.join(arguments.workdir, f"pair{index}", "content.png")),
                        (None, os.path.join(arguments.workdir, f"pair{index}", "style.png"))]
                       + [(f"{weights} {name}", os.path.join(
                           arguments.workdir, f"pair{index}",
                           f"{weights}-{arguments.size}-{name}-{starts[0]}", "output.png"))
                          for name in names]
                       for weights in arguments.weights.split(",")
                       for index in map(int, arguments.sheet_pairs.split(","))], arguments.sheet)


def _print_summary(summary, names) -> None:
    print(f"\nmean over the starts; against before: equal (within the starts' spread), better "
          f"or worse\n{'weights':<8} {'pair':<38} {'schedule':<9} {'s':>6} {'vs before':>9} "
          f"{'steps':>6} {'content':>16} {'patches':>17} {'colours':>17}")
    times = {name: [] for name in names}
    for weights, pair, rows in summary:
        for name in names:
            scores = rows[name]
            seconds = np.mean([row["seconds"] for row in scores])
            times[name].append(seconds)
            ratio = (f"{seconds / np.mean([row['seconds'] for row in rows['before']]):.0%}"
                     if "before" in rows else "-")
            columns = " ".join(
                f"{np.mean([row[measure] for row in scores]):8.4f} "
                f"{verdict(rows['before'], scores, measure) if 'before' in rows else '':<7}"
                for measure in MEASURES)
            steps = np.mean([sum(row["steps"]) for row in scores])
            print(f"{weights:<8} {pair:<38} {name:<9} {seconds:6.0f} {ratio:>9} {steps:6.0f} "
                  f"{columns}")
    print("\n" + ", ".join(f"{name}: {np.mean(seconds):.0f} s on average"
                           for name, seconds in times.items()))


if __name__ == "__main__":
    main()
