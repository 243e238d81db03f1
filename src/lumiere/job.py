"""A restoration job: the film cut into frame-range chunks, recorded in a manifest beside the output.

Each chunk is encoded into its own file in a work folder (`.OUT.lumiere/`) and
marked done in the manifest once complete, with its size and SHA-256; at the end
the chunks are joined, with the source's audio, into a temporary file that is
renamed onto the output. Re-running the same job skips the chunks already done,
once their checksums match: a damaged or missing chunk is rendered again alone.
Finished chunks are never deleted on an error, only by `restart` or a finished
join. One process at a time holds a job: a lock file in the work folder.

Chunks are rendered by an executor, `executor(job, chunks)`: `render_here` (runs of consecutive chunks, each
in one pass through the stages) or `distributed.run_on_ray`.
"""

import errno
import fcntl
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import LumiereError, OutputError
from .io.color import ColorInfo
from .io.reader import Source, is_frame_pattern
from .io.writer import Chunk, ImageSequenceWriter, join_chunks
from .manifest import MANIFEST_VERSION, DamagedManifest, Manifest, files_record, write_atomically
from .output import OutputSpec, format_bytes, frame_bytes, work_folder
from .progress import Progress
from .render import FrameSink, ImageFrames, RenderSettings, VideoChunks, VideoFormat, render_chunks
from .stages.base import Stage

LOCK = "lock"
SAMPLE_FRAMES = 4  # film frames timed for the time to go, after the one that pays the warm-up


@dataclass(frozen=True)
class KeptWork:
    """What an unfinished job left at an output for a rerun to resume."""

    finished: int  # chunks
    chunks: int
    work: Path

    def __str__(self) -> str:
        return f"{self.finished} of {self.chunks} chunks are finished and kept in {self.work}"


def kept_work(target: Path) -> KeptWork | None:
    """The finished chunks an unfinished job left at an output (a video, a frame folder or pattern), or None."""
    target = Path(target)
    work = work_folder(target.parent if is_frame_pattern(target.name) else target)
    try:
        manifest = Manifest.load(work)
    except DamagedManifest:
        return None
    if manifest is None or not manifest.done:
        return None
    return KeptWork(len(manifest.done), -(-manifest.frame_count // manifest.chunk_frames), work)


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


class WorkLock:
    """This process's hold on a job's work folder (made if need be): a second run at the same output is refused,
    not interleaved. Taken before any slow work, so that two runs started together cannot both pass."""

    def __init__(self, target: Path):
        self.work = work_folder(target)
        self.made = not self.work.exists()
        self.work.mkdir(exist_ok=True)
        handle = open(self.work / LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            with open(self.work / LOCK) as held:
                holder = held.read().strip() or "another process"
            raise OutputError(f"{holder} is already writing this output (its work folder {self.work} is locked); "
                              "wait for it to finish or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"lumiere process {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let go (the lock goes with the process too, should it die); a work folder this lock made and nothing
        was kept in is removed."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            if self.made and self.work.is_dir() and all(entry.name == LOCK for entry in self.work.iterdir()):
                shutil.rmtree(self.work, ignore_errors=True)


class Job:
    def __init__(self, source: Source, stages: list[Stage], output: OutputSpec, *, chunk_frames: int,
                 settings: str, lock: WorkLock, batch: int = 1, restart: bool = False,
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
        self._lock = lock
        self.work = lock.work  # the job's work folder is the one its lock holds
        self.notices: list[str] = []
        try:
            self.manifest = self._open_manifest(settings, restart)
            self._drop_damaged_chunks()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let go of the work folder."""
        self._lock.release()

    def _writes_high_depth(self) -> bool:
        if self.output.kind == "images":
            return self.source.info.bit_depth == 16 and self.output.image_suffix in (".png", ".tif", ".tiff")
        return self.output.encode.bit_depth > 8

    def _open_manifest(self, settings: str, restart: bool) -> Manifest:
        try:
            existing = Manifest.load(self.work)
        except DamagedManifest:
            if not restart:
                raise
            existing = None
        if existing is not None and not restart:
            if existing.version != MANIFEST_VERSION:
                raise LumiereError(f"{self.work} holds an unfinished job of an older lumiere; pass $restart to "
                                   "discard it")
            if existing.settings != settings:
                raise LumiereError(f"{self.work} holds an unfinished job with other settings, input or model; "
                                   "pass $restart to discard it")
            for stale in self.work.glob("*.partial"):  # a killed run's unfinished chunk: this process holds the lock
                stale.unlink()
            return existing
        self._clear_work()
        manifest = Manifest(settings, self.render.chunk_frames, self.source.info.frame_count, {})
        manifest.save(self.work)
        return manifest

    def _clear_work(self) -> None:
        """Empty the work folder, keeping the lock this process holds on it."""
        for entry in self.work.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def chunk_files(self, chunk: int) -> list[Path]:
        """The files a finished chunk consists of: its video file, or its frames in the frames folder."""
        if self.output.kind == "video":
            return [self.chunk_path(chunk)]
        writer = self._image_writer()
        return [self.chunk_path(chunk) / writer.name_for(index) for index in range(*self.frame_range(chunk))]

    def _chunk_intact(self, chunk: int) -> bool:
        record = self.manifest.done[str(chunk)]
        files = self.chunk_files(chunk)
        if not all(path.is_file() for path in files):
            return False
        if sum(path.stat().st_size for path in files) != record["size"]:
            return False
        return files_record(files) == {"size": record["size"], "sha256": record["sha256"]}

    def _drop_damaged_chunks(self) -> list[int]:
        """Forget finished chunks whose files are missing or changed, so that they are rendered again alone."""
        damaged = [int(k) for k in sorted(self.manifest.done, key=int) if not self._chunk_intact(int(k))]
        if damaged:
            for chunk in damaged:
                del self.manifest.done[str(chunk)]
            self.manifest.save(self.work)
            listed = ", ".join(map(str, damaged[:8])) + (" ..." if len(damaged) > 8 else "")
            self.notices.append(f"{len(damaged)} finished chunk(s) were missing or damaged on disk ({listed}); "
                                "they were rendered again")
        return damaged

    @property
    def chunk_count(self) -> int:
        return self.render.chunk_count

    def chunk_path(self, index: int) -> Path:
        if self.output.kind == "images":
            return self.work / "frames"
        return self.work / f"chunk_{index:05d}{self.output.encode.spec.chunk_suffix}"

    def estimated_bytes(self) -> int:
        """A generous estimate of the output's size."""
        frames = self.source.info.frame_count * float(self.fps / self.source.info.fps)
        return int(frames * frame_bytes(self.output, self.size, self.out_dtype == np.uint16))

    def done_bytes(self) -> int:
        return sum(record["size"] for record in self.manifest.done.values())

    def check_disk(self) -> None:
        """Refuse to start when the disk cannot hold what is left: the chunks, then the joined copy of them."""
        left = self.estimated_bytes() * len(self.pending()) / max(1, self.chunk_count)
        joined = left + self.done_bytes() if self.output.kind == "video" else 0
        needed = left + joined
        free = shutil.disk_usage(self.work).free
        if free < needed:
            raise OutputError(f"not enough disk space at {self.work.parent}: this job needs about "
                              f"{format_bytes(needed)}, {format_bytes(free)} are free")

    def pending(self) -> list[int]:
        """Chunks not yet recorded as done, in order."""
        return [k for k in range(self.chunk_count) if str(k) not in self.manifest.done]

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
            pending = self.pending()
            if pending:
                progress = starting() if starting is not None else None
                (executor or render_here)(self, pending, progress)
            return self.notices + self._finish()
        except BaseException:
            if not self.manifest.done:  # stopped before any chunk was finished: nothing worth resuming
                shutil.rmtree(self.work, ignore_errors=True)
            raise
        finally:
            self.release()

    def time_frames(self, scratch: Path) -> float:
        """Seconds a film frame costs through the stages and the encoder, with every frame the stages make of it
        (in-between frames too): the first pending frames rendered as the job would into `scratch` (a file, or a
        folder for images; left for the caller to time what follows on it, then remove). The first frame pays
        the networks' warm-up and is not counted, unless a stage makes its frames in bursts (a recurrent
        network's window): then a whole burst is timed, warm-up and all."""
        first = self.frame_range(self.pending()[0])[0]
        burst = max((stage.frames_at_once for stage in self.stages), default=1)
        end = min(self.render.frame_count, first + max(1 + SAMPLE_FRAMES, burst))
        one_chunk = replace(self.render, chunk_frames=self.render.frame_count)
        if self.output.kind == "video":
            sink: FrameSink = VideoChunks(self.video, one_chunk, lambda chunk: scratch, lambda chunk, pts: None)
        else:
            scratch.mkdir(exist_ok=True)
            sink = ImageFrames(self._image_writer(scratch), one_chunk, lambda chunk, pts: None)
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
                                                  for k in self.pending())

    def sink(self) -> FrameSink:
        """Where this job's frames go: chunk files in the work folder, each marked done once complete."""
        if self.output.kind == "video":
            return VideoChunks(self.video, self.render, self.chunk_path, self.mark_done)
        self.chunk_path(0).mkdir(exist_ok=True)
        return ImageFrames(self._image_writer(), self.render, self.mark_done)

    def mark_done(self, chunk: int, first_pts: int = 0) -> None:
        """Record a chunk as finished, once its files are complete on disk."""
        self.manifest.done[str(chunk)] = {"pts": first_pts, **files_record(self.chunk_files(chunk))}
        self.manifest.save(self.work)

    def accept_chunk(self, chunk: int, first_pts: int, data: bytes) -> None:
        """A chunk rendered elsewhere, as its encoded file's bytes: written into place and marked done."""
        write_atomically(self.chunk_path(chunk), data)
        self.mark_done(chunk, first_pts)

    def _image_writer(self, folder: Path | None = None) -> ImageSequenceWriter:
        return ImageSequenceWriter(folder or self.chunk_path(0), self.output.pattern + self.output.image_suffix,
                                   self.output.image_suffix, self.source.info.frame_names)

    def _finish(self) -> list[str]:
        missing = self.pending()
        if missing:
            raise LumiereError(f"chunks {missing[:5]} did not complete; run the same command again to resume")
        damaged = self._drop_damaged_chunks()
        if damaged:
            raise LumiereError(f"finished chunk(s) {damaged[:5]} changed on disk before the join; run the same "
                               "command again to render them anew")
        notices: list[str] = []
        if self.output.kind == "video":
            notices = self._join()
        else:
            target = self.output.folder
            target.mkdir(exist_ok=True)
            for frame_file in sorted(self.chunk_path(0).iterdir()):
                os.replace(frame_file, target / frame_file.name)
            if self.source.info.has_audio:
                notices.append("the source's audio is not written into an image sequence")
        shutil.rmtree(self.work, ignore_errors=True)
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
        chunks = [Chunk(self.chunk_path(k), self.manifest.done[str(k)]["pts"], self.time_base)
                  for k in range(self.chunk_count)]
        needed = self.done_bytes()
        kept = f"the {self.chunk_count} finished chunk(s) are kept in {self.work}"
        free = shutil.disk_usage(self.work).free
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
