from fractions import Fraction

import av
import numpy as np
import pytest

from lumiere.errors import OutputError
from lumiere.io.color import ColorInfo
from lumiere.io.writer import Chunk, ChunkWriter, EncodeSettings, join_chunks

from ..conftest import decode_all


def _write_chunks(tmp_path, settings, frames, chunk=4, fps=Fraction(12)):
    paths = []
    for start in range(0, len(frames), chunk):
        path = tmp_path / f"chunk_{start}{settings.spec.chunk_suffix}"
        length = min(chunk, len(frames) - start)
        with ChunkWriter(path, settings, frames[0].shape[1], frames[0].shape[0], fps, 1 / fps,
                         ColorInfo.bt601(), pts_offset=start, frames=length) as writer:
            for index in range(start, min(start + chunk, len(frames))):
                writer.write(frames[index], index, 1)
        paths.append(Chunk(path, start, 1 / fps))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("codec,suffix,depth", [("h264", ".mp4", 8), ("h265", ".mkv", 10), ("av1", ".mp4", 8),
                                                ("ffv1", ".mkv", 8), ("prores", ".mov", 10)])
def test_cardinality_every_codec(tmp_path, codec, suffix, depth):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(10)]
    settings = EncodeSettings(codec, bit_depth=depth, preset={"h264": "ultrafast", "h265": "ultrafast",
                                                             "av1": "12"}.get(codec))
    settings.validate(suffix)
    out = tmp_path / f"out{suffix}"
    join_chunks(_write_chunks(tmp_path, settings, frames), out, None)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
        assert times == pytest.approx([i / 12 for i in range(10)], abs=2e-3)  # Matroska counts milliseconds
        assert stream.codec_context.width == 96
        assert stream.guessed_rate == 12
    assert not list(tmp_path.glob("*.partial"))


def test_ffv1_is_lossless(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (16, 24, 3), dtype=np.uint8) for _ in range(6)]
    out = tmp_path / "lossless.mkv"
    join_chunks(_write_chunks(tmp_path, EncodeSettings("ffv1"), frames, chunk=4), out, None)
    assert all(np.array_equal(a, b) for a, b in zip(frames, decode_all(out), strict=True))


def test_colour_tags_hd(tmp_path):
    frames = [np.zeros((720, 1280, 3), np.uint8)] * 2
    path = tmp_path / "hd.mp4"
    with ChunkWriter(path, EncodeSettings("h264", preset="ultrafast"), 1280, 720, Fraction(24), Fraction(1, 24),
                     ColorInfo.bt601().for_output(720, 480)) as writer:
        for i, f in enumerate(frames):
            writer.write(f, i, 1)
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc) == (1, 1, 1)


def test_colour_round_trip_is_accurate(tmp_path):
    """A flat mid-gray and a saturated colour survive RGB -> YUV -> RGB with the tagged matrix."""
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[:, :32] = (128, 128, 128)
    picture[:, 32:] = (200, 60, 30)
    out = tmp_path / "c.mkv"
    join_chunks(_write_chunks(tmp_path, EncodeSettings("h264", crf=0, preset="ultrafast"), [picture] * 2), out, None)
    back = decode_all(out)[0].astype(int)
    assert np.abs(back[8:-8, 8:24] - 128).max() <= 2
    assert np.abs(back[8:-8, 40:56] - (200, 60, 30)).max() <= 3


def test_audio_and_subtitles_copied(video_factory, tmp_path):
    source = video_factory("talk.mkv", frames=24, fps=12, audio="aac", subtitles=True)
    frames = decode_all(source)
    out = tmp_path / "out.mkv"
    notices = join_chunks(_write_chunks(tmp_path, EncodeSettings("h264", preset="ultrafast"), frames, chunk=10),
                          out, source)
    assert notices == []
    with av.open(str(out)) as container, av.open(str(source)) as original:
        assert [s.type for s in container.streams] == ["video", "audio", "subtitle"]
        copied = [p.size for p in container.demux(container.streams.audio[0]) if p.size]
        expected = [p.size for p in original.demux(original.streams.audio[0]) if p.size]
        assert copied == expected


def test_audio_reencoded_when_container_cannot_hold_it(video_factory, tmp_path):
    source = video_factory("u8.mkv", frames=12, audio="pcm_u8")
    out = tmp_path / "out.mp4"
    notices = join_chunks(_write_chunks(tmp_path, EncodeSettings("h264", preset="ultrafast"), decode_all(source)),
                          out, source)
    assert any("re-encoded as AAC" in n for n in notices)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in container.decode(container.streams.audio[0])) > 0


def test_exception_codec_container_mismatch():
    with pytest.raises(OutputError, match="cannot hold prores"):
        EncodeSettings("prores", bit_depth=10).validate(".mp4")
    with pytest.raises(OutputError, match="unknown video codec"):
        EncodeSettings("divx").validate(".mp4")
    with pytest.raises(OutputError, match="crf does not apply to ffv1"):
        EncodeSettings("ffv1", crf=3).validate(".mkv")
    with pytest.raises(OutputError, match="preset"):
        EncodeSettings("h264", preset="warp").validate(".mp4")


def _nvenc_answers() -> bool:
    probe = av.CodecContext.create("h264_nvenc", "w")
    probe.width, probe.height, probe.pix_fmt, probe.time_base = 256, 256, "yuv420p", Fraction(1, 24)
    try:
        probe.open()
    except (av.FFmpegError, OSError):
        return False
    return True


@pytest.mark.parametrize("codec", ["h264-nvenc", "h265-nvenc"])
def test_hardware_encoder(codec, tmp_path):
    settings = EncodeSettings(codec, crf=23, preset="p4")
    assert settings.encoder_options() == {"rc": "vbr", "cq": "23", "preset": "p4"}
    if not _nvenc_answers():
        with pytest.raises(OutputError, match=f"{codec} encodes on an NVIDIA GPU's video engine.*use "
                                              f"{codec.removesuffix('-nvenc')}"):
            settings.validate(".mp4")
        return
    settings.validate(".mp4")
    path = tmp_path / "chunk.mp4"
    with ChunkWriter(path, settings, 64, 48, Fraction(24), Fraction(1, 24), ColorInfo.bt601()) as writer:
        for index in range(5):
            writer.write(np.full((48, 64, 3), 40 * index, np.uint8), index, 1)
    assert len(decode_all(path)) == 5


def test_exception_frame_size():
    with pytest.raises(OutputError, match="at least 64 px"):
        EncodeSettings("h265").check_size(48, 32)
    with pytest.raises(OutputError, match="even frame size"):
        EncodeSettings("h264").check_size(65, 64)
    EncodeSettings("ffv1").check_size(65, 63)


def test_failed_chunk_leaves_no_file(tmp_path):
    path = tmp_path / "chunk.mp4"
    with pytest.raises(RuntimeError):
        with ChunkWriter(path, EncodeSettings("h264"), 16, 16, Fraction(24), Fraction(1, 24), ColorInfo.bt601()) as w:
            w.write(np.zeros((16, 16, 3), np.uint8), 0, 1)
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_h265_short_chunks_always_mux(tmp_path):
    """A film's last chunk can be a frame or two; libx265 with B-frames used to fail there at random."""
    rng = np.random.default_rng(3)
    settings = EncodeSettings("h265", bit_depth=10, preset="ultrafast")
    for trial in range(20):
        path = tmp_path / f"short{trial}.mp4"
        with ChunkWriter(path, settings, 96, 64, Fraction(12), Fraction(1, 12), ColorInfo.bt601(),
                         pts_offset=8, frames=2) as writer:
            for index in range(2):
                writer.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), 8 + index, 1)
        assert len(decode_all(path)) == 2


def test_cli_codec_choices_are_the_writers():
    from lumiere.cli import CODEC_CHOICES
    from lumiere.io.writer import CODECS, IMAGE_CODECS

    assert set(CODEC_CHOICES) == set(CODECS) | set(IMAGE_CODECS)


@pytest.mark.parametrize("from_zero", [False, True])
def test_cardinality_write_clip(video_factory, tmp_path, from_zero):
    """A stretch of a film, cut to its top-left corner, as a lossless video: the frames and times asked for."""
    from lumiere.io.reader import open_source
    from lumiere.io.writer import write_clip

    source = open_source(video_factory(frames=8))
    clip = open_source(write_clip(source, tmp_path / "clip.mkv", EncodeSettings("ffv1"), range(3, 6), (32, 16),
                                  from_zero))
    whole, cut = list(source.frames()), list(clip.frames())
    assert [frame.rgb.shape for frame in cut] == [(16, 32, 3)] * 3
    for kept, original in zip(cut, whole[3:6], strict=True):
        np.testing.assert_array_equal(kept.rgb, original.rgb[:16, :32])
    seconds = [float(frame.pts * source.info.time_base) for frame in whole[3:6]]
    offset = seconds[0] if from_zero else 0.0
    assert [float(frame.pts * clip.info.time_base) for frame in cut] == pytest.approx(
        [second - offset for second in seconds], abs=1e-3)
