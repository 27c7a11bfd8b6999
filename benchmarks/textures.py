"""Textures and seamless pictures: the seam, the cost of wrapping, the tiled step, quality.

    python benchmarks/textures.py                                 # everything, about 2 hours
    python benchmarks/textures.py --parts seam --paintings 2      # a quicker look
    python benchmarks/textures.py --parts cost,tiled              # the step alone, in-process
    python benchmarks/textures.py --docs docs/artistic-controls.md --sheet texture.jpg

Parts (--parts, comma-separated):
- seam: a texture of every painting at --size (the k-th from seed k), --seamless both and
  plain, on ImageNet VGG16
  (`trained`, fetched by tf_style.trained_features) and seeded random VGG19 (`random`); the
  seam ratio along x and y (`quality.seam_ratio`: the edge step over the median step inside;
  the target is at most 1.1 seamless).
- quality: each texture, plain and seamless, from two seeds against a style transfer of Tübingen of the
  same size and shape from two perturbed starts (--init_noise_ratio 0.001, 0.002), trained weights:
  the patch and colour distances from the painting (`quality.style_distance`, no network);
  "equal" when the means differ by no more than the larger spread of the two starts.
- speed: a 512 px texture (seamless both), both weight kinds: steps and seconds.
- cost: one whole-image step at 512x512 (--cost_size), wrapped (--seamless both) against zero padding,
  alternated --repeats times in one process; the median of each.
- tiled: a seamless 2048x2048 texture in float32, 4 steps whole and 4 steps in 1024 px tiles
  (4 tiles) from the same start: the largest difference between the two, grey levels. The
  start (--tiled_start) is what a run's finest scale starts from, a coarser seamless
  texture (the seam part's first, random weights) brought up periodically; or noise.
  `--tiled_hold_at_bounds false` takes away L-BFGS's active set (pixels at 0 or 255 whose
  gradient points out are held still): the diagnosis of where a difference comes from.

The paintings are Starry Night and The Scream from ../shared/images, whole and each half
(quality.halves): six. Runs already in --workdir are not run again. --docs rewrites the
block between the markers `<!-- textures benchmark -->` and `<!-- /textures benchmark -->`
in that file with the tables printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

from schedule import ROOT, _run, _weights_flags, scale_steps, verdict  # beside this script

sys.path.insert(0, ROOT)
from tf_style import images, quality
import pictures  # benchmarks/pictures.py, beside this script

PARTS = ("seam", "quality", "speed", "cost", "tiled")
WEIGHTS = ("trained", "random")
SEEDS = (0, 1)
STARTS = (0.001, 0.002)
MARKERS = ("<!-- textures benchmark -->", "<!-- /textures benchmark -->")


def _paintings(count: int):
    starry = images.load_image(pictures.picture("starry_night"))
    scream = images.load_image(pictures.picture("the_scream"))
    found = [("starry", starry), ("scream", scream)]
    for name, painting in (("starry", starry), ("scream", scream)):
        first, second = quality.halves(painting)
        found += [(f"{name} half 1", first), (f"{name} half 2", second)]
    return found[:count]


def _file(array: np.ndarray, path: str) -> str:
    if not os.path.exists(path):
        images.save_image(path, array)
    return path


def _texture(workdir, name, painting_path, size, weights, seamless, seed, shape=None):
    """A texture `size` px square, or of `shape` (width, height)."""
    width, height = shape or (size, size)
    run_dir = os.path.join(workdir, f"texture {name} {weights} {seamless or 'plain'} seed{seed} "
                                    f"{width}x{height}")
    flags = [f"--style={painting_path}", f"--texture_size={width}x{height}", f"--seed={seed}",
             *_weights_flags(weights), *([f"--seamless={seamless}"] if seamless else [])]
    return _cached(run_dir, flags)


def _transfer(workdir, name, painting_path, photo_path, size, weights, start):
    run_dir = os.path.join(workdir, f"transfer {name} {weights} start{start}")
    flags = [f"--content={photo_path}", f"--style={painting_path}", f"--size={size}",
             f"--init_noise_ratio={start}", *_weights_flags(weights)]
    return _cached(run_dir, flags)


def _cached(run_dir, flags):
    """The run's output and (seconds, steps), running train.py unless it is already done."""
    timing = f"{run_dir}.json"
    if not os.path.exists(timing):
        seconds, _ = _run(flags, run_dir)
        with open(timing, "w") as file:
            json.dump({"seconds": seconds, "steps": sum(scale_steps(run_dir))}, file)
    with open(timing) as file:
        measured = json.load(file)
    return images.load_image(os.path.join(run_dir, "output.png")), measured


def aligned_ratio(image: np.ndarray, axis: str) -> float:
    """The step across the edge over the median step at the same place in the network's
    pooling grid inside the picture: between columns (rows) 16k-1 and 16k, where every one
    of the four 2x2 pools has a border, as it has at the edge. A seamless picture's loss is
    unchanged by a shift of 16 px, so its edge is one such border among the others."""
    lines = np.asarray(image, np.float64)
    if axis == "y":
        lines = lines.transpose(1, 0, 2)
    steps = np.abs(np.diff(lines, axis=1)).mean(axis=(0, 2))  # steps[j]: columns j, j+1
    borders = steps[15::16]
    return float(np.abs(lines[:, -1] - lines[:, 0]).mean() / np.median(borders))


def edge_rank(image: np.ndarray, axis: str) -> float:
    """The share of the steps between neighbouring columns (rows) inside that are smaller
    than the step across the edge: 1 where the edge is the largest step in the picture, as
    a seam is; spread over 0-1 where it is one step among the others."""
    lines = np.asarray(image, np.float64)
    if axis == "y":
        lines = lines.transpose(1, 0, 2)
    steps = np.abs(np.diff(lines, axis=1)).mean(axis=(0, 2))
    return float(np.mean(steps < np.abs(lines[:, -1] - lines[:, 0]).mean()))


def interior_pass_rate(image: np.ndarray, axis: str) -> float:
    """The share of the steps between neighbouring columns (rows) inside that are within
    1.1x their median: how often an ordinary column would meet the seam target."""
    lines = np.asarray(image, np.float64)
    if axis == "y":
        lines = lines.transpose(1, 0, 2)
    steps = np.abs(np.diff(lines, axis=1)).mean(axis=(0, 2))
    return float(np.mean(steps <= 1.1 * np.median(steps)))


def flat_share(image: np.ndarray) -> float:
    """The share of the picture's 8x8 blocks that are flat grey (spread under 8 grey levels,
    channels within 25 of each other): noise start that nothing took over."""
    height, width = (side - side % 8 for side in image.shape[:2])
    blocks = np.asarray(image, np.float64)[:height, :width].reshape(
        height // 8, 8, width // 8, 8, 3)
    spread = blocks.std(axis=(1, 3)).mean(axis=-1)
    colour = (blocks.max(axis=-1) - blocks.min(axis=-1)).mean(axis=(1, 3))
    return float(np.mean((spread < 8) & (colour < 25)))


# A shift that takes the edge off every scale's pooling grid (16 px at the finest scale,
# 32 and 64 px in the picture at the coarser ones): the same tiling, cut elsewhere.
OFF_GRID = 24


def seam_part(arguments, paintings, lines):
    rows, ordinary, shifted, flat = [], [], [], {}
    # Each painting its own seed: from one noise and one network the six pictures' edges
    # were not independent draws (on random VGG19 all six y edges came out above 1.1).
    for seed, (name, painting, path) in enumerate(paintings):
        for weights in WEIGHTS:
            row = {"painting": name, "weights": weights}
            for seamless in ("both", None):
                output, _ = _texture(arguments.workdir, name, path, arguments.size, weights,
                                     seamless, seed)
                label = "seamless" if seamless else "plain"
                row[label] = [(quality.seam_ratio(output, axis), aligned_ratio(output, axis),
                               edge_rank(output, axis)) for axis in ("x", "y")]
                flat.setdefault((weights, label), []).append(flat_share(output))
                if seamless:
                    moved = np.roll(output, (OFF_GRID, OFF_GRID), axis=(0, 1))
                    ordinary += [interior_pass_rate(output, axis) for axis in ("x", "y")]
                    shifted += [(quality.seam_ratio(moved, axis), edge_rank(moved, axis))
                                for axis in ("x", "y")]
            rows.append(row)
            print(f"{name:16s} {weights:8s} " + " | ".join(
                f"{label} {axis} {ratio:.2f} ({aligned:.2f}) {rank:.0%}"
                for label in ("seamless", "plain")
                for axis, (ratio, aligned, rank) in zip("xy", row[label])), flush=True)
    lines += [f"The seam at {arguments.size} px, each painting from its own seed (0-5): "
              f"`quality.seam_ratio`, the step across the edge over the median step between "
              f"neighbouring columns (x) or rows (y) inside (target ≤ 1.1 seamless); in "
              f"brackets the same over the median step at the pooling grid's borders inside "
              f"(every 16 px), where the edge lies; then the edge step's rank, the share of the "
              f"steps inside that are smaller (100% = the largest step in the picture):", "",
              "| painting | weights | seamless x | seamless y | plain x | plain y |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {row['painting']} | {row['weights']} | " + " | ".join(
        f"{ratio:.2f} ({aligned:.2f}) {rank:.0%}" for label in ("seamless", "plain")
        for ratio, aligned, rank in row[label]) + " |" for row in rows]
    seamless, aligned, ranks = zip(*[value for row in rows for value in row["seamless"]])
    plain, _, plain_ranks = zip(*[value for row in rows for value in row["plain"]])
    lines += ["", f"Seamless: ratio {min(seamless):.2f} to {max(seamless):.2f} (median "
              f"{np.median(seamless):.2f}), {sum(ratio <= 1.1 for ratio in seamless)} of "
              f"{len(seamless)} within 1.1; against the grid's borders {min(aligned):.2f} to "
              f"{max(aligned):.2f} (median {np.median(aligned):.2f}); the edge's rank "
              f"{min(ranks):.0%} to {max(ranks):.0%} (median {np.median(ranks):.0%}), the "
              f"largest step in {sum(rank == 1 for rank in ranks)} of {len(ranks)}. Plain: "
              f"ratio {min(plain):.2f} to {max(plain):.2f} (median {np.median(plain):.2f}), the "
              f"largest step in {sum(rank == 1 for rank in plain_ranks)} of "
              f"{len(plain_ranks)}.", "",
              f"How an ordinary column fares: of the steps inside the seamless textures, "
              f"{np.mean(ordinary):.0%} (from {min(ordinary):.0%} to {max(ordinary):.0%} a "
              f"picture) are within 1.1x their median, so about "
              f"{np.mean(ordinary) * len(ranks):.0f} of {len(ranks)} edges that were ordinary "
              f"columns would meet the target. The same seamless textures cut {OFF_GRID} px "
              f"further on (`np.roll`: the same tiling, the edge off every scale's pooling "
              f"grid): {sum(ratio <= 1.1 for ratio, _ in shifted)} of {len(shifted)} within "
              f"1.1, the edge's rank median {np.median([rank for _, rank in shifted]):.0%}.", "",
              "Flat grey left from the noise start (`flat_share`: 8x8 blocks under 8 grey "
              "levels of spread, without colour): " + "; ".join(
                  f"{weights} {label} {min(shares):.0%} to {max(shares):.0%}"
                  for (weights, label), shares in sorted(flat.items())) + ".", ""]


def quality_part(arguments, paintings, lines):
    photo = images.load_image(pictures.picture("tubingen"))
    photo_path = _file(photo, os.path.join(arguments.workdir, "tubingen.png"))
    # The texture takes the transfer's shape: the measure's pyramid depth follows the shape.
    shape = images.scaled_size(*photo.shape[:2], arguments.size)
    lines += [f"Textures, plain and seamless, against a style transfer of Tübingen, all "
              f"{shape[0]}x{shape[1]} px, trained weights: distances from the painting (lower "
              f"nearer; mean ± half the spread of two starts; the verdict against the transfer):",
              "", "| painting | measure | plain texture | seamless texture | transfer |",
              "|---|---|---|---|---|"]
    for name, painting, path in paintings:
        reference = images.resize_longest_side(painting, arguments.size)
        texture_rows = {seamless: [] for seamless in (None, "both")}
        for seamless, rows in texture_rows.items():
            for seed in SEEDS:
                output, _ = _texture(arguments.workdir, name, path, arguments.size, "trained",
                                     seamless, seed, shape)
                rows.append(_distances(output, reference))
        transfer_rows = []
        for start in STARTS:
            output, _ = _transfer(arguments.workdir, name, path, photo_path, arguments.size,
                                  "trained", start)
            transfer_rows.append(_distances(output, reference))

        def cell(rows, measure, judged=None):
            values = [row[measure] for row in rows]
            return (f"{np.mean(values):.4f} ± {np.ptp(values) / 2:.4f}"
                    + (f", {judged}" if judged else ""))

        for measure in ("patches", "colours"):
            # verdict() reads higher as better only for "content": lower is better here.
            lines.append(f"| {name} | {measure} | " + " | ".join(
                cell(rows, measure, verdict(transfer_rows, rows, measure))
                for rows in texture_rows.values()) + f" | {cell(transfer_rows, measure)} |")
            print(lines[-1], flush=True)
    lines.append("")


def _distances(output, painting):
    distance = quality.style_distance(output, painting)
    return {"patches": distance.patches, "colours": distance.colours}


def speed_part(arguments, paintings, lines):
    name, _, path = paintings[0]
    lines += ["A 512x512 seamless texture (`--texture_size 512x512 --seamless both`, the "
              f"painting {name}):", "", "| weights | steps | seconds |", "|---|---|---|"]
    for weights in WEIGHTS:
        _, measured = _texture(arguments.workdir, name, path, 512, weights, "both", SEEDS[0])
        lines.append(f"| {weights} | {measured['steps']} | {measured['seconds']:.0f} |")
        print(lines[-1], flush=True)
    lines.append("")


def _texture_inputs(side: int, start=None):
    """A side x side texture's inputs from `start` (None: seeded noise), with Starry Night
    as the painting."""
    from tf_style.inputs import PreparedInputs
    painting = images.resize_longest_side(images.load_image(pictures.picture("starry_night")), side)
    if start is None:
        start = np.random.default_rng(0).uniform(0, 255, (side, side, 3)).astype(np.float32)
    return PreparedInputs.from_arrays(start, [painting])


def cost_part(arguments, lines):
    import dataclasses
    from tf_style import TransferConfig, run_setup
    from tf_style.transfer import StyleTransfer
    side = arguments.cost_size
    inputs = _texture_inputs(side)
    lines += [f"One whole-image step at {side}x{side}, median of {arguments.repeats}, alternated "
              "(`--parts cost`):", "", "| network | zero padding, s | wrapped, s | cost |",
              "|---|---|---|---|"]
    for weights in WEIGHTS:
        flags = dict(style=pictures.picture("starry_night"), texture_size=f"{side}x{side}")
        if weights == "trained":
            from tf_style.trained_features import fetch_trained_vgg16
            flags.update(model="vgg16", weights=fetch_trained_vgg16(os.path.join(ROOT, "weights")))
        else:
            flags.update(weights="random")
        config = TransferConfig(**flags)
        _, precision = run_setup.set_up_device(config)
        config, _, model = run_setup.load_network(config, precision)
        transfers = {}
        for seamless in (None, "both"):  # the same network: the wrapped one is its twin
            transfers[seamless] = StyleTransfer.from_config(
                dataclasses.replace(config, seamless=seamless), inputs, model)
            for _ in range(2):  # compiles, then one more to settle
                transfers[seamless].train_step()
        seconds = {None: [], "both": []}
        for _ in range(arguments.repeats):
            for seamless, transfer in transfers.items():
                started = time.perf_counter()
                float(transfer.train_step()["total"])
                seconds[seamless].append(time.perf_counter() - started)
        plain, wrapped = np.median(seconds[None]), np.median(seconds["both"])
        lines.append(f"| {weights} ({precision}) | {plain:.3f} | {wrapped:.3f} | "
                     f"{100 * (wrapped / plain - 1):+.1f}% |")
        print(lines[-1], flush=True)
    lines.append("")


def tiled_part(arguments, paintings, lines):
    from tf_style import TransferConfig, run_setup
    from tf_style.transfer import StyleTransfer
    side = arguments.tiled_size
    start, start_words = None, "seeded noise"
    if arguments.tiled_start == "texture":
        # What a run's finest scale starts from: a coarser result brought up periodically.
        name, _, path = paintings[0]
        coarse, _ = _texture(arguments.workdir, name, path, arguments.size, "random", "both",
                             SEEDS[0])
        start = images.resize(coarse, (side, side), (True, True))
        start_words = f"the {arguments.size} px seamless texture (random weights) brought up"
    inputs = _texture_inputs(side, start)
    config = TransferConfig(style=pictures.picture("starry_night"), texture_size=f"{side}x{side}",
                            seamless="both", weights="random", precision="float32",
                            deterministic=True)
    _, precision = run_setup.set_up_run(config)
    config, _, model = run_setup.load_network(config, precision)
    results, seconds = {}, {}
    for tile_size in (None, side // 2):
        transfer = StyleTransfer.from_config(config, inputs, model, tile_size=tile_size)
        if arguments.tiled_hold_at_bounds == "false":  # a diagnosis: L-BFGS without its active set
            transfer.optimizer.bounds = None
        tiles = transfer.evaluator.tiles(side, side)
        transfer.train_step()  # the first also traces: timed from the second
        started = time.perf_counter()
        for _ in range(3):
            transfer.train_step()
        seconds[tile_size] = (time.perf_counter() - started) / 3
        results[tile_size] = transfer.result()
        print(f"{'whole' if tile_size is None else f'{len(tiles)} tiles of {tile_size}'}: "
              f"{seconds[tile_size]:.1f} s/step", flush=True)
    difference = np.abs(results[None] - results[side // 2])
    over = difference > 0.5
    at_bound = np.zeros_like(over)
    for result in results.values():
        at_bound |= (result <= 0) | (result >= 255)
    held = ("" if arguments.tiled_hold_at_bounds == "true" else
            " L-BFGS without its active set (pixels at 0 or 255 move too, clipped after);")
    lines += [f"Seamless {side}x{side} texture, float32, 4 L-BFGS steps whole and in "
              f"{side // 2} px tiles ({len(tiles)} tiles) from one start, {start_words};{held} "
              f"largest difference {difference.max():.4f} grey levels, mean "
              f"{difference.mean():.5f} (target ≤ 0.5); {over.sum()} of {over.size} values over "
              f"0.5, {(over & at_bound).sum()} of them at 0 or 255 in one of the two; "
              f"{at_bound.mean():.0%} of all values at 0 or 255; "
              f"{seconds[None]:.1f} s a step whole, {seconds[side // 2]:.1f} s tiled.", ""]
    print(lines[-2], flush=True)


def write_sheet(arguments, paintings, path):
    """The painting, its seamless texture 2x2 and its plain texture 2x2, trained weights."""
    rows = []
    for seed, (name, painting, painting_path) in enumerate(paintings[:2]):  # the seam part's seeds
        seamless, _ = _texture(arguments.workdir, name, painting_path, arguments.size, "trained",
                               "both", seed)
        plain, _ = _texture(arguments.workdir, name, painting_path, arguments.size, "trained",
                            None, seed)
        rows.append(images.side_by_side([painting, images.repeated(seamless, "both"),
                                         images.repeated(plain, "both")], height=2 * arguments.size))
    width = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 8), (0, width - row.shape[1]), (0, 0)),
                                   constant_values=255) for row in rows])
    images.save_image(path, sheet)
    print(f"Wrote {path}: each painting, its seamless texture 2x2, its plain texture 2x2")


def _write_docs(path, lines):
    with open(path, encoding="utf8") as file:
        text = file.read()
    start, end = MARKERS
    block = "\n".join([start, *lines, end])
    if start not in text:
        sys.exit(f"{path} has no {start} marker")
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    with open(path, "w", encoding="utf8") as file:
        file.write(text)
    print(f"Wrote the tables into {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"of {', '.join(PARTS)}")
    parser.add_argument("--size", type=int, default=256, help="textures' side, px (seam, quality)")
    parser.add_argument("--paintings", type=int, default=6, help="the first this many")
    parser.add_argument("--repeats", type=int, default=5, help="steps timed (cost)")
    parser.add_argument("--cost_size", type=int, default=512, help="side, px (cost)")
    parser.add_argument("--tiled_size", type=int, default=2048, help="side, px (tiled)")
    parser.add_argument("--tiled_start", choices=("texture", "noise"), default="texture",
                        help="tiled: from the --size seamless texture brought up, or from noise")
    parser.add_argument("--tiled_hold_at_bounds", choices=("true", "false"), default="true",
                        help="tiled: false runs L-BFGS without its active set")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "runs", "textures"))
    parser.add_argument("--docs", help="write the tables into this file, between the markers")
    parser.add_argument("--sheet", help="write a JPEG of the first two paintings' textures")
    arguments = parser.parse_args()
    os.makedirs(arguments.workdir, exist_ok=True)
    parts = arguments.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    paintings = [(name, painting, _file(painting, os.path.join(
        arguments.workdir, f"{name.replace(' ', '_')}.png")))
        for name, painting in _paintings(arguments.paintings)]
    lines = []
    if "cost" in parts:  # in-process and timed: first, before any other work in this process
        cost_part(arguments, lines)
    if "seam" in parts:
        seam_part(arguments, paintings, lines)
    if "quality" in parts:
        quality_part(arguments, paintings, lines)
    if "speed" in parts:
        speed_part(arguments, paintings, lines)
    if "tiled" in parts:
        tiled_part(arguments, paintings, lines)
    print("\n".join(lines))
    if arguments.sheet:
        write_sheet(arguments, paintings, arguments.sheet)
    if arguments.docs:
        _write_docs(arguments.docs, lines)


if __name__ == "__main__":
    main()
