"""A restoration job: the film cut into frame-range chunks, rendered into the job's work folder
(`workfolder.WorkFolder`, which keeps the resume contract), then joined with the source's audio into a
temporary file that is renamed onto the output.

Chunks are rendered by an executor, `executor(job, chunks, progress)`: `render_here` (runs of consecutive
chunks, each in one pass through the stages) or `distributed.run_on_ray`; both hand finished chunks to the work
folder.
"""

import errno
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import LumiereError, OutputError
from .io.color import ColorInfo
from .io.reader import Source
from .io.writer import Chunk, join_chunks
from .output import OutputSpec, format_bytes, frame_bytes
from .progress import Progress
from .render import FrameSink, ImageFrames, RenderSettings, VideoChunks, VideoFormat, render_chunks
from .stages.base import Stage
from .workfolder import ChunkFiles, WorkFolder

SAMPLE_FRAMES = 4  # film frames timed for the time to go, after the one that pays the warm-up


def _runs(chunks: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) in a sorted list of chunk indices."""
    runs: list[tuple[int, int]] = []
    for chunk in chunks:
        if runs and runs[-1][1] == chunk - 1:
            runs[-1] = (runs[-1][0], chunk)
        else:
            runs.append((chunk, chunk))
    return runs


def render_here(job: "Job", chunks: list[int], progress: Progress | None) -> None:
    """The local executor: each run of consecutive chunks in one pass through the job's stages."""
    for first, last in _runs(chunks):
        render_chunks(job.stages, job.source, (job.frame_range(first)[0], job.frame_range(last)[1]), job.sink(),
                      job.render, film_frames_done=None if progress is None else progress.advance)


class Job:
    """A planned run: the stages, what they make of the source (size, rate), how chunks are rendered, and the
    work folder they are rendered into."""

    def __init__(self, source: Source, stages: list[Stage], output: OutputSpec, *, chunk_frames: int,
                 settings: str, work: WorkFolder, batch: int = 1, restart: bool = False,
                 color: ColorInfo | None = None):
        self.source = source
        self.stages = stages
        self.output = output
        info = source.info
        width, height = info.width, info.height
        fps, time_base = info.fps, info.time_base
        for stage in stages:
            width, height = stage.output_size(width, height)
            fps, time_base = stage.output_timing(fps, time_base)
        self.size = (width, height)
        self.fps, self.time_base = fps, time_base  # of the output: a frame-rate change re-times every frame
        self.time_stretch = math.prod(stage.time_stretch for stage in stages)
        if output.kind == "video":
            output.encode.check_size(width, height)
        self.out_dtype = np.uint16 if self._writes_high_depth() else np.uint8
        # each stage's context is counted in the frames of the stage before it, so contexts add up
        self.render = RenderSettings(chunk_frames, info.frame_count, sum(stage.context_frames for stage in stages),
                                     sum(stage.lookahead for stage in stages), batch, np.dtype(self.out_dtype).name)
        # color None: the source's own, as `ColorInfo.for_output` keeps or converts it
        self.video = (VideoFormat(output.encode, self.size, fps, time_base,
                                  color or info.color.for_output(self.size[1], info.height))
                      if output.kind == "video" else None)
        self.work = work
        self.chunks = ChunkFiles(work.path, output, self.render, info.frame_names)
        try:
            self.notices = work.open(settings, self.chunks, restart)
        except BaseException:
            work.release()
            raise

    def _writes_high_depth(self) -> bool:
        if self.output.kind == "images":
            return self.source.info.bit_depth == 16 and self.output.image_suffix in (".png", ".tif", ".tiff")
        return self.output.encode.bit_depth > 8

    @property
    def chunk_count(self) -> int:
        return self.render.chunk_count

    def estimated_bytes(self) -> int:
        """A generous estimate of the output's size."""
        frames = self.source.info.frame_count * float(self.fps / self.source.info.fps)
        return int(frames * frame_bytes(self.output, self.size, self.out_dtype == np.uint16))

    def check_disk(self) -> None:
        """Refuse to start when the disk cannot hold what is left: the chunks, then the joined copy of them."""
        left = self.estimated_bytes() * len(self.work.pending()) / max(1, self.chunk_count)
        joined = left + self.work.done_bytes() if self.output.kind == "video" else 0
        needed = left + joined
        free = shutil.disk_usage(self.work.path).free
        if free < needed:
            raise OutputError(f"not enough disk space at {self.work.path.parent}: this job needs about "
                              f"{format_bytes(needed)}, {format_bytes(free)} are free")

    def frame_range(self, chunk: int) -> tuple[int, int]:
        """First and one-past-last frame index of a chunk."""
        return self.render.frame_range(chunk)

    def run(self, executor=None, starting: Callable[[], Progress | None] | None = None) -> list[str]:
        """Render every pending chunk, then join; returns notices for the user.

        `executor(job, chunks, progress)` renders the chunks and marks each done as it is finished: `render_here`
        by default, `distributed.run_on_ray` on a cluster. `starting()` is called once the job holds its output
        and has room for it, before the first chunk, and gives the bar the chunks advance (in film frames).
        """
        try:
            self.check_disk()
            pending = self.work.pending()
            if pending:
                progress = starting() if starting is not None else None
                (executor or render_here)(self, pending, progress)
            return self.notices + self._finish()
        except BaseException:
            if not self.work.manifest.done:  # stopped before any chunk was finished: nothing worth resuming
                self.work.remove()
            raise
        finally:
            self.work.release()

    def time_frames(self, scratch: Path) -> float:
        """Seconds a film frame costs through the stages and the encoder, with every frame the stages make of it
        (in-between frames too): the first pending frames rendered as the job would into `scratch` (a file, or a
        folder for images; left for the caller to time what follows on it, then remove). The first frame pays
        the networks' warm-up and is not counted, unless a stage makes its frames in bursts (a recurrent
        network's window): then a whole burst is timed, warm-up and all."""
        first = self.frame_range(self.work.pending()[0])[0]
        burst = max((stage.frames_at_once for stage in self.stages), default=1)
        end = min(self.render.frame_count, first + max(1 + SAMPLE_FRAMES, burst))
        one_chunk = replace(self.render, chunk_frames=self.render.frame_count)
        if self.output.kind == "video":
            sink: FrameSink = VideoChunks(self.video, one_chunk, lambda chunk: scratch, lambda chunk, pts: None)
        else:
            scratch.mkdir(exist_ok=True)
            sink = ImageFrames(self.chunks.image_writer(scratch), one_chunk, lambda chunk, pts: None)
        moments: list[tuple[int, float]] = []  # (film frames done, when)

        def film_frames_done(count: int) -> None:
            if count:
                moments.append((count + (moments[-1][0] if moments else 0), time.perf_counter()))

        started = time.perf_counter()
        render_chunks(self.stages, self.source, (first, end), sink, self.render, film_frames_done=film_frames_done)
        (warm, warmed_at), (done, finished_at) = moments[0], moments[-1]
        if done == warm or burst > 1:  # one frame left, or the first burst: its warm-up is part of it
            return (finished_at - started) / done
        return (finished_at - warmed_at) / (done - warm)

    def frames_left(self) -> int:
        return self.source.info.frame_count - self.done_frames()

    def done_frames(self) -> int:
        return self.source.info.frame_count - sum(self.frame_range(k)[1] - self.frame_range(k)[0]
                                                  for k in self.work.pending())

    def sink(self) -> FrameSink:
        """Where this job's frames go: chunk files in the work folder, each marked done once complete."""
        if self.output.kind == "video":
            return VideoChunks(self.video, self.render, self.chunks.path, self.work.mark_done)
        self.chunks.path(0).mkdir(exist_ok=True)
        return ImageFrames(self.chunks.image_writer(), self.render, self.work.mark_done)

    def _finish(self) -> list[str]:
        missing = self.work.pending()
        if missing:
            raise LumiereError(f"chunks {missing[:5]} did not complete; run the same command again to resume")
        damaged = self.work.drop_damaged()
        if damaged:
            raise LumiereError(f"finished chunk(s) {damaged[:5]} changed on disk before the join; run the same "
                               "command again to render them anew")
        notices: list[str] = []
        if self.output.kind == "video":
            notices = self._join()
        else:
            target = self.output.folder
            target.mkdir(exist_ok=True)
            for frame_file in sorted(self.chunks.path(0).iterdir()):
                os.replace(frame_file, target / frame_file.name)
            if self.source.info.has_audio:
                notices.append("the source's audio is not written into an image sequence")
        self.work.remove()
        return notices

    def _join(self) -> list[str]:
        """Join the chunks into the output; a join that fails (a full disk) keeps every chunk for a rerun."""
        source_media = self.source.info.path if self.source.info.kind == "video" else None
        notices = []
        if self.time_stretch != 1 and source_media is not None:
            source_media = None
            if self.source.info.has_audio:
                notices.append(f"the sound is left out: slow motion plays the picture {self.time_stretch:g} times "
                               "as long")
        chunks = [Chunk(self.chunks.path(k), self.work.first_pts(k), self.time_base)
                  for k in range(self.chunk_count)]
        needed = self.work.done_bytes()
        kept = f"the {self.chunk_count} finished chunk(s) are kept in {self.work.path}"
        free = shutil.disk_usage(self.work.path).free
        if free < needed:
            raise OutputError(f"not enough disk space to join the output: the join needs about "
                              f"{format_bytes(needed)} at {self.output.path.parent}, {format_bytes(free)} are free; "
                              f"{kept}; free some space and run the same command again")
        try:
            return notices + join_chunks(chunks, self.output.path, source_media)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            reason = "the disk filled up"
        except OutputError as exc:
            reason = str(exc)
        raise OutputError(f"{reason}; the join needs about {format_bytes(needed)} free at "
                          f"{self.output.path.parent}; {kept}: run the same command again to join them") from None
