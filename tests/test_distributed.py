"""Long jobs without fear: killed processes resume to the same bytes, chunks render anywhere, Ray retries."""

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from .conftest import decode_all

pytestmark = pytest.mark.xdist_group("ray")  # one local cluster at a time: these run in one worker, in turn


def _frames_and_times(path):
    import av

    with av.open(str(path)) as container:
        frames = [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]
    return [pts for pts, _ in frames], [image for _, image in frames]


def _same_video(a, b) -> bool:
    times_a, frames_a = _frames_and_times(a)
    times_b, frames_b = _frames_and_times(b)
    return times_a == times_b and all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))


def _restore_command(src, out, *extra):
    return [sys.executable, "-m", "lumiere", "restore", str(src), "-o", str(out), "--codec", "ffv1", "--scale", "1",
            "--stabilize", "--deflicker", "--chunk-frames", "4", "-q", *extra]


@pytest.mark.slow
def test_killed_five_times_then_resumed_equals_an_uninterrupted_run(tmp_path, video_factory):
    src = video_factory(frames=40, size=(160, 120), fps=24)
    reference = tmp_path / "reference.mkv"
    subprocess.run(_restore_command(src, reference), check=True, timeout=300)
    out = tmp_path / "out.mkv"
    manifest = tmp_path / ".out.mkv.lumiere" / "manifest.json"
    for delay in (2.0, 2.6, 3.1, 3.7, 4.4):  # a kill -9 anywhere: starting up, mid-chunk, joining
        process = subprocess.Popen(_restore_command(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not out.exists() or manifest.exists() is False  # never a half-written output
    if not out.exists() or (tmp_path / ".out.mkv.lumiere").exists():  # a late kill may find the job finished
        subprocess.run(_restore_command(src, out), check=True, timeout=300)
    assert _same_video(out, reference)
    assert not (tmp_path / ".out.mkv.lumiere").exists()


@pytest.mark.slow
def test_each_chunk_renders_alone_as_in_one_pass(tmp_path, video_factory):
    from lumiere.distributed import ChunkTask, render_chunk
    from lumiere.engine.runner import RunnerSettings
    from lumiere.io.reader import open_source
    from lumiere.job import Job
    from lumiere.output import EncodeRequest, plan_output
    from lumiere.plan import build_stages, plan_stages
    from lumiere.stages.deflicker import DeflickerSettings
    from lumiere.stages.interpolate import InterpolateSettings
    from lumiere.stages.stabilize import StabilizeSettings
    from lumiere.workfolder import WorkFolder

    src = video_factory(frames=20, size=(96, 64), fps=12)
    source = open_source(src)
    film = [StabilizeSettings(radius=4), DeflickerSettings(radius=3), InterpolateSettings(Fraction(24))]
    plan = plan_stages(source, film, RunnerSettings(), even=True)
    whole = tmp_path / "whole.mkv"
    job = Job(source, build_stages(plan), plan_output(whole, EncodeRequest("ffv1"), 8), chunk_frames=8,
              settings="s", work=WorkFolder(whole))
    job.run()
    chunks = []
    for chunk in range(3):
        first_pts, data = render_chunk(ChunkTask.of(job, chunk, plan, None))
        path = tmp_path / f"chunk{chunk}.mkv"
        path.write_bytes(data)
        chunks.append(path)
    from lumiere.io.writer import Chunk, join_chunks

    joined = tmp_path / "joined.mkv"
    pts = [int(round(k * 8 * 2)) for k in range(3)]  # 12 fps in, 24 out: chunk k starts at output frame 16 k
    join_chunks([Chunk(path, offset, job.time_base) for path, offset in zip(chunks, pts, strict=True)], joined, None)
    assert _same_video(joined, whole)


@pytest.fixture(scope="module")
def local_cluster():
    ray = pytest.importorskip("ray", reason="Ray is installed by the test extra; without it this is skipped")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_run_equals_a_plain_run(tmp_path, video_factory, local_cluster):
    from click.testing import CliRunner

    from lumiere.cli import main

    src = video_factory(frames=24, size=(96, 64), fps=12)
    args = ["--codec", "ffv1", "--scale", "1", "--deflicker", "--fps", "24", "--chunk-frames", "6", "-q"]
    plain, distributed = tmp_path / "plain.mkv", tmp_path / "ray.mkv"
    assert CliRunner().invoke(main, ["restore", str(src), "-o", str(plain), *args]).exit_code == 0
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(distributed), "--ray", "auto", *args])
    assert result.exit_code == 0, result.output
    assert _same_video(distributed, plain)


def _ray_job(tmp_path, film, task_function, name="out.mkv"):
    """A 12-frame job in chunks of 4, rendered on the local cluster by `task_function`; returns its output."""
    from lumiere.distributed import run_on_ray
    from lumiere.engine.runner import RunnerSettings
    from lumiere.io.reader import open_source
    from lumiere.job import Job
    from lumiere.output import EncodeRequest, plan_output
    from lumiere.plan import build_stages, plan_stages
    from lumiere.workfolder import WorkFolder

    source = open_source(film)
    plan = plan_stages(source, [], RunnerSettings(), even=True)
    out = tmp_path / name
    job = Job(source, build_stages(plan), plan_output(out, EncodeRequest("ffv1"), 8), chunk_frames=4,
              settings="s", work=WorkFolder(out))
    job.run(lambda job, chunks, progress: run_on_ray(job, chunks, progress, address="auto", plan=plan,
                                                     play_fps=None, task_function=task_function))
    return out


@pytest.mark.slow
def test_a_failing_worker_is_retried(tmp_path, video_factory, local_cluster):
    from lumiere.distributed import _remote_render

    marker = tmp_path / "failed-once"

    def fails_first_time(task, film, counter):
        if task.chunk == 1 and not marker.exists():
            marker.write_text("failed")
            raise RuntimeError("worker lost")
        return _remote_render(task, film, counter)

    out = _ray_job(tmp_path, video_factory(frames=12, size=(96, 64)), fails_first_time)
    assert marker.exists() and len(decode_all(out)) == 12


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_film_gets_it_from_the_object_store(tmp_path, video_factory, local_cluster):
    from dataclasses import replace

    from lumiere.distributed import _remote_render

    def elsewhere(task, film, counter):  # as on a node without the driver's files
        return _remote_render(replace(task, input=str(tmp_path / "not-here" / Path(task.input).name)), film,
                              counter)

    film = video_factory(frames=12, size=(96, 64))  # one file for both jobs: x264 need not repeat its bytes
    moved = _ray_job(tmp_path, film, elsewhere, "moved.mkv")
    seen = _ray_job(tmp_path, film, _remote_render, "seen.mkv")
    assert _same_video(moved, seen) and len(decode_all(moved)) == 12


@pytest.mark.slow
def test_ray_is_not_imported_without_ray(tmp_path, video_factory):
    code = ("import sys; from click.testing import CliRunner; from lumiere.cli import main; "
            f"r = CliRunner().invoke(main, ['restore', {str(video_factory(frames=2))!r}, '-o', "
            f"{str(tmp_path / 'o.mp4')!r}, '--scale', '1', '-q']); "
            "assert r.exit_code == 0, r.output; print('ray' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ})
    assert result.stdout.strip() == "False", result.stderr
