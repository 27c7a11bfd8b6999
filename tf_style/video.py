"""Video in and out: the frames of a clip (a video file or a folder of frame images), and
a video written from stylised frames with the source's audio copied through.

Video files are read and written with PyAV (FFmpeg in a wheel), the [video] extra,
imported only here and only when a video is used.
"""

from __future__ import annotations

import dataclasses
import fractions
import os
from typing import Iterator, Optional, Sequence

import numpy as np
from absl import logging

from tf_style import images
from tf_style.errors import TransferError
from tf_style.files import atomic_write, expand

# The frame rate of a video made from a folder of frames, when --fps does not say.
DEFAULT_FRAMES_FPS = 24
VIDEO_EXTRA = "pip install -e '.[video]'"


def import_av():
    """PyAV, or a TransferError that says how to install it."""
    try:
        import av  # noqa: PLC0415
    except ImportError:
        raise TransferError(f"videos need PyAV and OpenCV: {VIDEO_EXTRA}") from None
    return av


@dataclasses.dataclass(frozen=True)
class Clip:
    """A clip's frames, where they come from, and its frame rate.

    `path` is a video file, or with `frame_files` a folder whose image files are the frames.
    """

    path: str
    frame_count: int
    fps: fractions.Fraction
    width: int
    height: int
    frame_files: Optional[Sequence[str]] = None
    has_audio: bool = False

    def frames(self, longest_side: int, max_pixels: int = images.DEFAULT_MAX_PIXELS
               ) -> Iterator[np.ndarray]:
        """Each frame in order as RGB float32 0-255, its longest side `longest_side` px."""
        if self.frame_files is not None:
            shape = None
            for path in self.frame_files:
                frame = images.resize_longest_side(images.load_image(
                    path, max_pixels=max_pixels, longest_side=longest_side), longest_side)
                if shape is not None and frame.shape != shape:
                    raise TransferError(f"frame {path} is shaped unlike the first frame of "
                                        f"{self.path} ({self.width}x{self.height} px)")
                shape = frame.shape
                yield frame
            return
        for frame in _decoded(self.path):
            yield images.resize_longest_side(frame, longest_side)


def _decoded(path: str) -> Iterator[np.ndarray]:
    """A video file's frames in order, RGB float32 0-255; TransferError when unreadable."""
    av = import_av()
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24").astype(np.float32)
    except av.FFmpegError as error:
        raise TransferError(f"cannot read video {path}: {error}") from None


def open_clip(path: str, frames_folder: bool = False, fps: Optional[float] = None,
              max_pixels: int = images.DEFAULT_MAX_PIXELS) -> Clip:
    """The clip at `path`, decoded once through to count and check its frames; a folder
    with `frames_folder`. Raises TransferError for anything that is not a readable clip."""
    if frames_folder:
        if not os.path.isdir(path):
            raise TransferError(f"--frames needs a folder of frame images; {path} is not a folder")
        files = expand(path, "--content")
        first = images.load_image(files[0], max_pixels=max_pixels)
        rate = fractions.Fraction(fps or DEFAULT_FRAMES_FPS).limit_denominator(1001)
        return Clip(path, len(files), rate, first.shape[1], first.shape[0], tuple(files))
    if not os.path.isfile(path):
        raise TransferError(f"video {path} does not exist")
    av = import_av()
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise TransferError(f"{path} has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > max_pixels:
                raise TransferError(f"video {path} is {width}x{height} px, more than "
                                    f"--max_image_megapixels allows")
            count = sum(1 for _ in container.decode(video=0))
            rate = stream.average_rate or stream.guessed_rate
            has_audio = bool(container.streams.audio)
    except av.FFmpegError as error:
        raise TransferError(f"cannot read video {path}: {error}") from None
    if count == 0:
        raise TransferError(f"video {path} has no frames")
    if not rate:
        rate = fractions.Fraction(fps or DEFAULT_FRAMES_FPS)
    return Clip(path, count, fractions.Fraction(rate), width, height, None, has_audio)


def write_video(path: str, frame_files: Sequence[str], fps: fractions.Fraction,
                audio_from: Optional[str] = None) -> None:
    """H.264 video of the frames (PNG files) at `fps`, with the first audio stream of the
    video `audio_from` copied through unchanged; written to a temporary file, then renamed."""
    av = import_av()
    first = images.load_image(frame_files[0])
    # 4:2:0 chroma needs even sides; an odd last row or column is repeated.
    height, width = first.shape[0] + first.shape[0] % 2, first.shape[1] + first.shape[1] % 2
    with atomic_write(path) as file:
        with av.open(file, mode="w", format=_container_format(path)) as output:
            stream = output.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "17", "preset": "medium"}
            audio_source = _open_audio(av, audio_from)
            audio_out = (output.add_stream_from_template(audio_source.streams.audio[0])
                         if audio_source else None)
            try:
                for frame_path in frame_files:
                    pixels = images.to_uint8(images.load_image(frame_path))
                    pixels = np.pad(pixels, ((0, height - pixels.shape[0]),
                                             (0, width - pixels.shape[1]), (0, 0)), mode="edge")
                    for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                        output.mux(packet)
                for packet in stream.encode():
                    output.mux(packet)
                if audio_source:
                    _copy_audio(audio_source, audio_out, output)
            finally:
                if audio_source:
                    audio_source.close()


def _container_format(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    return {".mkv": "matroska", ".mov": "mov", ".m4v": "mp4"}.get(extension, "mp4")


def _open_audio(av, path: Optional[str]):
    """The source container when it has audio to copy, else None."""
    if not path or os.path.isdir(path):
        return None
    container = av.open(path)
    if not container.streams.audio:
        container.close()
        return None
    return container


def _copy_audio(source, audio_out, output) -> None:
    """The source's first audio stream's packets, as they are (no re-encoding)."""
    audio_in = source.streams.audio[0]
    for packet in source.demux(audio_in):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        packet.stream = audio_out
        output.mux(packet)


def first_frame(path: str) -> np.ndarray:
    """The first frame (RGB float32 0-255) of a video file or of a folder of frames."""
    if os.path.isdir(path):
        return images.load_image(expand(path, "--content")[0])
    frames = _decoded(path)
    try:
        return next(frames)
    except StopIteration:
        raise TransferError(f"video {path} has no frames") from None
    finally:
        frames.close()


def log_clip(clip: Clip) -> None:
    audio = ", with audio" if clip.has_audio else ""
    logging.info("Video %s: %d frames of %dx%d px at %.3g fps%s", clip.path, clip.frame_count,
                 clip.width, clip.height, float(clip.fps), audio)
