"""Where and how a job writes: the output's kind and encoding, checked before any work, and the sizes that
follow from it (chunk length, disk estimates)."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError
from .io.images import IMAGE_SUFFIXES
from .io.reader import VIDEO_SUFFIXES, is_frame_pattern
from .io.writer import CONTAINERS, IMAGE_CODECS, EncodeSettings, default_bit_depth

# Bits per output pixel per frame, on the generous side for grainy film at each codec's default quality.
BITS_PER_PIXEL = {"h264": 0.5, "h265": 0.35, "av1": 0.35, "ffv1": 16.0, "prores": 4.0, "png": 16.0, "tiff": 24.0}
DEFAULT_CHUNK_FRAMES, MIN_CHUNK_FRAMES = 240, 24
CHUNK_BYTES = 512 * 2**20


@dataclass(frozen=True)
class EncodeRequest:
    """How a film's output is to be encoded, as the caller asked: the codec (h264 for a video file, png for
    frames), quality (CRF), the encoder's speed preset and bit depth. None leaves each to the codec's default or
    the input's depth; `plan_output` checks them against the output's container."""

    codec: str | None = None
    crf: int | None = None
    encoder_preset: str | None = None
    bit_depth: int | None = None

    @property
    def suffix(self) -> str:
        """The codec's usual container for a film with no output named ("": a folder of frames)."""
        return {"ffv1": ".mkv", "prores": ".mov", "png": "", "tiff": ""}.get(self.codec or "h264", ".mp4")


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

    @property
    def target(self) -> Path:
        """What the job writes in the end: the video file, or the frames' folder."""
        return self.path if self.kind == "video" else self.folder


def plan_output(path: Path, request: EncodeRequest, source_bit_depth: int) -> OutputSpec:
    """What writing to `path` as `request` asks means (a video file, or an image sequence), checked before any
    work."""
    path = Path(path)
    codec = request.codec
    suffix = path.suffix.lower()
    pattern = is_frame_pattern(path.name)
    if path.is_dir() and suffix in VIDEO_SUFFIXES:
        raise OutputError(f"{path} is a folder; a video needs a file name, and frames a folder whose name has "
                          "no video suffix")
    if "%" in path.name and not pattern and suffix in IMAGE_SUFFIXES:
        raise OutputError(f"{path}: the frame-number field must look like %d or %05d")
    if codec in IMAGE_CODECS and suffix in VIDEO_SUFFIXES and not pattern:
        raise OutputError(f"$codec {codec} writes an image sequence, and {path} names a video file; give a folder "
                          "or a pattern like frames/f_%05d.png")
    if pattern or not suffix or path.is_dir() or codec in IMAGE_CODECS:
        if codec not in (None, *IMAGE_CODECS):
            raise OutputError(f"{path} is an image sequence; $codec must be png or tiff there")
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
        raise OutputError(f"$codec {codec} writes an image sequence; give a folder as $output")
    settings = EncodeSettings(codec=codec, crf=request.crf, preset=request.encoder_preset,
                              bit_depth=request.bit_depth or default_bit_depth(codec, source_bit_depth))
    settings.validate(suffix)
    return OutputSpec(path, "video", settings)


def check_paths(input_path: Path, output: OutputSpec, overwrite: bool = False) -> None:
    """Refuse before any work: the output must not be the input, nor a finished output unless `overwrite`, and
    its folder must be writable."""
    target = output.target
    if target.resolve() == Path(input_path).resolve() or (
            output.kind == "images" and Path(input_path).resolve() in (target.resolve(), *target.resolve().parents)):
        raise OutputError(f"the output {target} would overwrite the input")
    check_output_folder(target.parent)
    if output.kind == "images" and target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder")
    if not overwrite:
        check_not_finished(target)


def work_folder(target: Path) -> Path:
    """Where the job writing `target` keeps its finished chunks and manifest until it is done."""
    return target.parent / f".{target.name}.lumiere"


def is_finished(target: Path, work_folder_is_new: bool = False) -> bool:
    """A file, or a folder with files, that no unfinished job is writing (`work_folder_is_new`: the work folder
    beside it was made just now by this process, so it holds no unfinished job)."""
    return (work_folder_is_new or not work_folder(target).exists()) and (
        target.is_file() or (target.is_dir() and any(target.iterdir())))


def check_not_finished(target: Path, work_folder_is_new: bool = False) -> None:
    """A finished output is not replaced silently; an unfinished job's output resumes."""
    if is_finished(target, work_folder_is_new):
        raise OutputError(f"{target} exists; add $overwrite to replace it")


def default_output(input_path: Path, suffix: str) -> Path:
    """The output beside the input when none is given: NAME-lumiere with `suffix` ("" for a folder)."""
    input_path = Path(input_path)
    name = input_path.name if input_path.is_dir() or not input_path.suffix else input_path.stem
    return input_path.parent / f"{name}-lumiere{suffix}"


def check_output_folder(folder: Path) -> None:
    """The folder, or where it is still to be made its nearest existing parent, must be a folder that takes a new
    file: a probe file is created and removed, since permission bits alone mislead for root and read-only mounts."""
    folder = Path(folder).absolute()
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        raise OutputError(f"{existing} is a file, not a folder to write into")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".lumiere-probe-"):
            pass
    except OSError:
        raise OutputError(f"output folder is not writable: {existing}") from None


@contextmanager
def output_folder(folder: Path) -> Iterator[None]:
    """`folder` and its missing parents made for the writing done inside; should that fail, the folders made here
    are removed again, those still empty (a kept work folder keeps its folder)."""
    check_output_folder(folder)
    folder = Path(folder).absolute()
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make the output folder {folder}: {exc.strerror}") from None
    try:
        yield
    except BaseException:
        for path in made:
            try:
                path.rmdir()
            except OSError:
                break
        raise


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


def format_duration(seconds: float) -> str:
    """A duration as people say it: "40 s", "3 min 20 s", "12 min", "2 h 05 min"."""
    whole = round(seconds)
    if whole < 60:
        return f"{max(1, whole)} s"
    if whole < 600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_bytes(count: float) -> str:
    """A size as people read it: GB from a gigabyte up, MB below (a small job is not "0.0 GB")."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    return f"{max(count, 0) / 1e6:.1f} MB"
