"""One film across many machines: each chunk of a job as a Ray task, joined on the driver.

A chunk is rendered from what `ChunkTask` holds (the film's path, the stage plan, the encoding), so any worker
that can read the film (by its path, or from Ray's object store when it cannot see the path) can do it: the
task builds the stages, decodes the chunk with the frames of context before it and lookahead after it, and
returns the encoded chunk. The driver writes each chunk into the job's work folder as it arrives and records it
in the manifest, so an interrupted distributed job resumes like any other. Failed tasks are retried, on other
nodes if the cluster has them. Ray is imported only here, and only with `--ray`.

The film goes into the object store only once a worker says it cannot see the path (and that worker's chunk is
sent again with it): where every node sees the film, as on one machine or a shared file system, the driver
never reads it whole.
"""

import os
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import LumiereError
from .io.reader import open_source
from .plan import StagePlan, build_stages
from .progress import Progress
from .render import FrameSink, RenderSettings, VideoChunks, VideoFormat, render_chunks

PROGRESS_EVERY = 8  # frames between a worker's progress reports
RETRIES = 3


class FilmNotVisible(LumiereError):
    """A worker cannot read the film by its path and was given no copy."""


@dataclass(frozen=True)
class ChunkTask:
    """Everything one chunk needs, picklable."""

    chunk: int
    input: str
    play_fps: Fraction | None
    plan: StagePlan
    render: RenderSettings
    video: VideoFormat

    @classmethod
    def of(cls, job, chunk: int, plan: StagePlan, play_fps: Fraction | None) -> "ChunkTask":
        return cls(chunk, str(job.source.info.path), play_fps, plan, job.render, job.video)


class _EveryFew:
    """Passes the film frames done on to `report(n)` PROGRESS_EVERY or more at a time (each report is a message
    to the cluster), the rest on `flush`."""

    def __init__(self, report):
        self.report, self.unreported = report, 0

    def __call__(self, frames: int) -> None:
        self.unreported += frames
        if self.unreported >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.unreported:
            self.report(self.unreported)
            self.unreported = 0


def render_chunk(task: ChunkTask, input_file: str | None = None, progress=None) -> tuple[int, bytes]:
    """Render one chunk; returns the timestamp of its first frame and the encoded chunk file's bytes.

    `input_file` replaces `task.input` (a copy of the film on this worker); `progress(n)` hears of the film's
    frames done.
    """
    source = open_source(Path(input_file or task.input), task.play_fps)
    with tempfile.TemporaryDirectory(prefix="lumiere-chunk-") as folder:
        path = Path(folder) / f"chunk{task.video.encode.spec.chunk_suffix}"
        first_pts: list[int] = []
        sink: FrameSink = VideoChunks(task.video, task.render, lambda chunk: path,
                                      lambda chunk, pts: first_pts.append(pts))
        reporting = _EveryFew(progress) if progress is not None else None
        render_chunks(build_stages(task.plan), source, task.render.frame_range(task.chunk), sink, task.render,
                      film_frames_done=reporting)
        if reporting is not None:
            reporting.flush()
        if not first_pts:
            raise LumiereError(f"chunk {task.chunk} received no frames")
        return first_pts[0], path.read_bytes()


def _remote_render(task: ChunkTask, film: bytes | None, counter) -> tuple[int, bytes]:
    """The Ray task: the film by path where this worker sees it, else from the object store (Ray hands a task
    the value behind an object reference given as an argument, so `film` arrives as the file's bytes)."""
    import ray
    import torch

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
    torch.set_num_threads(max(1, cpus))
    input_file = None
    with tempfile.TemporaryDirectory(prefix="lumiere-film-") as folder:
        if not Path(task.input).exists():
            if film is None:
                raise FilmNotVisible(f"worker {os.uname().nodename} cannot see {task.input}")
            input_file = str(Path(folder) / Path(task.input).name)
            Path(input_file).write_bytes(film)
        return render_chunk(task, input_file, progress=lambda n: counter.add.remote(n))


class _Counter:
    def __init__(self):
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n

    def total(self) -> int:
        return self.count


def connect(address: str):
    """Join the Ray cluster at `address` ("auto": the one this machine belongs to, else a new local one)."""
    import ray

    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError:
        if address != "auto":
            raise LumiereError(f"no Ray cluster answers at {address}") from None
        ray.init(include_dashboard=False, log_to_driver=False)
    return ray


def run_on_ray(job, chunks: list[int], progress: Progress | None, *, address: str, plan: StagePlan,
               play_fps: Fraction | None, task_function=_remote_render) -> dict[int, float]:
    """Render `chunks` of `job` as Ray tasks and record each in the job's manifest as it arrives.

    Returns each chunk's wall time on its worker (seconds), for scaling estimates. `task_function` is the
    remote body (a test may wrap it to fail on purpose). `progress` (if any) hears of the film's frames as
    workers finish them.
    """
    ray = connect(address)
    info = job.source.info
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1, max_retries=RETRIES,
                        retry_exceptions=True)(_timed(task_function))
    counter = ray.remote(num_cpus=0)(_Counter).remote()
    tasks = {chunk: ChunkTask.of(job, chunk, plan, play_fps) for chunk in chunks}
    film = None  # the film in the object store, once a worker cannot see its path
    pending = {remote.remote(task, film, counter): chunk for chunk, task in tasks.items()}
    already = job.done_frames()
    seconds: dict[int, float] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if progress is not None:
                progress.reach(already + ray.get(counter.total.remote()))
            for ref in ready:
                chunk = pending.pop(ref)
                try:
                    first_pts, data, spent = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.as_instanceof_cause()
                    if isinstance(cause, FilmNotVisible) and Path(info.path).is_file():
                        if film is None:
                            film = ray.put(Path(info.path).read_bytes())
                        pending[remote.remote(tasks[chunk], film, counter)] = chunk
                        continue
                    raise LumiereError(f"chunk {chunk} failed after {RETRIES} retries: {cause}") from None
                job.work.accept(chunk, first_pts, data)
                seconds[chunk] = spent
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return seconds


def _timed(function):
    def timed(task, film, counter):
        started = time.perf_counter()
        first_pts, data = function(task, film, counter)
        return first_pts, data, time.perf_counter() - started
    timed.__name__ = getattr(function, "__name__", "render")
    return timed
