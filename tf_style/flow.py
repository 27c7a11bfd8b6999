"""Optical flow between video frames, warping along it, and where it can be trusted.

After Ruder, Dosovitskiy & Brox, "Artistic Style Transfer for Videos" (GCPR 2016), sec. 3:
a later frame starts from the previous stylised frame warped by the flow, and the temporal
loss holds it to that warp where the flow is reliable. Flow comes from OpenCV (DIS or
Farneback, the [video] extra); OpenCV is imported only here.

A flow is an (H, W, 2) float32 array of (dx, dy) pixel offsets: `flow(a, b)` says for
each pixel p of frame `a` where it is in frame `b`, so a(p) ~ b(p + flow(p)).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tf_style import images
from tf_style.errors import TransferError

# Ruder et al. eq. 3 and 4: a pixel is occluded (disoccluded) when going forward then back
# does not return to it, |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5, and on a motion
# boundary when |grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002.
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def require_opencv() -> None:
    """Raises TransferError, saying how to install it, when OpenCV is missing."""
    _cv2()


def _cv2():
    try:
        import cv2  # noqa: PLC0415
    except ImportError:
        raise TransferError("videos need PyAV and OpenCV: pip install -e '.[video]'") from None
    return cv2


def optical_flow(source: np.ndarray, target: np.ndarray, method: str = "dis") -> np.ndarray:
    """The flow from RGB 0-255 frame `source` to `target`: source(p) ~ target(p + flow(p))."""
    cv2 = _cv2()
    source_gray = cv2.cvtColor(images.to_uint8(source), cv2.COLOR_RGB2GRAY)
    target_gray = cv2.cvtColor(images.to_uint8(target), cv2.COLOR_RGB2GRAY)
    if method == "dis":
        estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return estimator.calc(source_gray, target_gray, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(source_gray, target_gray, None, pyr_scale=0.5,
                                            levels=4, winsize=15, iterations=3, poly_n=5,
                                            poly_sigma=1.2, flags=0)
    raise ValueError(f"Unknown flow method. Received: flow={method!r}")


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at p + flow(p) for every pixel p (bilinear; edges repeated)."""
    cv2 = _cv2()
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32),
                                np.arange(height, dtype=np.float32))
    return cv2.remap(np.asarray(image, np.float32), columns + flow[..., 0], rows + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al.'s weights c: 1 where the backward flow (frame i to i-1) can be trusted,
    0 where it is not consistent with the forward flow (i-1 to i), on motion boundaries,
    and where it leads out of the frame. (H, W) float32."""
    forward_there = warp(forward, backward)  # w~: the forward flow at where p came from
    mismatch = np.sum(np.square(forward_there + backward), axis=-1)
    consistent = mismatch <= CONSISTENCY_RELATIVE * (
        np.sum(np.square(forward_there), axis=-1) + np.sum(np.square(backward), axis=-1)
    ) + CONSISTENCY_ABSOLUTE
    gradient_energy = sum(np.square(np.gradient(backward[..., channel], axis=axis))
                          for channel in (0, 1) for axis in (0, 1))
    smooth = gradient_energy <= BOUNDARY_RELATIVE * np.sum(np.square(backward), axis=-1) \
        + BOUNDARY_ABSOLUTE
    height, width = backward.shape[:2]
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    inside = ((columns + backward[..., 0] >= 0) & (columns + backward[..., 0] <= width - 1)
              & (rows + backward[..., 1] >= 0) & (rows + backward[..., 1] <= height - 1))
    return (consistent & smooth & inside).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Motion:
    """How frame i moved from frame i-1: the backward flow and where it is reliable."""

    backward: np.ndarray
    mask: np.ndarray

    def carry(self, previous: np.ndarray) -> np.ndarray:
        """Frame i-1's picture (e.g. stylised) moved to where its pixels are in frame i."""
        return warp(previous, self.backward)


def motion(previous_frame: np.ndarray, frame: np.ndarray, method: str = "dis") -> Motion:
    """The `Motion` from content frame `previous_frame` to `frame`."""
    backward = optical_flow(frame, previous_frame, method)
    forward = optical_flow(previous_frame, frame, method)
    return Motion(backward, reliable(backward, forward))


def frame_flicker(stylised: np.ndarray, previous_stylised: np.ndarray, step: Motion) -> float:
    """Mean squared difference (0-255 units, over channels) between a stylised frame and the
    previous stylised frame warped by the content's flow, on the reliable pixels."""
    squared = np.mean(np.square(np.asarray(stylised, np.float64)
                                - step.carry(previous_stylised)), axis=-1)
    return float(np.sum(squared * step.mask) / max(1.0, float(np.sum(step.mask))))


def flicker(stylised: Sequence[np.ndarray], content: Sequence[np.ndarray],
            method: str = "dis") -> float:
    """The clip's flicker: `frame_flicker` averaged over frames 2..n, the flow taken from
    the content frames (what the picture should follow), not from the stylised ones."""
    values = [frame_flicker(stylised[index], stylised[index - 1],
                            motion(content[index - 1], content[index], method))
              for index in range(1, len(stylised))]
    return float(np.mean(values)) if values else 0.0
