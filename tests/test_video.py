"""Reading clips (video files and folders of frames) and writing videos with the audio
copied through, checked by reading the files back with PyAV itself."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av", reason="the [video] extra (PyAV) is not installed")

from tf_style import images, video  # noqa: E402
from tf_style.errors import TransferError  # noqa: E402
from tf_style.testing import panned_frames, synthetic_image, write_clip  # noqa: E402


@pytest.fixture
def frames():
    return panned_frames(synthetic_image(48, 80, seed=1), count=5, height=48, width=64, step=3)


@pytest.fixture
def clip_path(tmp_path, frames):
    path = str(tmp_path / "clip.mkv")
    write_clip(path, frames, fps=12, audio_rate=22050)
    return path


def test_open_clip_reads_every_frame_its_rate_and_audio(clip_path, frames):
    clip = video.open_clip(clip_path)
    assert (clip.frame_count, clip.fps, clip.width, clip.height, clip.has_audio) == (
        5, 12, 64, 48, True)
    read = list(clip.frames(longest_side=64))
    assert len(read) == 5
    for got, want in zip(read, frames):  # the test clip is lossless
        np.testing.assert_array_equal(got, want.astype(np.float32))
    assert list(clip.frames(longest_side=32))[2].shape == (24, 32, 3)


def test_a_folder_of_frames_is_read_in_name_order(tmp_path, frames):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{index:03d}.png")
    (folder / "notes.txt").write_text("not a frame")
    clip = video.open_clip(str(folder), frames_folder=True, fps=30)
    assert (clip.frame_count, clip.fps, clip.has_audio) == (5, 30, False)
    for got, want in zip(clip.frames(longest_side=64), frames):
        np.testing.assert_array_equal(got, want.astype(np.float32))
    Image.fromarray(synthetic_image(64, 48, seed=2)).save(folder / "f999.png")  # portrait
    with pytest.raises(TransferError, match="shaped unlike the first frame"):
        list(video.open_clip(str(folder), frames_folder=True).frames(longest_side=64))


def _packets(path, kind):
    with av.open(path) as container:
        stream = getattr(container.streams, kind)[0]
        return [bytes(packet) for packet in container.demux(stream) if packet.size]


def test_write_video_keeps_rate_and_frames_and_copies_the_audio_packets(tmp_path, clip_path):
    # Smooth pictures: 4:2:0 video halves the colour resolution, which the stripes of
    # synthetic_image would not survive.
    smooth = images.resize(synthetic_image(12, 20, seed=1).astype(np.float32), (80, 48))
    frames = panned_frames(images.to_uint8(smooth), count=5, height=48, width=64, step=3)
    paths = []
    for index, frame in enumerate(frames):
        paths.append(str(tmp_path / f"s{index}.png"))
        images.save_image(paths[-1], frame[:47, :63])  # odd sides: padded to even
    out = str(tmp_path / "out.mp4")
    video.write_video(out, paths, fps=video.open_clip(clip_path).fps, audio_from=clip_path)

    with av.open(out) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 12
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (48, 64, 3)
    for got, frame in zip(decoded, frames):  # H.264 at crf 17 is close, not exact
        assert np.abs(got[:47, :63].astype(float) - frame[:47, :63]).mean() < 4.0
    # The audio is the source's, packet for packet: copied, not encoded again.
    assert _packets(out, "audio") == _packets(clip_path, "audio")
    assert len(_packets(out, "audio")) > 5


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read video"),
    (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4, "cannot read video"),
])
def test_a_file_that_is_not_a_video_is_one_line(tmp_path, content, message):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(TransferError, match=message) as caught:
        video.open_clip(str(path))
    assert "\n" not in str(caught.value)


def test_a_sound_file_without_pictures_is_refused(tmp_path):
    path = str(tmp_path / "sound.mkv")
    with av.open(path, mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(TransferError, match="has no video stream"):
        video.open_clip(path)


def test_without_pyav_a_video_says_how_to_install_it(monkeypatch, clip_path):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(TransferError, match=r"pip install -e '\.\[video\]'"):
        video.open_clip(clip_path)
    assert os.path.exists(clip_path)
