import json

import av
import numpy as np
import pytest

from lumiere.errors import LumiereError
from lumiere.jobs import restore
from lumiere.output import DEFAULT_CHUNK_FRAMES, MIN_CHUNK_FRAMES, EncodeRequest, auto_chunk_frames, plan_output
from lumiere.stages.upscale import UpscaleSettings

from .conftest import decode_all

FFV1 = EncodeRequest("ffv1")  # lossless: chunked and whole runs compare frame for frame


def _restore(src, out, model, **kwargs):
    kwargs.setdefault("show_progress", False)
    return restore(src, out, UpscaleSettings(scale=2, model=str(model)), **kwargs)


def test_chunks_join_to_exact_frames_and_timestamps(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=23, fps=18)
    out = tmp_path / "out.mp4"
    _restore(src, out, tiny_models[2], chunk_frames=5)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        before = [f.time for f in a.decode(video=0)]
        after = [f.time for f in b.decode(video=0)]
    assert after == pytest.approx(before, abs=1e-6)
    assert decode_all(out)[0].shape == (96, 128, 3)
    assert not (tmp_path / ".out.mp4.lumiere").exists()


def test_lossless_output_matches_direct_processing(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=7)
    chunked, whole = tmp_path / "chunked.mkv", tmp_path / "whole.mkv"
    _restore(src, chunked, tiny_models[2], encode=FFV1, chunk_frames=2)
    _restore(src, whole, tiny_models[2], encode=FFV1, chunk_frames=100)
    assert all(np.array_equal(a, b) for a, b in zip(decode_all(chunked), decode_all(whole), strict=True))


def test_resume_after_crash_redoes_only_unfinished_chunks(video_factory, tiny_models, tmp_path, monkeypatch):
    from lumiere.io import writer as writer_module

    src = video_factory(frames=12)
    reference = tmp_path / "reference.mkv"
    _restore(src, reference, tiny_models[2], encode=FFV1, chunk_frames=4)

    out = tmp_path / "out.mkv"
    original = writer_module.ChunkWriter.write
    written = []

    def crash_on_frame_9(self, rgb, pts, duration=0):
        written.append(pts)
        if len(written) == 9:
            raise KeyboardInterrupt
        return original(self, rgb, pts, duration)

    monkeypatch.setattr(writer_module.ChunkWriter, "write", crash_on_frame_9)
    with pytest.raises(KeyboardInterrupt):
        _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=4)
    assert not out.exists()
    manifest = json.loads((tmp_path / ".out.mkv.lumiere" / "manifest.json").read_text())
    assert sorted(manifest["done"]) == ["0", "1"]

    monkeypatch.setattr(writer_module.ChunkWriter, "write", original)
    redone = []
    monkeypatch.setattr(writer_module.ChunkWriter, "write",
                        lambda self, rgb, pts, duration=0: redone.append(pts) or original(self, rgb, pts, duration))
    _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=4)
    assert len(redone) == 4  # only the third chunk
    assert all(np.array_equal(a, b) for a, b in zip(decode_all(out), decode_all(reference), strict=True))


def test_changed_settings_are_refused(video_factory, tiny_models, tmp_path, monkeypatch):
    from lumiere import job as job_module

    src = video_factory(frames=8)
    out = tmp_path / "out.mp4"
    monkeypatch.setattr(job_module.Job, "_finish", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        _restore(src, out, tiny_models[2], chunk_frames=4)
    monkeypatch.undo()
    with pytest.raises(LumiereError, match="other settings"):
        restore(src, out, UpscaleSettings(scale=4, model=str(tiny_models[4])), show_progress=False, chunk_frames=4)
    restore(src, out, UpscaleSettings(scale=4, model=str(tiny_models[4])), show_progress=False, chunk_frames=4,
            restart=True)
    assert decode_all(out)[0].shape == (192, 256, 3)


def test_image_sequence_in_and_out_keeps_names(tmp_path, tiny_models):
    import cv2

    frames = tmp_path / "scans"
    frames.mkdir()
    for name in ("reel1_0007.png", "reel1_0008.png", "reel1_0010.png"):
        cv2.imwrite(str(frames / name), np.full((20, 30, 3), 90, np.uint16) * 257)
    out = tmp_path / "restored"
    _restore(frames, out, tiny_models[2])
    names = sorted(p.name for p in out.iterdir())
    assert names == ["reel1_0007.png", "reel1_0008.png", "reel1_0010.png"]
    image = cv2.imread(str(out / names[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (40, 60, 3) and image.dtype == np.uint16


def test_video_to_pattern(video_factory, tiny_models, tmp_path):
    out_dir = tmp_path / "frames"
    out_dir.mkdir()
    _restore(video_factory(frames=3), out_dir / "f_%04d.tiff", tiny_models[2])
    assert sorted(p.name for p in out_dir.iterdir()) == ["f_0000.tiff", "f_0001.tiff", "f_0002.tiff"]


def test_audio_kept_in_sync(video_factory, tiny_models, tmp_path):
    src = video_factory("talk.mkv", frames=24, fps=12, audio="aac", subtitles=True)
    out = tmp_path / "out.mkv"
    _restore(src, out, tiny_models[2], chunk_frames=10)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert [s.type for s in b.streams] == ["video", "audio", "subtitle"]
        audio_a = [p.pts for p in a.demux(audio=0) if p.size]
        audio_b = [p.pts for p in b.demux(audio=0) if p.size]
        assert audio_a == audio_b
        assert b.streams.video[0].start_time == a.streams.video[0].start_time


def test_refuses_to_start_without_disk_space(video_factory, tiny_models, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "out.mp4"
    with pytest.raises(LumiereError, match="not enough disk space"):
        _restore(video_factory(frames=4), out, tiny_models[2])
    assert not out.exists() and not (tmp_path / ".out.mp4.lumiere").exists()


def test_chunk_size_shrinks_for_large_lossless_frames(tmp_path):
    h264 = plan_output(tmp_path / "out.mp4", EncodeRequest(), 8)
    ffv1 = plan_output(tmp_path / "out.mkv", EncodeRequest("ffv1", bit_depth=16), 16)
    tiff = plan_output(tmp_path / "frames", EncodeRequest("tiff"), 8)
    assert auto_chunk_frames(h264, (3840, 2160)) == DEFAULT_CHUNK_FRAMES
    assert auto_chunk_frames(ffv1, (640, 480)) == DEFAULT_CHUNK_FRAMES
    assert MIN_CHUNK_FRAMES <= auto_chunk_frames(ffv1, (3840, 2160)) < DEFAULT_CHUNK_FRAMES
    assert auto_chunk_frames(tiff, (7680, 4320)) == MIN_CHUNK_FRAMES
