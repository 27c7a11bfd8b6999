"""Style losses compared by a measure that uses no network (tf_style/quality.py).

    python benchmarks/quality.py                        # 6 pairs x 3 settings x 2 starts
    python benchmarks/quality.py --size 256 --pairs 2   # a quick look, a few minutes

Six content x style pairs from ../shared/images (the three pictures, and crops and flips
that make other pairs), each run with train.py's defaults on --weights random at --size
for every setting (--settings: gram, w2, and w2 with the Laplacian term), from two
perturbed starts (--init_noise_ratio 0.001 and 0.002 of one seeded noise field: the
optimisation is chaotic, and the spread between starts is what a difference must beat).
Each output is scored by its style distance from the painting (patches, colours) and its
content score against the photo; the painting's own two halves give the floor of the style
distance, the photo itself the ceiling (both printed for each pair; neither bounds every
painting: The Scream's two halves differ in colour more than Tübingen does from it). Runs
already in --workdir are not run again. Prints one row per run, then per pair and setting
the mean and the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from schedule import ROOT, _run  # benchmarks/schedule.py, beside this script

sys.path.insert(0, ROOT)
from tf_style import images, quality
import pictures  # benchmarks/pictures.py, beside this script

SETTINGS = {
    "gram": [],
    "w2": ["--style_loss=w2"],
    "w2+lap1": ["--style_loss=w2", "--laplacian_weight=1"],
    "gram+lap1": ["--laplacian_weight=1"],
    "w2 sw300": ["--style_loss=w2", "--style_weight=300"],
    "w2 sw100": ["--style_loss=w2", "--style_weight=100"],
    "w2 sw100+lap1": ["--style_loss=w2", "--style_weight=100", "--laplacian_weight=1"],
}
STARTS = (0.001, 0.002)


def _pictures():
    load = {name: images.load_image(pictures.picture(name))
            for name in ("tubingen", "starry_night", "the_scream")}
    tubingen, starry, scream = load["tubingen"], load["starry_night"], load["the_scream"]
    third = tubingen.shape[1] // 3
    return [  # (name, content, style)
        ("tubingen x starry", tubingen, starry),
        ("tubingen x scream", tubingen, scream),
        ("starry x scream", starry, scream),
        ("scream x starry", scream, starry),
        ("tubingen flipped x starry left half", tubingen[:, ::-1], quality.halves(starry)[0]),
        ("tubingen right x scream flipped", tubingen[:, third:], scream[:, ::-1]),
    ]


def _write(array: np.ndarray, path: str) -> str:
    if not os.path.exists(path):
        images.save_image(path, array)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=6, help="the first this many pairs")
    parser.add_argument("--settings", default="gram,w2,w2+lap1",
                        help=f"comma-separated, of {', '.join(SETTINGS)}")
    parser.add_argument("--starts", default=",".join(map(str, STARTS)),
                        help="the --init_noise_ratio of each start, comma-separated")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "runs", "quality"))
    parser.add_argument("--sheet", help="also write the photo, the painting and each setting's "
                        "output (first start) of --sheet_pairs pairs side by side to this JPEG")
    parser.add_argument("--sheet_pairs", default="0,1", help="which pairs, by index")
    arguments = parser.parse_args()
    settings = arguments.settings.split(",")
    starts = [float(ratio) for ratio in arguments.starts.split(",")]
    os.makedirs(arguments.workdir, exist_ok=True)
    results_path = os.path.join(arguments.workdir, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}

    print(f"{'pair':<36} {'setting':<10} {'start':>6} {'patches':>8} {'colours':>8} "
          f"{'content':>8} {'steps':>6} {'s':>6}", flush=True)
    summary = []
    for index, (pair, content, style) in enumerate(_pictures()[:arguments.pairs]):
        folder = os.path.join(arguments.workdir, f"pair{index}")
        os.makedirs(folder, exist_ok=True)
        content_path = _write(content, os.path.join(folder, "content.png"))
        style_path = _write(style, os.path.join(folder, "style.png"))
        photo = images.load_image(content_path, longest_side=arguments.size)
        painting = images.load_image(style_path, longest_side=arguments.size)
        floor = quality.style_distance(*quality.halves(painting))
        ceiling = quality.style_distance(photo, painting)
        print(f"{pair:<36} {'floor':<10} {'':>6} {floor.patches:8.4f} {floor.colours:8.4f}")
        print(f"{pair:<36} {'ceiling':<10} {'':>6} {ceiling.patches:8.4f} "
              f"{ceiling.colours:8.4f} {1.0:8.3f}", flush=True)
        for setting in settings:
            scores = []
            for ratio in starts:
                key = f"{index}/{arguments.size}/{setting}/{ratio}"
                workdir = os.path.join(folder, f"{arguments.size}-{setting}-{ratio}")
                if key not in results:
                    seconds, _ = _run([f"--content={content_path}", f"--style={style_path}",
                                       "--weights=random", f"--size={arguments.size}",
                                       f"--init_noise_ratio={ratio}", *SETTINGS[setting]],
                                      workdir)
                    import tensorflow as tf
                    steps = int(tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
                                .get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
                    output = images.load_image(os.path.join(workdir, "output.png"))
                    if output.shape != photo.shape:
                        output = images.resize(output, (photo.shape[1], photo.shape[0]))
                    distance = quality.style_distance(output, painting)
                    results[key] = dict(patches=distance.patches, colours=distance.colours,
                                        content=quality.content_score(output, photo),
                                        steps=steps, seconds=seconds)
                    with open(results_path, "w") as file:
                        json.dump(results, file, indent=1)
                row = results[key]
                scores.append(row)
                print(f"{pair:<36} {setting:<10} {ratio:6.3f} {row['patches']:8.4f} "
                      f"{row['colours']:8.4f} {row['content']:8.3f} {row['steps']:6d} "
                      f"{row['seconds']:6.0f}", flush=True)
            summary.append((pair, setting, scores))

    print(f"\nmean ± half the spread over the starts (lower patches and colours: nearer the "
          f"painting; higher content: nearer the photo)\n{'pair':<36} {'setting':<10} "
          f"{'patches':>15} {'colours':>15} {'content':>15} {'steps':>6} {'s':>6}")
    for pair, setting, scores in summary:
        columns = "".join(
            f"{np.mean([row[kind] for row in scores]):8.4f} "
            f"±{np.ptp([row[kind] for row in scores]) / 2:.4f} "
            for kind in ("patches", "colours", "content"))
        print(f"{pair:<36} {setting:<10} {columns}"
              f"{np.mean([r['steps'] for r in scores]):6.0f} "
              f"{np.mean([r['seconds'] for r in scores]):6.0f}")
    if arguments.sheet:
        _sheet(arguments, settings, starts)


def _sheet(arguments, settings, starts) -> None:
    """Rows of pairs: photo, painting, then each setting's output, 256 px high."""
    rows = []
    for index in map(int, arguments.sheet_pairs.split(",")):
        folder = os.path.join(arguments.workdir, f"pair{index}")
        paths = [os.path.join(folder, "content.png"), os.path.join(folder, "style.png")] + [
            os.path.join(folder, f"{arguments.size}-{setting}-{starts[0]}", "output.png")
            for setting in settings]
        rows.append([(None, path) for path in paths])
    contact_sheet(rows, arguments.sheet)


def contact_sheet(rows, path: str, height: int = 256) -> None:
    """Pictures side by side, `height` px high, a row per list of (label or None, path);
    a label is written in its picture's corner."""
    from PIL import Image, ImageDraw
    made = []
    for row_pictures in rows:
        pictures = []
        for label, picture_path in row_pictures:
            picture = Image.open(picture_path).convert("RGB")
            picture = picture.resize((round(picture.width * height / picture.height), height),
                                     Image.LANCZOS)
            if label:
                ImageDraw.Draw(picture).text((4, 4), label, fill="white", stroke_width=2,
                                             stroke_fill="black")
            pictures.append(picture)
        row = Image.new("RGB", (sum(p.width for p in pictures) + 4 * (len(pictures) - 1), height),
                        "white")
        left = 0
        for picture in pictures:
            row.paste(picture, (left, 0))
            left += picture.width + 4
        made.append(row)
    sheet = Image.new("RGB", (max(r.width for r in made), (height + 4) * len(made) - 4), "white")
    for number, row in enumerate(made):
        sheet.paste(row, (0, (height + 4) * number))
    sheet.save(path, quality=88)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
