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
from itertools import takewhile
from pathlib import Path

import numpy as np

from .errors import LumiereError
from .io.color import ColorInfo
from .io.reader import open_source
from .io.writer import ChunkWriter, EncodeSettings
from .pipeline import run_pipeline
from .plan import StagePlan, build_stages

PROGRESS_EVERY = 8  # frames between a worker's progress reports
RETRIES = 3


class FilmNotVisible(LumiereError):
    """A worker cannot read the film by its path and was given no copy."""


@dataclass(frozen=True)
class ChunkTask:
    """Everything one chunk needs, picklable."""

    chunk: int
    first: int  # first frame of the chunk
    end: int  # one past its last
    context: int  # frames decoded and run through the stages before `first`
    lookahead: int  # and after `end`
    input: str
    play_fps: Fraction | None
    plan: StagePlan
    encode: EncodeSettings
    size: tuple[int, int]
    fps: Fraction
    time_base: Fraction
    color: ColorInfo
    out_dtype: str
    batch: int
    suffix: str


def render_chunk(task: ChunkTask, input_file: str | None = None, progress=None) -> tuple[int, bytes]:
    """Render one chunk; returns the timestamp of its first frame and the encoded chunk file's bytes.

    `input_file` replaces `task.input` (a copy of the film on this worker); `progress(n)` hears of frames done.
    """
    source = open_source(Path(input_file or task.input), task.play_fps)
    stages = build_stages(task.plan)
    frames = takewhile(lambda frame: frame.index < task.end + task.lookahead,
                       source.frames(max(0, task.first - task.context)))
    with tempfile.TemporaryDirectory(prefix="lumiere-chunk-") as folder:
        path = Path(folder) / f"chunk{task.suffix}"
        state = {"writer": None, "first_pts": 0, "unreported": 0}

        def write(frame) -> None:
            if state["writer"] is None:
                state["first_pts"] = frame.pts
                state["writer"] = ChunkWriter(path, task.encode, *task.size, task.fps, task.time_base, task.color,
                                              pts_offset=frame.pts, frames=task.end - task.first).__enter__()
            state["writer"].write(frame.rgb, frame.pts, frame.duration)
            state["unreported"] += 1
            if progress is not None and state["unreported"] >= PROGRESS_EVERY:
                progress(state["unreported"])
                state["unreported"] = 0

        try:
            run_pipeline(frames, stages, write, total=task.end - task.first, batch=task.batch,
                         out_dtype=np.dtype(task.out_dtype), show_progress=False, wanted=(task.first, task.end))
        except BaseException as exc:
            if state["writer"] is not None:
                state["writer"].__exit__(type(exc), exc, None)
            raise
        if state["writer"] is None:
            raise LumiereError(f"chunk {task.chunk} received no frames")
        state["writer"].__exit__(None, None, None)
        if progress is not None and state["unreported"]:
            progress(state["unreported"])
        return state["first_pts"], path.read_bytes()


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


def run_on_ray(job, chunks: list[int], *, address: str, plan: StagePlan, play_fps: Fraction | None,
               task_function=_remote_render, show_progress: bool = True) -> dict[int, float]:
    """Render `chunks` of `job` as Ray tasks and record each in the job's manifest as it arrives.

    Returns each chunk's wall time on its worker (seconds), for scaling estimates. `task_function` is the
    remote body (a test may wrap it to fail on purpose).
    """
    from tqdm import tqdm

    ray = connect(address)
    info = job.source.info
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1, max_retries=RETRIES,
                        retry_exceptions=True)(_timed(task_function))
    counter = ray.remote(num_cpus=0)(_Counter).remote()
    encode = job.output.encode
    color = job.color or info.color.for_output(job.size[1], info.height)
    tasks = {chunk: ChunkTask(chunk, *job.frame_range(chunk), job.context, job.lookahead, str(info.path), play_fps,
                              plan, encode, job.size, job.fps, job.time_base, color, np.dtype(job.out_dtype).name,
                              job.batch, encode.spec.chunk_suffix)
             for chunk in chunks}
    film = None  # the film in the object store, once a worker cannot see its path
    pending = {remote.remote(task, film, counter): chunk for chunk, task in tasks.items()}
    already = info.frame_count - sum(job.frame_range(k)[1] - job.frame_range(k)[0] for k in chunks)
    progress = tqdm(total=info.frame_count, initial=already, unit="frame", desc="restore (ray)",
                    disable=not show_progress, dynamic_ncols=True, smoothing=0.1)
    seconds: dict[int, float] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            progress.n = already + ray.get(counter.total.remote())
            progress.refresh()
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
                partial = job.chunk_path(chunk).with_name(job.chunk_path(chunk).name + ".partial")
                with open(partial, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(partial, job.chunk_path(chunk))
                job.mark_done(chunk, first_pts)
                seconds[chunk] = spent
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        progress.close()
    return seconds


def _timed(function):
    def timed(task, film, counter):
        started = time.perf_counter()
        first_pts, data = function(task, film, counter)
        return first_pts, data, time.perf_counter() - started
    timed.__name__ = getattr(function, "__name__", "render")
    return timed
