"""Reading frames: any file FFmpeg reads (through PyAV), or an image sequence.

Frames stream one at a time: nothing holds more than the frame being decoded.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from .color import ColorInfo
from .images import IMAGE_SUFFIXES, read_image

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mxf", ".flv",
                  ".wmv", ".ogv", ".nut", ".y4m", ".dv")
DEFAULT_SEQUENCE_FPS = Fraction(24)
# FFmpeg's AVFieldOrder, as the stream declares it (container or bitstream), by the field shown first:
# TT and BT show the top field first, BB and TB the bottom one
FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "bff", 5: "tff"}


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    kind: str  # "video" or "images"
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    bit_depth: int
    color: ColorInfo
    has_audio: bool
    frame_names: tuple[str, ...] = ()
    field_order: str = "progressive"  # "tff" or "bff" (interlaced, the field shown first), or "unknown"

    @property
    def duration_seconds(self) -> float:
        return float(self.frame_count / self.fps)


@dataclass
class Frame:
    """One decoded frame: RGB (H, W, 3) uint8 or uint16, its index, presentation time and duration."""

    index: int
    pts: int
    rgb: np.ndarray
    duration: int = 0

    @property
    def info(self) -> "FrameInfo":
        return FrameInfo(self.index, self.pts, self.duration)


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame stands in the film, apart from its pixels: what travels with each picture through the stages.
    `shot_start`: a new shot (or a step of a gradual transition) begins at this frame, as the job's shot finder
    (`stages/shots.py`) marks it for every stage after it; False where no shot finder ran."""

    index: int
    pts: int
    duration: int = 0
    shot_start: bool = False


class VideoSource:
    """A video file. With `play_fps`, its frames are re-timed to play at that rate (hand-cranked film stored at the
    wrong speed): frame i is shown at i / fps. A film with sound is refused then: its sound would drift."""

    def __init__(self, path: Path, play_fps: Fraction | None = None):
        self.path = path
        self.retimed = play_fps is not None
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(f"{path} holds no video stream")
                stream = container.streams.video[0]
                context = stream.codec_context
                if not context.width or not context.height:
                    raise InputError(f"{path}: the video stream has no picture size (corrupt?)")
                fps = stream.average_rate or stream.guessed_rate or DEFAULT_SEQUENCE_FPS
                frame_count = stream.frames or self._count_packets(container, stream)
                pix_fmt = context.pix_fmt
                bits = av.VideoFormat(pix_fmt).components[0].bits if pix_fmt else 8
                self.info = SourceInfo(
                    path=path, kind="video", width=context.width, height=context.height, fps=Fraction(fps),
                    time_base=Fraction(stream.time_base or Fraction(1, int(round(fps * 1000)))),
                    frame_count=frame_count, bit_depth=16 if bits > 8 else 8, color=ColorInfo.from_codec(context),
                    has_audio=bool(container.streams.audio),
                    field_order=FIELD_ORDERS.get(context.field_order, "unknown"),
                )
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot read {path}: not a video FFmpeg understands, or corrupt "
                             f"({exc.strerror})") from None
        if self.info.frame_count == 0:
            raise InputError(f"{path} has no video frames")
        if play_fps is not None:
            if self.info.has_audio:
                raise InputError(f"{path} has sound; playing its pictures at {float(play_fps):g} fps would put them "
                                 "out of step with it (re-time a silent copy, or leave out $source_fps)")
            self.info = replace(self.info, fps=Fraction(play_fps), time_base=1 / Fraction(play_fps))

    @staticmethod
    def _count_packets(container, stream) -> int:
        count = sum(1 for packet in container.demux(stream) if packet.size)
        container.seek(0)
        return count

    def frames(self, start: int = 0) -> Iterator[Frame]:
        """Decode frames from index `start` on (earlier ones are decoded but not converted)."""
        info = self.info
        out_format = "rgb48le" if info.bit_depth == 16 else "rgb24"
        frame_step = 1 / (info.fps * info.time_base)
        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if index >= start:
                        rgb = frame.to_ndarray(format=out_format, src_colorspace=info.color.reformat_matrix,
                                               src_color_range=info.color.range, dst_color_range=2)
                        if self.retimed:
                            yield Frame(index, index, rgb, 1)
                            index += 1
                            continue
                        pts = frame.pts if frame.pts is not None else round(index * frame_step)
                        yield Frame(index, pts, rgb, frame.duration or round(frame_step))
                    index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: decoding failed at frame {index} (corrupt?): {exc.strerror}") from None
        if index == 0:
            raise InputError(f"{self.path} has no decodable video frames")
        if index < info.frame_count:
            raise InputError(f"{self.path} ends after {index} of {info.frame_count} frames (truncated or corrupt)")


FRAME_FIELD = re.compile(r"%(0?)(\d*)d")


def is_frame_pattern(name: str) -> bool:
    """Whether a name is a frame-number pattern like f_%05d.png (a film may be called "speed 50%.mp4")."""
    return FRAME_FIELD.search(name) is not None


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _expand_pattern(pattern: Path) -> list[Path]:
    match = FRAME_FIELD.search(pattern.name)
    if not match:
        raise InputError(f"{pattern}: a sequence pattern needs a %d or %05d field")
    digits = r"\d{%s}" % match.group(2) if match.group(2) else r"\d+"
    prefix, suffix = re.escape(pattern.name[:match.start()]), re.escape(pattern.name[match.end():])
    regex = re.compile(f"{prefix}({digits}){suffix}$")
    folder = pattern.parent
    if not folder.is_dir():
        raise InputError(f"no such folder: {folder}")
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := regex.match(p.name))]
    return [p for _, p in sorted(found)]


class ImageSequenceSource:
    retimed = False  # a sequence has no rate of its own: `fps` is the one it plays at

    def __init__(self, path: Path, fps: Fraction | None):
        self.path = path
        if not path.is_dir() and is_frame_pattern(path.name):
            files = _expand_pattern(path)
        else:
            files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                           key=_natural_key)
        if not files:
            raise InputError(f"{path}: no image frames found ({', '.join(IMAGE_SUFFIXES)})")
        self.files = files
        first = read_image(files[0])
        if first.alpha is not None:
            raise InputError(f"{files[0]} has an alpha channel; video restoration writes opaque frames "
                             "(flatten the frames first, or use `lumiere upscale` for stills)")
        height, width = first.rgb.shape[:2]
        fps = Fraction(fps) if fps else DEFAULT_SEQUENCE_FPS
        self.info = SourceInfo(
            path=path, kind="images", width=width, height=height, fps=fps, time_base=1 / fps,
            frame_count=len(files), bit_depth=first.bit_depth, color=ColorInfo.for_size(width, height),
            has_audio=False, frame_names=tuple(p.name for p in files),
        )

    def frames(self, start: int = 0) -> Iterator[Frame]:
        for index in range(start, len(self.files)):
            image = read_image(self.files[index])
            if image.rgb.shape[:2] != (self.info.height, self.info.width):
                raise InputError(f"{self.files[index]} is {image.size[0]}x{image.size[1]}, but the sequence is "
                                 f"{self.info.width}x{self.info.height}")
            rgb = image.rgb
            if image.bit_depth != self.info.bit_depth:
                rgb = rgb.astype(np.uint16) * 257 if self.info.bit_depth == 16 else (rgb // 257).astype(np.uint8)
            yield Frame(index, index, rgb, 1)


Source = VideoSource | ImageSequenceSource


def open_source(path: Path, fps: Fraction | None = None) -> Source:
    path = Path(path)
    if not path.exists() and is_frame_pattern(path.name):
        return ImageSequenceSource(path, fps)
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{path} is a symbolic link to nothing (or a loop of links)")
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        return ImageSequenceSource(path, fps)
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InputError(f"{path} is not a regular file (a pipe or a device); give a video file or a folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"{path} is a single image; use `lumiere upscale` for stills (with $colorize to colour "
                         "them too)")
    return VideoSource(path, fps)
