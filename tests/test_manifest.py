"""A job's state on disk: the manifest round trip, what makes it untrustworthy, and the job's fingerprint."""

import json
import os

import pytest

from lumiere.io.reader import open_source
from lumiere.manifest import MANIFEST, DamagedManifest, Manifest, files_record, settings_hash, write_atomically
from lumiere.output import EncodeRequest, plan_output


def test_smoke(tmp_path):
    manifest = Manifest("abc", 24, 100, {"0": {"pts": 0, "size": 10, "sha256": "f" * 64}})
    manifest.save(tmp_path)
    assert Manifest.load(tmp_path) == manifest
    assert not list(tmp_path.glob("*.partial"))


def test_no_manifest_is_none(tmp_path):
    assert Manifest.load(tmp_path) is None


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps({"settings": "abc", "chunk_frames": 24}),  # fields missing
    json.dumps({"settings": "abc", "chunk_frames": 24, "frame_count": 10, "done": {"first": {}}, "version": 3}),
    json.dumps({"settings": "abc", "chunk_frames": 24, "frame_count": 10, "done": {"0": {"pts": 0}}, "version": 3}),
])
def test_exception_damaged(tmp_path, text):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(DamagedManifest, match="restart"):
        Manifest.load(tmp_path)


def test_write_atomically_replaces_all_or_nothing(tmp_path):
    path = tmp_path / "record.json"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_files_record_follows_content_and_names(tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"x" * 10)
    second.write_bytes(b"x" * 10)
    record = files_record([first])
    assert record["size"] == 10 and len(record["sha256"]) == 64
    assert files_record([second])["sha256"] != record["sha256"]  # the name counts
    first.write_bytes(b"y" * 10)
    assert files_record([first])["sha256"] != record["sha256"]


def test_cardinality_settings_hash(video_factory, tmp_path):
    """The same job has the same fingerprint; anything its result depends on changes it."""
    source = open_source(video_factory(frames=2))
    h264 = plan_output(tmp_path / "out.mp4", EncodeRequest(), 8)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    base = settings_hash(source, h264, {"stages": [1]}, [model], 24)
    assert base == settings_hash(source, h264, {"stages": [1]}, [model], 24) and len(base) == 16
    assert base != settings_hash(source, h264, {"stages": [2]}, [model], 24)
    assert base != settings_hash(source, h264, {"stages": [1]}, [model], 12)
    assert base != settings_hash(source, plan_output(tmp_path / "out.mp4", EncodeRequest(crf=30), 8),
                                 {"stages": [1]}, [model], 24)
    model.write_bytes(b"other weights")
    assert base != settings_hash(source, h264, {"stages": [1]}, [model], 24)
    model.write_bytes(b"weights")
    stat = source.info.path.stat()
    os.utime(source.info.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the input changed
    assert base != settings_hash(source, h264, {"stages": [1]}, [model], 24)
