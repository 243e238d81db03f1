"""A job's state on disk: the manifest of finished chunks with their checksums, the fingerprint that decides
whether an unfinished job may be resumed, and the one way files are written so that a crash never leaves a
finished-looking file that is not."""

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import LumiereError
from .io.reader import Source
from .output import OutputSpec

MANIFEST = "manifest.json"
MANIFEST_VERSION = 3


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, all or nothing: written beside it, on disk, then renamed over it."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


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
        write_atomically(folder / MANIFEST, json.dumps(asdict(self), indent=1).encode())

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
        super().__init__(f"{path} is damaged, so which chunks are finished is unknown; pass $restart to render "
                         "the job anew")


def _valid_done(done) -> bool:
    """Each finished chunk as `mark_done` records it: an index, and the first pts, size and SHA-256."""
    return isinstance(done, dict) and all(
        isinstance(key, str) and key.isdigit() and isinstance(record, dict)
        and isinstance(record.get("pts"), int) and isinstance(record.get("size"), int)
        and isinstance(record.get("sha256"), str) for key, record in done.items())
