"""A job's work folder (`.OUT.lumiere/` beside its output): where finished chunks wait for the join, with the
manifest that says which are finished and their checksums, under a lock one process holds.

This is the resume contract. A chunk counts as finished only once its files are complete on disk and recorded
with their size and SHA-256; a rerun of the same job (the same fingerprint) trusts only the chunks whose files
still match, and renders the others again alone; finished chunks are never deleted on an error, only by a
restart or by the join that used them. The local executor and Ray's both hand their chunks in here.
"""

import errno
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import LumiereError, OutputError
from .io.reader import is_frame_pattern
from .io.writer import ImageSequenceWriter
from .manifest import MANIFEST_VERSION, DamagedManifest, Manifest, files_record, write_atomically
from .output import OutputSpec, work_folder
from .render import RenderSettings

LOCK = "lock"


@dataclass(frozen=True)
class ChunkFiles:
    """What a chunk is on disk: one video file, or its frames in the work folder's frames folder."""

    folder: Path
    output: OutputSpec
    render: RenderSettings
    frame_names: tuple[str, ...] = ()  # the source's own frame names, kept by an image sequence

    def path(self, chunk: int) -> Path:
        """The chunk's video file, or the folder its frames go in (one for every chunk)."""
        if self.output.kind == "images":
            return self.folder / "frames"
        return self.folder / f"chunk_{chunk:05d}{self.output.encode.spec.chunk_suffix}"

    def files(self, chunk: int) -> list[Path]:
        if self.output.kind == "video":
            return [self.path(chunk)]
        writer = self.image_writer()
        return [self.path(chunk) / writer.name_for(index) for index in range(*self.render.frame_range(chunk))]

    def image_writer(self, folder: Path | None = None) -> ImageSequenceWriter:
        return ImageSequenceWriter(folder or self.path(0), self.output.pattern + self.output.image_suffix,
                                   self.output.image_suffix, self.frame_names)


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


class WorkFolder:
    """The work folder of the job writing `target`, made if need be and locked by this process: a second run at
    the same output is refused, not interleaved. Taken before any slow work, so that two runs started together
    cannot both pass; `open` then reads (or starts) the manifest once the job knows its chunks."""

    def __init__(self, target: Path):
        self.path = work_folder(target)
        self.made = not self.path.exists()
        self.path.mkdir(exist_ok=True)
        handle = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            with open(self.path / LOCK) as held:
                holder = held.read().strip() or "another process"
            raise OutputError(f"{holder} is already writing this output (its work folder {self.path} is "
                              "locked); wait for it to finish or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"lumiere process {os.getpid()}")
        handle.flush()
        self._handle = handle
        self.manifest: Manifest | None = None
        self.chunks: ChunkFiles | None = None

    def release(self) -> None:
        """Let go (the lock goes with the process too, should it die); a work folder this lock made and nothing
        was kept in is removed."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            if self.made and self.path.is_dir() and all(entry.name == LOCK for entry in self.path.iterdir()):
                shutil.rmtree(self.path, ignore_errors=True)

    def open(self, settings: str, chunks: ChunkFiles, restart: bool) -> list[str]:
        """Resume the unfinished job recorded here when its fingerprint is `settings` (else refuse, unless
        `restart`, which starts anew), trusting only the finished chunks whose files are intact; returns notices."""
        self.chunks = chunks
        try:
            existing = Manifest.load(self.path)
        except DamagedManifest:
            if not restart:
                raise
            existing = None
        if existing is not None and not restart:
            if existing.version != MANIFEST_VERSION:
                raise LumiereError(f"{self.path} holds an unfinished job of an older lumiere; pass $restart to "
                                   "discard it")
            if existing.settings != settings:
                raise LumiereError(f"{self.path} holds an unfinished job with other settings, input or model; "
                                   "pass $restart to discard it")
            for stale in self.path.glob("*.partial"):  # a killed run's unfinished chunk: this process holds the lock
                stale.unlink()
            self.manifest = existing
        else:
            self.clear()
            self.manifest = Manifest(settings, chunks.render.chunk_frames, chunks.render.frame_count, {})
            self.manifest.save(self.path)
        damaged = self.drop_damaged()
        if not damaged:
            return []
        listed = ", ".join(map(str, damaged[:8])) + (" ..." if len(damaged) > 8 else "")
        return [f"{len(damaged)} finished chunk(s) were missing or damaged on disk ({listed}); they were rendered "
                "again"]

    def clear(self) -> None:
        """Empty the folder, keeping the lock this process holds on it."""
        for entry in self.path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def pending(self) -> list[int]:
        """Chunks not yet recorded as finished, in order."""
        return [k for k in range(self.chunks.render.chunk_count) if str(k) not in self.manifest.done]

    def first_pts(self, chunk: int) -> int:
        return self.manifest.done[str(chunk)]["pts"]

    def done_bytes(self) -> int:
        return sum(record["size"] for record in self.manifest.done.values())

    def mark_done(self, chunk: int, first_pts: int = 0) -> None:
        """Record a chunk as finished, once its files are complete on disk."""
        self.manifest.done[str(chunk)] = {"pts": first_pts, **files_record(self.chunks.files(chunk))}
        self.manifest.save(self.path)

    def accept(self, chunk: int, first_pts: int, data: bytes) -> None:
        """A chunk rendered elsewhere, as its encoded file's bytes: written into place and marked done."""
        write_atomically(self.chunks.path(chunk), data)
        self.mark_done(chunk, first_pts)

    def drop_damaged(self) -> list[int]:
        """Forget finished chunks whose files are missing or changed, so that they are rendered again alone."""
        damaged = [int(k) for k in sorted(self.manifest.done, key=int) if not self._intact(int(k))]
        if damaged:
            for chunk in damaged:
                del self.manifest.done[str(chunk)]
            self.manifest.save(self.path)
        return damaged

    def _intact(self, chunk: int) -> bool:
        record = self.manifest.done[str(chunk)]
        files = self.chunks.files(chunk)
        if not all(path.is_file() for path in files):
            return False
        if sum(path.stat().st_size for path in files) != record["size"]:
            return False
        return files_record(files) == {"size": record["size"], "sha256": record["sha256"]}
