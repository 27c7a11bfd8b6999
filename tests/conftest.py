"""Shared test fixtures, and a way to run train.py as a user does (helpers: tf_style.testing)."""

import os
import subprocess
import sys

import pytest

from tf_style.testing import write_image_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def image_files(tmp_path):
    return write_image_pair(str(tmp_path))


def run_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python train.py ARGS` in the project root, as a user would."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
