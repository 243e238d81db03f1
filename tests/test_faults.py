"""What a hostile user or an unlucky machine does to a job: full disks, damaged chunks, two runs at once,
broken models, odd options. Finished work is never lost, corruption is never passed on, errors are one line."""

import errno
import fcntl
import json
import subprocess
import sys

import av
import numpy as np
import pytest
import torch

from lumiere.errors import ModelError, OutputError
from lumiere.jobs import restore
from lumiere.output import EncodeRequest
from lumiere.stages.upscale import UpscaleSettings

from .conftest import decode_all, run_cli

FFV1 = EncodeRequest("ffv1")  # lossless: chunked and whole runs compare frame for frame


def _restore(src, out, model, **kwargs):
    kwargs.setdefault("show_progress", False)
    return restore(src, out, UpscaleSettings(scale=2, model=str(model)), **kwargs)


def _count_writes(monkeypatch):
    from lumiere.io import writer as writer_module

    original, written = writer_module.ChunkWriter.write, []

    def counting(self, rgb, pts, duration=0):
        written.append(pts)
        return original(self, rgb, pts, duration)

    monkeypatch.setattr(writer_module.ChunkWriter, "write", counting)
    return written


def _all_chunks_then_stop(monkeypatch, src, out, model, **kwargs):
    """Render every chunk, then stop before the join (as a kill would)."""
    from lumiere import job as job_module

    with monkeypatch.context() as patch:
        patch.setattr(job_module.Job, "_finish", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            _restore(src, out, model, **kwargs)
    return out.with_name(f".{out.name}.lumiere")


class TestFinishedWorkIsKept:
    def test_failed_join_keeps_the_chunks_and_says_what_it_needs(self, video_factory, tiny_models, tmp_path,
                                                                  monkeypatch):
        from lumiere import job as job_module

        src, out = video_factory(frames=9), tmp_path / "out.mkv"

        def disk_full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(job_module, "join_chunks", disk_full)
            with pytest.raises(OutputError, match=r"the join needs about [\d.]+ MB.*kept in") as raised:
                _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=3)
        assert "\n" not in str(raised.value) and not out.exists()
        work = tmp_path / ".out.mkv.lumiere"
        assert sorted(p.name for p in work.glob("chunk_*")) == [f"chunk_0000{k}.mp4" for k in range(3)]
        written = _count_writes(monkeypatch)
        _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=3)
        assert written == [] and len(decode_all(out)) == 9 and not work.exists()

    def test_disk_check_on_a_rerun_keeps_the_chunks(self, video_factory, tiny_models, tmp_path, monkeypatch):
        import shutil
        from collections import namedtuple

        src, out = video_factory(frames=6), tmp_path / "out.mkv"
        work = _all_chunks_then_stop(monkeypatch, src, out, tiny_models[2], encode=FFV1, chunk_frames=3)
        usage = namedtuple("usage", "total used free")
        with monkeypatch.context() as patch:
            patch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
            with pytest.raises(OutputError, match=r"needs about [\d.]+ MB, 0.0 MB are free"):
                _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=3)
        assert len(list(work.glob("chunk_*"))) == 2

    @pytest.mark.slow
    @pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux tmpfs mount")
    def test_real_full_disk_during_the_join(self, tiny_models, tmp_path):
        """The case as found: 12 frames of noise need more FFV1 bits than the up-front estimate allows."""
        small = tmp_path / "small"
        small.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(small)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
        try:
            src = tmp_path / "noise.mkv"
            rng = np.random.default_rng(0)
            with av.open(str(src), "w") as container:
                stream = container.add_stream("ffv1", rate=12)
                stream.width, stream.height, stream.pix_fmt = 320, 240, "bgr0"
                for index in range(12):
                    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), np.uint8), format="rgb24")
                    frame.pts = index
                    container.mux(stream.encode(frame))
                container.mux(stream.encode(None))
            result = run_cli("restore", src, "-o", small / "out.mkv", "--scale", "1", "--codec", "ffv1",
                             "--chunk-frames", "3", "-q")
            assert result.returncode == 1, result.stderr
            assert result.stderr.count("\n") == 1 and "kept in" in result.stderr, result.stderr
            assert not (small / "out.mkv").exists()
            assert len(list((small / ".out.mkv.lumiere").glob("chunk_*.mp4"))) == 4
            assert not list(small.glob(".out.mkv.partial"))
        finally:
            subprocess.run(["umount", str(small)], check=False)

    @pytest.mark.parametrize("damage", ["flipped", "truncated", "emptied", "deleted"])
    def test_damaged_chunk_is_rendered_again_alone(self, video_factory, tiny_models, tmp_path, monkeypatch, damage):
        src = video_factory(frames=12)
        reference = tmp_path / "reference.mkv"
        _restore(src, reference, tiny_models[2], encode=FFV1, chunk_frames=4)
        out = tmp_path / "out.mkv"
        work = _all_chunks_then_stop(monkeypatch, src, out, tiny_models[2], encode=FFV1, chunk_frames=4)
        chunk = work / "chunk_00001.mp4"
        data = bytearray(chunk.read_bytes())
        if damage == "flipped":
            middle = len(data) // 2
            data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
            chunk.write_bytes(bytes(data))
        elif damage == "truncated":
            chunk.write_bytes(bytes(data[: len(data) // 2]))
        elif damage == "emptied":
            chunk.write_bytes(b"")
        else:
            chunk.unlink()
        written = _count_writes(monkeypatch)
        notices = _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=4)[1]
        assert len(written) == 4  # the damaged chunk only
        assert any("damaged" in notice for notice in notices)
        assert all(np.array_equal(a, b) for a, b in zip(decode_all(out), decode_all(reference), strict=True))

    def test_manifest_records_size_and_checksum(self, video_factory, tiny_models, tmp_path, monkeypatch):
        import hashlib

        out = tmp_path / "out.mkv"
        work = _all_chunks_then_stop(monkeypatch, video_factory(frames=4), out, tiny_models[2], encode=FFV1,
                                     chunk_frames=2)
        record = json.loads((work / "manifest.json").read_text())["done"]["0"]
        chunk = (work / "chunk_00000.mp4").read_bytes()
        assert record["size"] == len(chunk)
        assert record["sha256"] == hashlib.sha256(b"chunk_00000.mp4\0" + chunk).hexdigest()

    def test_damaged_frame_of_an_image_sequence_is_rendered_again(self, video_factory, tiny_models, tmp_path,
                                                                  monkeypatch):
        src, out = video_factory(frames=4), tmp_path / "frames"
        work = _all_chunks_then_stop(monkeypatch, src, out, tiny_models[2], chunk_frames=2)
        (work / "frames" / "000003.png").write_bytes(b"not a png")
        images = []
        from lumiere.io import writer as writer_module

        original = writer_module.ImageSequenceWriter.write
        monkeypatch.setattr(writer_module.ImageSequenceWriter, "write",
                            lambda self, rgb, index: images.append(index) or original(self, rgb, index))
        _restore(src, out, tiny_models[2], chunk_frames=2)
        assert images == [2, 3] and len(list(out.iterdir())) == 4


class TestRefusedBeforeWork:
    def test_output_named_like_a_video_that_is_a_folder(self, video_factory, tiny_models, tmp_path):
        folder = tmp_path / "o.mp4"
        folder.mkdir()
        with pytest.raises(OutputError, match="is a folder"):
            _restore(video_factory(frames=2), folder, tiny_models[2])
        assert list(folder.iterdir()) == []

    def test_second_run_at_the_same_output_is_refused(self, video_factory, tiny_models, tmp_path):
        src, out = video_factory(frames=2), tmp_path / "out.mp4"
        work = tmp_path / ".out.mp4.lumiere"
        work.mkdir()
        with open(work / "lock", "a+") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.write("lumiere process 4242")
            held.flush()
            with pytest.raises(OutputError, match="lumiere process 4242 is already writing this output"):
                _restore(src, out, tiny_models[2])
        assert not out.exists()
        _restore(src, out, tiny_models[2])  # the lock went with its holder
        assert len(decode_all(out)) == 2

    def test_an_output_finished_by_another_run_after_the_check_is_not_rendered_again(self, video_factory,
                                                                                     tiny_models, tmp_path,
                                                                                     monkeypatch):
        """Two runs started together: the first finishes while the second waits between its path check and the
        lock; the second, once it holds the lock, sees the finished output and refuses."""
        from lumiere import jobs as jobs_module

        src, out = video_factory(frames=2), tmp_path / "out.mp4"
        _restore(src, out, tiny_models[2])
        before = out.read_bytes()
        monkeypatch.setattr(jobs_module, "check_paths", lambda *args: None)  # checked while the other still ran
        with pytest.raises(OutputError, match="exists; add overwrite=True to replace it"):
            _restore(src, out, tiny_models[2])
        assert out.read_bytes() == before and not (tmp_path / ".out.mp4.lumiere").exists()

    @pytest.mark.parametrize("flag", ["--fps", "--source-fps"])
    @pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "5000"])
    def test_frame_rates_must_be_finite(self, flag, value, tmp_path):
        from click.testing import CliRunner

        from lumiere.cli import main

        result = CliRunner().invoke(main, ["restore", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.mp4"),
                                           flag, value])
        assert result.exit_code == 1 and f"{flag} must be" in result.output

    def test_webm_with_aac_audio_gets_opus(self, video_factory, tiny_models, tmp_path):
        src = video_factory("talk.mp4", frames=12, fps=12, audio="aac")
        out = tmp_path / "out.webm"
        path, notices = restore(src, out, UpscaleSettings(scale=1), encode=EncodeRequest("av1"), show_progress=False)
        with av.open(str(out)) as container:
            assert [s.codec_context.name for s in container.streams.audio] == ["opus"]
            assert sum(1 for packet in container.demux(audio=0) if packet.size) > 10
        assert any("re-encoded as Opus" in notice for notice in notices)

    @pytest.mark.slow
    def test_second_video_stream_and_even_rounding_are_said(self, tiny_models, tmp_path):
        src = tmp_path / "two.mkv"
        with av.open(str(src), "w") as container:
            streams = [container.add_stream("libx264", rate=12) for _ in range(2)]
            for stream in streams:
                stream.width, stream.height, stream.pix_fmt = 66, 50, "yuv420p"
            for index in range(3):
                for stream in streams:
                    frame = av.VideoFrame.from_ndarray(np.full((50, 66, 3), 99, np.uint8), format="rgb24")
                    frame.pts = index
                    container.mux(stream.encode(frame))
            for stream in streams:
                container.mux(stream.encode(None))
        _, notices = restore(src, tmp_path / "out.mp4", UpscaleSettings(scale=1.5), show_progress=False)
        assert any("video stream(s) 1" in notice for notice in notices)
        assert any("rounded up from 99x75" in notice for notice in notices)


class TestModels:
    def test_nan_weights_fail_naming_the_model(self, video_factory, tmp_path):
        from lumiere.models.archs import build_compact
        from lumiere.models.loader import save_weights

        model = build_compact(2, num_feat=8, num_conv=2)
        with torch.no_grad():
            model.body[0].weight[0, 0, 0, 0] = float("nan")
        path = tmp_path / "broken.safetensors"
        save_weights(model, path, {})
        out = tmp_path / "out.mp4"
        with pytest.raises(ModelError, match="model broken gave NaN or infinite values"):
            _restore(video_factory(frames=3), out, path)
        assert not out.exists() and not (tmp_path / ".out.mp4.lumiere").exists()

    def test_overflow_at_reduced_precision_falls_back_to_fp32(self, caplog):
        from lumiere.engine.runner import ModelRunner, RunnerSettings
        from lumiere.models.descriptor import LoadedModel, ModelDescriptor

        class OverflowsBelowFp32(torch.nn.Module):
            def forward(self, x):
                return x if x.dtype == torch.float32 else x * float("inf")

        descriptor = ModelDescriptor("overflowing", "test", "restore", 1, 3, 3, False, True, 1, 1, "supported", 0, None)
        runner = ModelRunner(LoadedModel(descriptor, OverflowsBelowFp32()),
                             RunnerSettings("cpu", precision="bf16"))
        x = torch.rand(1, 3, 8, 8)
        assert torch.equal(runner(x), x) and runner.dtype == torch.float32
        assert "running it in fp32" in caplog.text

    @pytest.mark.parametrize("content,expected", [
        ("list", "is not a weights file"),
        ("unknown keys", "no architecture lumiere knows"),
        ("shape", "size mismatch for body.2.weight"),
    ])
    def test_exception_messages_say_what_the_file_is(self, tmp_path, content, expected):
        from spandrel.architectures.Compact import Compact

        from lumiere.models.loader import load_model

        path = tmp_path / "model.pt"
        if content == "list":
            torch.save([1, 2, 3], path)
        elif content == "unknown keys":
            torch.save({"a": torch.zeros(3)}, path)
        else:
            state = Compact(num_feat=16, num_conv=2, upscale=2).state_dict()
            state["body.2.weight"] = torch.zeros(16, 16, 5, 5)
            torch.save(state, path)
        with pytest.raises(ModelError, match=expected) as raised:
            load_model(str(path))
        assert "\n" not in str(raised.value)


class TestCommandLine:
    @pytest.mark.slow
    def test_usage_errors_are_one_line_and_status_1(self):
        for args in (["restore", "x.mp4", "--bogus"], ["restore"], ["nope"], ["restore", "x", "--scale", "abc"]):
            result = run_cli(*args)
            assert result.returncode == 1, args
            assert result.stderr.startswith("lumiere: error: ") and result.stderr.count("\n") == 1, result.stderr
        assert run_cli("--help").returncode == 0 and run_cli().returncode == 0

    @pytest.mark.slow
    def test_upscale_folder_skips_a_bad_image_and_says_so(self, tiny_models, tmp_path):
        import cv2

        folder = tmp_path / "in"
        folder.mkdir()
        for name in ("a.png", "b.png", "c.png", "e.png"):
            cv2.imwrite(str(folder / name), np.full((8, 8, 3), 80, np.uint8))
        (folder / "d.png").write_bytes(b"not an image")
        result = run_cli("upscale", folder, "-o", tmp_path / "out", "--scale", "2", "--model", tiny_models[2], "-q")
        assert result.returncode == 1
        assert "d.png" in result.stderr and "1 of 5 images failed" in result.stderr
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png", "e.png"]

    @pytest.mark.slow
    def test_output_help_lists_only_containers_it_writes(self):
        from lumiere.io.writer import CONTAINERS

        help_text = run_cli("restore", "--help").stdout
        assert ".avi" not in help_text.split("-o, --output")[1].split("--")[0]
        assert ".webm" in help_text and ".webm" in CONTAINERS

    @pytest.mark.slow
    def test_av1_banner_is_not_printed(self, video_factory, tmp_path):
        result = run_cli("restore", video_factory(frames=2), "-o", tmp_path / "o.mkv", "--codec", "av1",
                         "--scale", "1", "-q")
        assert result.returncode == 0 and "Svt[info]" not in result.stderr, result.stderr

    def test_orphaned_preview_clips_of_dead_processes_are_removed(self, tmp_path):
        import os

        from lumiere.io.writer import remove_files_of_dead_processes
        from lumiere.jobs import PREVIEW_PREFIX

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        orphan = tmp_path / f"{PREVIEW_PREFIX}{dead.pid}.mkv"
        alive = tmp_path / f"{PREVIEW_PREFIX}{os.getpid()}.mkv"
        for path in (orphan, alive):
            path.write_bytes(b"clip")
        remove_files_of_dead_processes(tmp_path, f"{PREVIEW_PREFIX}{{pid}}.mkv")
        assert not orphan.exists() and alive.exists()


def test_format_bytes_says_mb_for_small_jobs():
    from lumiere.output import format_bytes

    assert format_bytes(1_234_567) == "1.2 MB" and format_bytes(2.5e9) == "2.5 GB" and format_bytes(0) == "0.0 MB"


class TestFoundByTheFaultCampaign:
    """Cases benchmarks/fault_campaign.py found unclean, each fixed."""

    @pytest.mark.parametrize("damage", ["record without a checksum", "done as a list", "not JSON"])
    def test_damaged_manifest_asks_for_restart(self, video_factory, tiny_models, tmp_path, monkeypatch, damage):
        from lumiere.errors import LumiereError

        src, out = video_factory(frames=4), tmp_path / "out.mkv"
        work = _all_chunks_then_stop(monkeypatch, src, out, tiny_models[2], encode=FFV1, chunk_frames=2)
        manifest = json.loads((work / "manifest.json").read_text())
        if damage == "record without a checksum":
            manifest["done"]["0"] = {"pts": 0}
        elif damage == "done as a list":
            manifest["done"] = [0, 1]
        text = "{not json" if damage == "not JSON" else json.dumps(manifest)
        (work / "manifest.json").write_text(text)
        with pytest.raises(LumiereError, match="manifest.json is damaged.*restart") as raised:
            _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=2)
        assert type(raised.value).__name__ == "DamagedManifest"
        _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=2, restart=True)
        assert len(decode_all(out)) == 4

    def test_full_disk_mid_film_says_what_is_kept_and_how_to_resume(self, video_factory, tiny_models, tmp_path,
                                                                   monkeypatch):
        from click.testing import CliRunner

        from lumiere.cli import main
        from lumiere.io import writer as writer_module

        src, out = video_factory(frames=9), tmp_path / "out.mkv"
        real_commit, commits = writer_module.ChunkWriter.commit, []

        def full_after_one(self):
            if commits:
                raise OSError(errno.ENOSPC, "No space left on device")
            commits.append(self)
            return real_commit(self)

        monkeypatch.setattr(writer_module.ChunkWriter, "commit", full_after_one)
        result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--model", str(tiny_models[2]),
                                           "--codec", "ffv1", "--chunk-frames", "3", "-q"])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert "No space left on device; 1 of 3 chunks are finished and kept in" in result.output
        assert "run the same command again to resume, or add --restart to start over" in result.output

    def test_full_disk_while_closing_a_chunk_leaves_no_partial_file(self, tmp_path, monkeypatch):
        from fractions import Fraction

        from lumiere.io.color import ColorInfo
        from lumiere.io.writer import ChunkWriter, EncodeSettings

        writer = ChunkWriter(tmp_path / "chunk.mp4", EncodeSettings("ffv1"), 16, 16, Fraction(12), Fraction(1, 12),
                             ColorInfo.bt709()).__enter__()
        writer.write(np.zeros((16, 16, 3), np.uint8), 0)
        real_close = writer.container.close

        def close_on_a_full_disk():
            real_close()
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(writer, "container", type("Full", (), {"close": staticmethod(close_on_a_full_disk),
                                                                   "mux": writer.container.mux})())
        with pytest.raises(OSError):
            writer.__exit__(None, None, None)
        assert list(tmp_path.iterdir()) == []

    def test_percent_in_file_names_is_not_a_pattern(self, video_factory, tiny_models, tmp_path):
        src = video_factory("speed 50%.mp4", frames=2)
        out = tmp_path / "out 100%.mp4"
        _restore(src, out, tiny_models[2])
        assert len(decode_all(out)) == 2

    def test_image_codec_with_a_video_name_is_refused(self, video_factory, tmp_path):
        with pytest.raises(OutputError, match="codec png writes an image sequence"):
            restore(video_factory(frames=2), tmp_path / "out.mp4", UpscaleSettings(scale=1),
                    encode=EncodeRequest("png"), show_progress=False)
        assert not (tmp_path / "out.mp4").exists()

    def test_pipe_and_dangling_link_inputs(self, tmp_path):
        import os

        from lumiere.errors import InputError
        from lumiere.io.reader import open_source

        fifo = tmp_path / "pipe.mp4"
        os.mkfifo(fifo)
        with pytest.raises(InputError, match="not a regular file"):
            open_source(fifo)
        loop = tmp_path / "loop.mp4"
        loop.symlink_to(loop)
        with pytest.raises(InputError, match="symbolic link to nothing"):
            open_source(loop)

    def test_output_folder_that_is_a_file(self, video_factory, tiny_models, tmp_path):
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputError, match="is a file, not a folder"):
            _restore(video_factory(frames=2), tmp_path / "file" / "out.mp4", tiny_models[2])

    @pytest.mark.slow
    def test_batch_with_colliding_names_leaves_no_folder(self, video_factory, tmp_path):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = video_factory("a/film.mp4", frames=2)
        second = video_factory("b/film.mp4", frames=2)
        result = run_cli("restore", first, second, "-o", tmp_path / "restored", "--scale", "1")
        assert result.returncode == 1 and "same name" in result.stderr
        assert not (tmp_path / "restored").exists()

    def test_compare_of_a_one_pixel_film(self, tmp_path):
        from lumiere.compare import compose

        pixel = np.full((1, 1, 3), 128, np.uint8)
        for mode in ("split", "side"):
            assert compose(pixel, pixel, mode).shape[:2] == (2, 4 if mode == "side" else 2)

    def test_preview_whose_comparison_would_be_the_input(self, video_factory, tiny_models, tmp_path):
        src = video_factory("film-compare.mp4", frames=4)
        before = src.read_bytes()
        with pytest.raises(OutputError, match="would overwrite the input"):
            _restore(src, tmp_path / "film.mp4", tiny_models[2], preview=0.2)
        assert src.read_bytes() == before

    @pytest.mark.slow
    def test_batch_into_its_own_folder_is_refused(self, video_factory, tmp_path):
        films = tmp_path / "films"
        films.mkdir()
        video_factory("films/a.mp4", frames=2)
        video_factory("films/b.mp4", frames=2)
        result = run_cli("restore", films, "-o", films, "--scale", "1")
        assert result.returncode == 1 and "would overwrite the batch's own films" in result.stderr

    def test_pattern_with_a_bad_field_says_so(self, video_factory, tmp_path):
        with pytest.raises(OutputError, match="frame-number field must look like"):
            restore(video_factory(frames=2), tmp_path / "f_%q.png", UpscaleSettings(scale=1), show_progress=False)

    def test_interrupt_before_any_chunk_leaves_no_work_folder(self, video_factory, tiny_models, tmp_path,
                                                               monkeypatch):
        from lumiere.io import writer as writer_module

        monkeypatch.setattr(writer_module.ChunkWriter, "write", lambda *args, **kwargs: (_ for _ in ()).throw(
            KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            _restore(video_factory(frames=4), tmp_path / "out.mkv", tiny_models[2], encode=FFV1)
        assert list(tmp_path.glob(".out.mkv*")) == []

    def test_stale_partial_of_a_killed_run_is_removed_on_resume(self, video_factory, tiny_models, tmp_path,
                                                                monkeypatch):
        src, out = video_factory(frames=4), tmp_path / "out.mkv"
        work = _all_chunks_then_stop(monkeypatch, src, out, tiny_models[2], encode=FFV1, chunk_frames=2)
        (work / "chunk_00001.mp4.partial").write_bytes(b"half a chunk")
        _restore(src, out, tiny_models[2], encode=FFV1, chunk_frames=2)
        assert not work.exists() and len(decode_all(out)) == 4

    def test_single_pass_video_removes_work_files_of_dead_processes(self, tmp_path):
        from fractions import Fraction

        from lumiere.io.color import ColorInfo
        from lumiere.io.writer import EncodeSettings, video_file

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        orphan = tmp_path / f".cmp.mp4.{dead.pid}.chunk.mp4.partial"
        orphan.write_bytes(b"half")
        with video_file(tmp_path / "cmp.mp4", EncodeSettings("h264", preset="ultrafast"), 16, 16, Fraction(12),
                        Fraction(1, 12), ColorInfo.bt709()) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8), 0)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.mp4"]

    @pytest.mark.slow
    def test_second_ctrl_c_does_not_break_the_first_ones_clean_up(self, tmp_path):
        import signal
        import time

        from .conftest import write_video

        src = write_video(tmp_path / "long.mp4", frames=120, size=(160, 120))
        process = subprocess.Popen([sys.executable, "-m", "lumiere", "restore", str(src), "-o",
                                    str(tmp_path / "out.mkv"), "--scale", "1", "--codec", "ffv1", "--deflicker",
                                    "--chunk-frames", "10", "-q"], stderr=subprocess.PIPE, text=True)
        manifest = tmp_path / ".out.mkv.lumiere" / "manifest.json"
        deadline = time.monotonic() + 120
        while not manifest.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode in (0, 130), stderr
        assert "Traceback" not in stderr and stderr.count("\n") <= 1, stderr
