"""Where and how a job writes: the output's kind and encoding decided and checked before any work."""

import pytest

from lumiere.errors import OutputError
from lumiere.output import (
    EncodeRequest,
    auto_chunk_frames,
    check_not_finished,
    check_paths,
    default_output,
    format_bytes,
    format_duration,
    output_folder,
    plan_output,
    work_folder,
)


def test_smoke(tmp_path):
    video = plan_output(tmp_path / "out.mp4", EncodeRequest(), 8)
    assert (video.kind, video.encode.codec, video.encode.bit_depth, video.target) == (
        "video", "h264", 8, tmp_path / "out.mp4")
    deep = plan_output(tmp_path / "out.mkv", EncodeRequest("h265", crf=22, encoder_preset="slow", bit_depth=10), 8)
    assert (deep.encode.codec, deep.encode.crf, deep.encode.preset, deep.encode.bit_depth) == ("h265", 22, "slow", 10)
    frames = plan_output(tmp_path / "frames", EncodeRequest("tiff"), 8)
    assert (frames.kind, frames.image_suffix, frames.target) == ("images", ".tiff", tmp_path / "frames")
    pattern = plan_output(tmp_path / "frames" / "f_%05d.png", EncodeRequest(), 8)
    assert (pattern.kind, pattern.pattern, pattern.target) == ("images", "f_%05d", tmp_path / "frames")


@pytest.mark.parametrize("codec,suffix", [(None, ".mp4"), ("h264", ".mp4"), ("h265", ".mp4"), ("ffv1", ".mkv"),
                                          ("prores", ".mov"), ("png", ""), ("tiff", "")])
def test_encode_request_suffix(codec, suffix):
    assert EncodeRequest(codec).suffix == suffix


@pytest.mark.parametrize("name,request_,message", [
    ("out.mp4", EncodeRequest("png"), "writes an image sequence"),
    ("frames", EncodeRequest("h264"), "must be png or tiff"),
    ("out.xyz", EncodeRequest(), "cannot write '.xyz' video"),
    ("f_%q.png", EncodeRequest(), "must look like"),
    ("out.webm", EncodeRequest("h264"), "webm"),
    ("out.mp4", EncodeRequest("h264", encoder_preset="fastest-ever"), "fastest-ever"),
])
def test_exception(tmp_path, name, request_, message):
    with pytest.raises(OutputError, match=message):
        plan_output(tmp_path / name, request_, 8)


def test_exception_folder_with_a_video_name(tmp_path):
    (tmp_path / "odd.mp4").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        plan_output(tmp_path / "odd.mp4", EncodeRequest(), 8)


def test_check_paths(tmp_path):
    source = tmp_path / "film.mp4"
    source.write_bytes(b"film")
    with pytest.raises(OutputError, match="overwrite the input"):
        check_paths(source, plan_output(source, EncodeRequest(), 8))
    finished = tmp_path / "done.mp4"
    finished.write_bytes(b"done")
    with pytest.raises(OutputError, match="exists; add"):
        check_paths(source, plan_output(finished, EncodeRequest(), 8))
    check_paths(source, plan_output(finished, EncodeRequest(), 8), overwrite=True)
    work_folder(finished).mkdir()  # an unfinished job's output: it resumes
    check_not_finished(finished)


def test_output_folder_removes_what_it_made_on_failure(tmp_path):
    with pytest.raises(RuntimeError), output_folder(tmp_path / "a" / "b"):
        assert (tmp_path / "a" / "b").is_dir()
        raise RuntimeError
    assert not (tmp_path / "a").exists()
    with output_folder(tmp_path / "kept"):
        pass
    assert (tmp_path / "kept").is_dir()


def test_cardinality_chunk_frames_and_names(tmp_path):
    h264 = plan_output(tmp_path / "out.mp4", EncodeRequest(), 8)
    ffv1 = plan_output(tmp_path / "out.mkv", EncodeRequest("ffv1", bit_depth=16), 16)
    assert auto_chunk_frames(h264, (640, 480)) == 240
    assert 24 <= auto_chunk_frames(ffv1, (3840, 2160)) < 240
    assert default_output(tmp_path / "film.mov", ".mp4") == tmp_path / "film-lumiere.mp4"
    assert default_output(tmp_path / "scans", "") == tmp_path / "scans-lumiere"
    assert [format_duration(s) for s in (0.2, 40, 200, 720, 7500)] == ["1 s", "40 s", "3 min 20 s", "12 min",
                                                                         "2 h 05 min"]
    assert [format_bytes(b) for b in (2e5, 3.21e9)] == ["0.2 MB", "3.2 GB"]
