"""A restoration job: the film cut into frame-range chunks, recorded in a manifest beside the output.

Each chunk is encoded into its own file in a work folder (`.OUT.lumiere/`) and
marked done in the manifest once complete, with its size and SHA-256; at the end
the chunks are joined, with the source's audio, into a temporary file that is
renamed onto the output. Re-running the same job skips the chunks already done,
once their checksums match: a damaged or missing chunk is rendered again alone.
Finished chunks are never deleted on an error, only by `restart` or a finished
join. One process at a time holds a job: a lock file in the work folder.
"""

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from itertools import takewhile
from pathlib import Path

import numpy as np

from .errors import LumiereError, OutputError
from .io.color import ColorInfo
from .io.images import IMAGE_SUFFIXES
from .io.reader import VIDEO_SUFFIXES, Frame, Source, is_frame_pattern
from .io.writer import CONTAINERS, IMAGE_CODECS, Chunk, ChunkWriter, EncodeSettings, ImageSequenceWriter, join_chunks
from .pipeline import run_pipeline
from .stages.base import Stage, TemporalStage

MANIFEST = "manifest.json"
MANIFEST_VERSION = 3
LOCK = "lock"
# Bits per output pixel per frame, on the generous side for grainy film at each codec's default quality.
BITS_PER_PIXEL = {"h264": 0.5, "h265": 0.35, "av1": 0.35, "ffv1": 16.0, "prores": 4.0, "png": 16.0, "tiff": 24.0}
DEFAULT_CHUNK_FRAMES, MIN_CHUNK_FRAMES = 240, 24
CHUNK_BYTES = 512 * 2**20


@dataclass(frozen=True)
class OutputSpec:
    """Where and how to write: a video file, or an image sequence (a folder, or a folder/%05d.png pattern)."""

    path: Path
    kind: str  # "video" or "images"
    encode: EncodeSettings | None = None
    image_suffix: str = ".png"
    pattern: str = "%06d"

    @property
    def folder(self) -> Path:
        return self.path.parent if self.kind == "images" and is_frame_pattern(self.path.name) else self.path


def plan_output(path: Path, codec: str | None, crf: int | None, preset: str | None, bit_depth: int | None,
                source_bit_depth: int) -> OutputSpec:
    from .io.writer import default_bit_depth

    path = Path(path)
    suffix = path.suffix.lower()
    pattern = is_frame_pattern(path.name)
    if path.is_dir() and suffix in VIDEO_SUFFIXES:
        raise OutputError(f"{path} is a folder; a video needs a file name, and frames a folder whose name has "
                          "no video suffix")
    if "%" in path.name and not pattern and suffix in IMAGE_SUFFIXES:
        raise OutputError(f"{path}: the frame-number field must look like %d or %05d")
    if codec in IMAGE_CODECS and suffix in VIDEO_SUFFIXES and not pattern:
        raise OutputError(f"--codec {codec} writes an image sequence, and {path} names a video file; give a folder "
                          "or a pattern like frames/f_%05d.png")
    if pattern or not suffix or path.is_dir() or codec in IMAGE_CODECS:
        if codec not in (None, *IMAGE_CODECS):
            raise OutputError(f"{path} is an image sequence; --codec must be png or tiff there")
        if pattern:
            image_suffix = suffix or IMAGE_CODECS[codec or "png"]
            if image_suffix not in IMAGE_SUFFIXES:
                raise OutputError(f"{path}: unknown image type {image_suffix!r}")
            try:
                path.name % 0
            except (TypeError, ValueError):
                raise OutputError(f"{path}: the frame-number field must look like %05d") from None
            return OutputSpec(path, "images", image_suffix=image_suffix, pattern=Path(path.name).stem)
        return OutputSpec(path, "images", image_suffix=IMAGE_CODECS[codec or "png"])
    if suffix not in VIDEO_SUFFIXES or suffix not in CONTAINERS:
        raise OutputError(f"cannot write {suffix!r} video; use one of {', '.join(CONTAINERS)} or a folder for frames")
    codec = codec or "h264"
    if codec in IMAGE_CODECS:
        raise OutputError(f"--codec {codec} writes an image sequence; give a folder as -o")
    settings = EncodeSettings(codec=codec, crf=crf, preset=preset,
                              bit_depth=bit_depth or default_bit_depth(codec, source_bit_depth))
    settings.validate(suffix)
    return OutputSpec(path, "video", settings)


def check_paths(input_path: Path, output: OutputSpec) -> None:
    """Refuse before any work: the output must not be the input, and its folder must be writable."""
    target = output.folder if output.kind == "images" else output.path
    if target.resolve() == Path(input_path).resolve() or (
            output.kind == "images" and Path(input_path).resolve() in (target.resolve(), *target.resolve().parents)):
        raise OutputError(f"the output {target} would overwrite the input")
    check_output_folder(target.parent)
    if output.kind == "images" and target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder")


def check_output_folder(folder: Path) -> None:
    """The folder must exist and take a new file: a probe file is created and removed, since permission
    bits alone mislead for root and read-only mounts."""
    if not folder.exists():
        raise OutputError(f"output folder does not exist: {folder}")
    if not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder to write into")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".lumiere-probe-"):
            pass
    except OSError:
        raise OutputError(f"output folder is not writable: {folder}") from None


def frame_bytes(output: OutputSpec, size: tuple[int, int], high_depth: bool) -> float:
    """A generous estimate of one stored output frame: bits per pixel for film at each codec's defaults."""
    codec = output.encode.codec if output.kind == "video" else output.image_suffix.lstrip(".")
    return size[0] * size[1] * BITS_PER_PIXEL.get(codec, 24.0) * (2 if high_depth else 1) / 8


def auto_chunk_frames(output: OutputSpec, size: tuple[int, int]) -> int:
    """240 frames a chunk, fewer where a chunk would pass CHUNK_BYTES: a chunk is a unit of loss on a crash and,
    on Ray, a message held in memory."""
    high_depth = output.kind == "video" and output.encode.bit_depth > 8
    per_frame = frame_bytes(output, size, high_depth)
    return int(max(MIN_CHUNK_FRAMES, min(DEFAULT_CHUNK_FRAMES, CHUNK_BYTES // max(1.0, per_frame))))


def format_bytes(count: float) -> str:
    """A size as people read it: GB from a gigabyte up, MB below (a small job is not "0.0 GB")."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    return f"{max(count, 0) / 1e6:.1f} MB"


def _runs(chunks: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) in a sorted list of chunk indices."""
    runs: list[tuple[int, int]] = []
    for chunk in chunks:
        if runs and runs[-1][1] == chunk - 1:
            runs[-1] = (runs[-1][0], chunk)
        else:
            runs.append((chunk, chunk))
    return runs


def _file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def files_record(paths: list[Path]) -> dict:
    """Size and SHA-256 of a chunk's files taken together (names included), to know it intact on resume."""
    digest, size = hashlib.sha256(), 0
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def settings_hash(source: Source, output: OutputSpec, stage_settings: dict, files: list[Path],
                  chunk_frames: int) -> str:
    """A fingerprint of everything a job's result depends on; `files`: models and references, by content."""
    stat = source.info.path.stat()
    fingerprint = {
        "input": [str(source.info.path.resolve()), stat.st_size, stat.st_mtime_ns],
        "output": [output.kind, asdict(output.encode) if output.encode else output.image_suffix],
        "stages": stage_settings,
        "files": [_file_digest(path) for path in files],
        "chunk_frames": chunk_frames,
    }
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Manifest:
    """The job's state on disk: which chunks are finished, the first timestamp of each, and their checksums."""

    settings: str
    chunk_frames: int
    frame_count: int
    done: dict[str, dict]  # chunk index (as text, for JSON) -> {"pts": first frame's, "size": ..., "sha256": ...}
    version: int = MANIFEST_VERSION

    def save(self, folder: Path) -> None:
        partial = folder / (MANIFEST + ".partial")
        with open(partial, "w") as handle:
            handle.write(json.dumps(asdict(self), indent=1))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, folder / MANIFEST)

    @classmethod
    def load(cls, folder: Path) -> "Manifest | None":
        """The manifest in `folder`, None where there is none; DamagedManifest where one cannot be trusted."""
        path = folder / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            raise DamagedManifest(path) from None
        if manifest.version == MANIFEST_VERSION and not _valid_done(manifest.done):
            raise DamagedManifest(path)
        return manifest


class DamagedManifest(LumiereError):
    def __init__(self, path: Path):
        super().__init__(f"{path} is damaged, so which chunks are finished is unknown; pass --restart to render "
                         "the job anew")


def _valid_done(done) -> bool:
    """Each finished chunk as `mark_done` records it: an index, and the first pts, size and SHA-256."""
    return isinstance(done, dict) and all(
        isinstance(key, str) and key.isdigit() and isinstance(record, dict)
        and isinstance(record.get("pts"), int) and isinstance(record.get("size"), int)
        and isinstance(record.get("sha256"), str) for key, record in done.items())


class Job:
    def __init__(self, source: Source, stages: list[Stage], output: OutputSpec, *, chunk_frames: int,
                 settings: str, batch: int = 1, restart: bool = False, show_progress: bool = True,
                 color: ColorInfo | None = None):
        for stage in stages:
            if isinstance(stage, TemporalStage) and stage.segment_frames != chunk_frames:
                raise ValueError(f"{stage.name} stage segments {stage.segment_frames} frames, the job's chunks "
                                 f"{chunk_frames}")
        self.source = source
        self.color = color  # None: the source's own, as `ColorInfo.for_output` keeps or converts it
        self.stages = stages
        self.output = output
        self.chunk_frames = chunk_frames
        self.batch = batch
        self.show_progress = show_progress
        info = source.info
        width, height = info.width, info.height
        fps, time_base = info.fps, info.time_base
        for stage in stages:
            width, height = stage.output_size(width, height)
            fps, time_base = stage.output_timing(fps, time_base)
        self.size = (width, height)
        self.fps, self.time_base = fps, time_base  # of the output: a frame-rate change re-times every frame
        if output.kind == "video":
            output.encode.check_size(width, height)
        self.out_dtype = np.uint16 if self._writes_high_depth() else np.uint8
        # each stage's context is counted in the frames of the stage before it, so contexts add up
        self.context = sum(stage.context_frames for stage in stages)
        self.lookahead = sum(stage.lookahead for stage in stages)
        target = output.path if output.kind == "video" else output.folder
        self.work = target.parent / f".{target.name}.lumiere"
        self._lock = self._take_lock()
        self.notices: list[str] = []
        try:
            self.manifest = self._open_manifest(settings, restart)
            self._drop_damaged_chunks()
        except BaseException:
            self.release()
            raise

    def _take_lock(self):
        """Hold the work folder for this process: a second run at the same output is refused, not interleaved."""
        self.work.mkdir(exist_ok=True)
        handle = open(self.work / LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                handle.close()
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise OutputError(f"{holder} is already writing this output (its work folder {self.work} is locked); "
                              "wait for it to finish or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"lumiere process {os.getpid()}")
        handle.flush()
        return handle

    def release(self) -> None:
        """Let go of the work folder (the lock goes with the process too, should it die)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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
                raise LumiereError(f"{self.work} holds an unfinished job of an older lumiere; pass --restart to "
                                   "discard it")
            if existing.settings != settings:
                raise LumiereError(f"{self.work} holds an unfinished job with other settings, input or model; "
                                   "pass --restart to discard it")
            for stale in self.work.glob("*.partial"):  # a killed run's unfinished chunk: this process holds the lock
                stale.unlink()
            return existing
        self._clear_work()
        manifest = Manifest(settings, self.chunk_frames, self.source.info.frame_count, {})
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
        return -(-self.source.info.frame_count // self.chunk_frames)

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
        return chunk * self.chunk_frames, min((chunk + 1) * self.chunk_frames, self.source.info.frame_count)

    def run(self, executor=None) -> list[str]:
        """Process every pending chunk, then join; returns notices for the user.

        `executor(job, chunks)` renders the given chunks elsewhere (on a Ray cluster) and marks each done as it
        arrives; without one, runs of consecutive pending chunks are processed here, each in one pass.
        """
        try:
            self.check_disk()
            pending = self.pending()
            if pending and executor is not None:
                executor(self, pending)
            else:
                for first, last in _runs(pending):
                    self._process_chunks(first, last)
            return self.notices + self._finish()
        except BaseException:
            if not self.manifest.done:  # stopped before any chunk was finished: nothing worth resuming
                shutil.rmtree(self.work, ignore_errors=True)
            raise
        finally:
            self.release()

    def _process_chunks(self, first_chunk: int, last_chunk: int) -> None:
        """Chunks first..last (inclusive) in one pass, with the context before and the lookahead after."""
        info = self.source.info
        start, end = self.frame_range(first_chunk)[0], self.frame_range(last_chunk)[1]
        sink = self._video_sink() if self.output.kind == "video" else self._image_sink()
        next(sink)
        frames = takewhile(lambda frame: frame.index < end + self.lookahead,
                           self.source.frames(max(0, start - self.context)))
        done = info.frame_count - sum(self.frame_range(k)[1] - self.frame_range(k)[0] for k in self.pending())
        try:
            run_pipeline(frames, self.stages, sink.send, total=info.frame_count, done=done, batch=self.batch,
                         out_dtype=self.out_dtype, show_progress=self.show_progress, wanted=(start, end))
            sink.send(None)
        except StopIteration:
            pass
        finally:
            sink.close()

    def mark_done(self, chunk: int, first_pts: int = 0) -> None:
        """Record a chunk as finished, once its files are complete on disk."""
        self.manifest.done[str(chunk)] = {"pts": first_pts, **files_record(self.chunk_files(chunk))}
        self.manifest.save(self.work)

    def _video_sink(self):
        """A coroutine that rotates chunk writers at chunk borders; send(None) finishes the last chunk."""
        info = self.source.info
        color = self.color or info.color.for_output(self.size[1], info.height)
        writer, current = None, None
        try:
            while True:
                frame: Frame | None = yield
                chunk = None if frame is None else frame.index // self.chunk_frames
                if chunk != current and writer is not None:
                    writer.__exit__(None, None, None)
                    self.mark_done(current, writer.pts_offset)
                    writer = None
                if frame is None:
                    return
                if writer is None:
                    length = min(self.chunk_frames, info.frame_count - chunk * self.chunk_frames)
                    writer = ChunkWriter(self.chunk_path(chunk), self.output.encode, *self.size, self.fps,
                                         self.time_base, color, pts_offset=frame.pts, frames=length).__enter__()
                    current = chunk
                writer.write(frame.rgb, frame.pts, frame.duration)
        finally:
            if writer is not None:
                writer.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def _image_writer(self) -> ImageSequenceWriter:
        return ImageSequenceWriter(self.chunk_path(0), self.output.pattern + self.output.image_suffix,
                                   self.output.image_suffix, self.source.info.frame_names)

    def _image_sink(self):
        self.chunk_path(0).mkdir(exist_ok=True)
        info = self.source.info
        writer = self._image_writer()
        while True:
            frame: Frame | None = yield
            if frame is None:
                return
            writer.write(frame.rgb, frame.index)
            if (frame.index + 1) % self.chunk_frames == 0 or frame.index + 1 == info.frame_count:
                self.mark_done(frame.index // self.chunk_frames)

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
            return join_chunks(chunks, self.output.path, source_media)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            reason = "the disk filled up"
        except OutputError as exc:
            reason = str(exc)
        raise OutputError(f"{reason}; the join needs about {format_bytes(needed)} free at "
                          f"{self.output.path.parent}; {kept}: run the same command again to join them") from None
