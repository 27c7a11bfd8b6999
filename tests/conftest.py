"""Shared test helpers: small synthetic images and a way to run train.py as a user does."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synthetic_image(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth colour gradients plus stripes: structure for content, texture for style."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.05, 0.4, 2).tolist() + [rng.uniform(0, 6.3)]
        channels.append(127.5 + 120 * np.sin(fx * x + fy * y + phase))
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def write_image_pair(directory) -> tuple:
    """Writes a 48x64 content and a 64x64 style PNG into `directory`; returns their paths."""
    content, style = os.path.join(directory, "content.png"), os.path.join(directory, "style.png")
    Image.fromarray(synthetic_image(48, 64, seed=1)).save(content)
    Image.fromarray(synthetic_image(64, 64, seed=2)).save(style)
    return content, style


@pytest.fixture
def image_files(tmp_path):
    return write_image_pair(str(tmp_path))


def snapshot(directory) -> dict:
    """Every file below `directory` with its bytes, to prove nothing was changed."""
    result = {}
    for path in sorted(glob.glob(os.path.join(directory, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as file:
                result[os.path.relpath(path, directory)] = file.read()
    return result


def run_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python train.py ARGS` in the project root, as a user would."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
