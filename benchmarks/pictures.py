"""The pictures the benchmarks measure on: the photos and paintings in ../shared/images
beside this checkout when they are there (where the figures in docs/ were measured),
else the drawn examples that ship in tf_style/examples, so every benchmark runs from a
fresh clone. Each benchmark says which it used."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "images")
EXAMPLES = os.path.join(ROOT, "tf_style", "examples")
PHOTOS = ("tubingen",)
PAINTINGS = ("starry_night", "the_scream")


def picture(name: str) -> str:
    """The path of `name` (tubingen, starry_night, the_scream): the shared picture, or the
    drawn example of its kind."""
    shared = os.path.join(SHARED, f"{name}.jpg")
    if os.path.exists(shared):
        return shared
    if name not in PHOTOS + PAINTINGS:
        raise ValueError(f"no picture called {name!r}. Received: {name}")
    example = "content.png" if name in PHOTOS else "style.png"
    print(f"# {shared} is absent: measuring on tf_style/examples/{example} instead",
          file=sys.stderr)
    return os.path.join(EXAMPLES, example)
