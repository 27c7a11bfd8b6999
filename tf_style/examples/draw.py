"""The project's own example inputs, drawn from code so that no third-party image ships.

`content.png` is a small village by a lake; `style.png` is a field of swirling, coloured
brush strokes; `style2.png` long straight strokes in a warm palette; `left.png` and
`right.png` mask the content's halves. Regenerate them with `python -m tf_style.examples.draw`.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

EXAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))
CONTENT_PATH = os.path.join(EXAMPLES_DIR, "content.png")
STYLE_PATH = os.path.join(EXAMPLES_DIR, "style.png")
SECOND_STYLE_PATH = os.path.join(EXAMPLES_DIR, "style2.png")
# Masks of the content's left and right halves, for --content_mask.
MASK_PATHS = tuple(os.path.join(EXAMPLES_DIR, name) for name in ("left.png", "right.png"))


def draw_content(width: int = 512, height: int = 384) -> Image.Image:
    """A village by a lake under an evening sky: edges and shapes for the content loss."""
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 200]) + y * np.array([250, 200, 150])
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    draw.ellipse((width * 0.72, height * 0.1, width * 0.86, height * 0.28), fill=(255, 235, 150))
    hills = [(0, horizon)] + [
        (x, horizon - 60 - 40 * math.sin(x / width * 7) - 25 * math.sin(x / width * 17))
        for x in range(0, width + 1, 8)] + [(width, horizon)]
    draw.polygon(hills, fill=(70, 110, 80))
    rng = np.random.default_rng(0)
    colours = [(230, 200, 90), (220, 120, 100), (240, 240, 230), (200, 160, 200), (150, 190, 230)]
    x = 10
    while x < width - 40:
        house_width = int(rng.integers(36, 64))
        house_height = int(rng.integers(50, 95))
        top = horizon - house_height
        draw.rectangle((x, top, x + house_width, horizon), fill=colours[int(rng.integers(5))],
                       outline=(60, 50, 40))
        draw.polygon([(x - 4, top), (x + house_width // 2, top - 30), (x + house_width + 4, top)],
                     fill=(150, 60, 45))
        for row in range(top + 10, horizon - 14, 22):
            for column in range(x + 7, x + house_width - 10, 14):
                draw.rectangle((column, row, column + 7, row + 10), fill=(60, 70, 90))
        x += house_width + int(rng.integers(4, 14))
    land = image.crop((0, 0, width, horizon))
    reflection = land.transpose(Image.Transpose.FLIP_TOP_BOTTOM).resize((width, height - horizon))
    water = Image.blend(reflection.filter(ImageFilter.GaussianBlur(2)),
                        Image.new("RGB", reflection.size, (40, 70, 110)), 0.45)
    image.paste(water, (0, horizon))
    draw.line((0, horizon, width, horizon), fill=(40, 50, 40), width=3)
    return image


def draw_style(width: int = 512, height: int = 512, strokes: int = 2600) -> Image.Image:
    """Short curved strokes that follow a swirling flow field, in a bold palette."""
    image = Image.new("RGB", (width, height), (20, 40, 90))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(1)
    palette = np.array([(25, 60, 140), (40, 90, 180), (80, 140, 210), (240, 210, 80),
                        (250, 240, 170), (20, 30, 60), (90, 160, 150)])
    centres = rng.uniform(0, 1, (5, 2)) * (width, height)
    for _ in range(strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        colour = palette[int(rng.integers(len(palette)))] + rng.integers(-20, 20, 3)
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 14))):
            angle = sum(math.atan2(y - cy, x - cx) + math.pi / 2 for cx, cy in centres[:2])
            angle += 0.6 * math.sin(x / 40) + 0.6 * math.cos(y / 55)
            x, y = x + 5 * math.cos(angle), y + 5 * math.sin(angle)
            points.append((x, y))
        draw.line(points, fill=tuple(int(c) for c in np.clip(colour, 0, 255)),
                  width=int(rng.integers(3, 8)), joint="curve")
    return image.filter(ImageFilter.SMOOTH)


def draw_second_style(width: int = 512, height: int = 512, strokes: int = 900) -> Image.Image:
    """Long straight strokes along a wave, in warm reds, oranges and near-black: a painting
    unlike `draw_style`, for blends and masks."""
    image = Image.new("RGB", (width, height), (120, 40, 30))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(2)
    palette = np.array([(200, 60, 40), (240, 140, 50), (250, 200, 90), (30, 20, 20),
                        (150, 30, 40), (90, 60, 50)])
    for _ in range(strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = 0.8 * math.sin(y / 45) + 0.3 * math.cos(x / 70)
        length = rng.uniform(20, 60)
        colour = palette[int(rng.integers(len(palette)))] + rng.integers(-15, 15, 3)
        draw.line((x, y, x + length * math.cos(angle), y + length * math.sin(angle)),
                  fill=tuple(int(c) for c in np.clip(colour, 0, 255)),
                  width=int(rng.integers(4, 10)))
    return image.filter(ImageFilter.SMOOTH)


def draw_halves(width: int = 512, height: int = 384) -> tuple:
    """White on the left half and on the right half: masks of `draw_content`'s halves."""
    left = np.zeros((height, width), np.uint8)
    left[:, :width // 2] = 255
    return Image.fromarray(left), Image.fromarray(255 - left)


if __name__ == "__main__":
    draw_content().save(CONTENT_PATH, optimize=True)
    draw_style().save(STYLE_PATH, optimize=True)
    draw_second_style().save(SECOND_STYLE_PATH, optimize=True)
    for mask, path in zip(draw_halves(), MASK_PATHS):
        mask.save(path, optimize=True)
    print(f"wrote {CONTENT_PATH}, {STYLE_PATH}, {SECOND_STYLE_PATH} and the masks")
