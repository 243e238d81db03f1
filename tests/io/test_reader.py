from fractions import Fraction

import cv2
import numpy as np
import pytest

from lumiere.errors import InputError
from lumiere.io.reader import open_source

from ..conftest import data_path


def test_smoke_video(video_factory):
    source = open_source(video_factory(frames=10, size=(64, 48), fps=12))
    info = source.info
    assert (info.kind, info.width, info.height, info.frame_count, info.fps) == ("video", 64, 48, 10, 12)
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(10))
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].rgb.dtype == np.uint8


def test_start_skips_frames(video_factory):
    frames = list(open_source(video_factory(frames=8)).frames(start=5))
    assert [f.index for f in frames] == [5, 6, 7]


def test_ten_bit_video_reads_as_16_bit(video_factory):
    path = video_factory("deep.mkv", codec="libx265", pix_fmt="yuv420p10le", frames=3)
    source = open_source(path)
    assert source.info.bit_depth == 16
    assert next(source.frames()).rgb.dtype == np.uint16


def test_real_film():
    source = open_source(data_path("film", "street-scene.mp4"))
    assert (source.info.width, source.info.height, source.info.frame_count, source.info.fps) == (640, 480, 150, 18)


def test_image_sequence_folder_and_pattern(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"frame_{i + 1:05d}.png"), np.full((12, 16, 3), i * 40, np.uint16) * 257)
    folder = open_source(tmp_path, Fraction(16))
    assert (folder.info.frame_count, folder.info.bit_depth, folder.info.fps) == (3, 16, 16)
    assert folder.info.frame_names == ("frame_00001.png", "frame_00002.png", "frame_00003.png")
    pattern = open_source(tmp_path / "frame_%05d.png")
    assert pattern.info.frame_count == 3 and pattern.info.fps == 24
    assert [int(f.rgb[0, 0, 0]) for f in pattern.frames()] == [0, 40 * 257, 80 * 257]


def test_exception_missing_and_not_video(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_source(tmp_path / "missing.mp4")
    fake = tmp_path / "notes.mp4"
    fake.write_text("just some text\n")
    with pytest.raises(InputError, match="not a video FFmpeg understands"):
        open_source(fake)


def test_exception_truncated(video_factory, tmp_path):
    data = video_factory(frames=30, size=(96, 64)).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        source = open_source(cut)
        list(source.frames())


def test_exception_sequence_sizes_differ(tmp_path):
    cv2.imwrite(str(tmp_path / "a1.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a2.png"), np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(InputError, match="but the sequence is 8x8"):
        list(open_source(tmp_path).frames())


def test_exception_alpha_sequence(tmp_path):
    cv2.imwrite(str(tmp_path / "a1.png"), np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(InputError, match="alpha channel"):
        open_source(tmp_path)


def test_exception_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no image frames"):
        open_source(tmp_path)
