"""Flicker and speed of video style transfer, with and without the temporal loss.

    python benchmarks/video.py                   # 12 frames at 256 px, ~15 min on 2 cores
    python benchmarks/video.py --frames 6 --size 128   # a quick look

Makes its own clip from ../shared/images/tubingen.jpg (the drawn example when absent):
a camera panning right and slowly zooming in, with a dark ball rolling the other way in
front (so some pixels are occluded and revealed). Runs it in starry_night.jpg's style
(--weights random --seed 0) three ways:
- independent: each frame on its own, from the photo (--frame_init init
  --temporal_weight 0), what stylising the frames one by one gives;
- warm start: each frame starts from the previous result warped by the flow, no
  temporal loss (--temporal_weight 0);
- temporal: warm start plus the temporal loss (the default).
Prints, per way, the flicker (tf_style.flow.flicker: mean squared difference, 0-255
units, between each stylised frame and the previous one warped by the content's flow, on
the pixels where that flow is reliable), the seconds of the first frame and the mean of
the later ones.
Writes a strip of frames of each way to --strip. Compare numbers within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw
import pictures  # benchmarks/pictures.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

WAYS = {
    "independent": ["--frame_init", "init", "--temporal_weight", "0"],
    "warm start": ["--temporal_weight", "0"],
    "temporal": [],
}


def make_clip(path: str, frames: int, height: int, width: int) -> list:
    """Writes the clip (lossless) and returns its frames (uint8 RGB)."""
    from tf_style import testing

    photo_path = pictures.picture("tubingen")
    if os.path.exists(photo_path):
        photo = Image.open(photo_path).convert("RGB")
    else:
        photo = Image.fromarray(testing.synthetic_image(768, 1024, seed=1))
    # The view: 60% of the photo's width, moving right by 1.2% and zooming in by 1% a frame.
    clip = []
    for index in range(frames):
        view_width = photo.width * 0.6 * (0.99 ** index)
        view_height = view_width * height / width
        left = photo.width * (0.1 + 0.012 * index)
        top = (photo.height - view_height) / 2
        frame = photo.resize((width, height), Image.BICUBIC,
                             box=(left, top, left + view_width, top + view_height))
        draw = ImageDraw.Draw(frame)
        radius = height * 0.12
        center_x = width * (0.8 - 0.04 * index)
        center_y = height * 0.65
        draw.ellipse((center_x - radius, center_y - radius, center_x + radius,
                      center_y + radius), fill=(40, 30, 60))
        clip.append(np.asarray(frame))
    testing.write_clip(path, clip, fps=12)
    return clip


def run_way(clip_path: str, style: str, workdir: str, size: int, iters: int, frame_iters: int,
            extra: list) -> dict:
    command = [sys.executable, os.path.join(ROOT, "train.py"), "--content", clip_path,
               "--style", style, "--weights", "random", "--seed", "0", "--size", str(size),
               "--iters", str(iters), "--frame_iters", str(frame_iters), "--workdir", workdir,
               "--progress=false", *extra]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    seconds = []
    for line in completed.stderr.splitlines():
        if "] Frame " in line and " steps in " in line:
            seconds.append(float(line.split(" steps in ")[1].split(" s")[0]))
    return {"seconds": seconds, "wall": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=300, help="first frame's steps at most")
    parser.add_argument("--frame_iters", type=int, default=150, help="later frames' at most")
    parser.add_argument("--ways", default=",".join(WAYS),
                        help="which of " + ", ".join(WAYS) + " to run (comma-separated)")
    parser.add_argument("--strip", default=None, help="write a strip of frames (PNG/JPEG)")
    parser.add_argument("--gif", default=None,
                        help="write an animated GIF: content | independent | temporal")
    parser.add_argument("--json", default=None, help="write the numbers as JSON")
    args = parser.parse_args()

    from tf_style import flow, images, run_directory

    style = pictures.picture("starry_night")
    if not os.path.exists(style):
        style = os.path.join(ROOT, "tf_style", "examples", "style.png")
    height, width = round(args.size * 3 / 4), args.size
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        clip_path = os.path.join(directory, "clip.mkv")
        content = [frame.astype(np.float32) for frame in
                   make_clip(clip_path, args.frames, height, width)]
        strips = []
        for name in args.ways.split(","):
            extra = WAYS[name]
            workdir = os.path.join(directory, name.replace(" ", "_"))
            timing = run_way(clip_path, style, workdir, args.size, args.iters,
                             args.frame_iters, extra)
            stylised = [images.load_image(run_directory.frame_file(workdir, index))
                        for index in range(args.frames)]
            results[name] = {
                "flicker": flow.flicker(stylised, content),
                "first_frame_seconds": timing["seconds"][0],
                "later_frame_seconds": float(np.mean(timing["seconds"][1:])),
                "wall_seconds": timing["wall"],
            }
            strips.append(stylised)
            print(f"{name:12s} flicker {results[name]['flicker']:8.1f}   first frame "
                  f"{results[name]['first_frame_seconds']:6.1f} s   later frames "
                  f"{results[name]['later_frame_seconds']:6.1f} s each   "
                  f"(whole run {timing['wall']:.0f} s)", flush=True)
    baseline = results.get("independent", {}).get("flicker")
    if baseline is not None:
        print(f"\n{args.frames} frames at {width}x{height} px; flicker relative to independent "
              f"frames: " + ", ".join(f"{name} {baseline / value:.1f}x lower"
                                      for name, value in ((n, r["flicker"])
                                                          for n, r in results.items())
                                      if name != "independent"))
    if args.strip:
        shown = list(range(0, args.frames, max(1, args.frames // 4)))[:4]
        rows = [images.side_by_side([content[index] for index in shown], height=height)]
        rows += [images.side_by_side([frames[index] for index in shown], height=height)
                 for frames in strips]
        gap = np.full((8, rows[0].shape[1], 3), 255.0, np.float32)
        sheet = np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=0)
        images.save_image(args.strip, sheet)
        print(f"wrote {args.strip}: rows = content, {args.ways}; frames {shown}")
    if args.gif:
        ways = args.ways.split(",")
        shown = [content] + [strips[ways.index(name)] for name in ("independent", "temporal")
                             if name in ways]
        animation = [images.side_by_side([frames[index] for frames in shown], height=height)
                     for index in range(args.frames)]
        images.save_gif(args.gif, animation, frame_seconds=1 / 6)
        print(f"wrote {args.gif}: content | independent frames | temporal loss")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"frames": args.frames, "size": [width, height], "ways": results}, file,
                      indent=1)


if __name__ == "__main__":
    main()
