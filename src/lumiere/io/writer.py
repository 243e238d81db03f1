"""Writing frames: encoded video through PyAV (chunk files, then one join), or image sequences.

A film is encoded chunk by chunk into separate files; `join_chunks` then copies
their packets, unchanged, into the final container together with the source's
audio and subtitles, interleaved by time. Every file is written under a
temporary name and renamed when complete.
"""

import heapq
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from glob import escape as glob_escape
from pathlib import Path

import av
import numpy as np

from ..errors import OutputError
from .color import ColorInfo
from .images import Image, write_image
from .reader import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodecSpec:
    encoder: str
    codec_name: str  # FFmpeg's name for the stream, as containers list it
    pix_fmts: dict[int, str]  # bit depth -> pixel format
    default_crf: int | None
    default_preset: str | None
    presets: tuple[str, ...]
    chunk_suffix: str = ".mp4"  # a container that stores every packet's dts, so chunks join losslessly
    min_side: int = 2  # libx265 corrupts memory below 64 px, so it is refused there


_NVENC_PRESETS = tuple(f"p{n}" for n in range(1, 8))  # p1 fastest .. p7 best
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
CODECS: dict[str, CodecSpec] = {
    "h264": CodecSpec("libx264", "h264", {8: "yuv420p", 10: "yuv420p10le"}, 18, "medium", _X26X_PRESETS),
    "h265": CodecSpec("libx265", "hevc", {8: "yuv420p", 10: "yuv420p10le"}, 20, "medium", _X26X_PRESETS,
                      min_side=64),
    "av1": CodecSpec("libsvtav1", "av1", {8: "yuv420p", 10: "yuv420p10le"}, 30, "8",
                     tuple(str(n) for n in range(14))),
    "ffv1": CodecSpec("ffv1", "ffv1", {8: "bgr0", 16: "rgb48le"}, None, None, ()),
    "prores": CodecSpec("prores_ks", "prores", {10: "yuv422p10le"}, None, "hq",
                        ("proxy", "lt", "standard", "hq"), ".mov"),
    # NVIDIA's video engine (NVENC), which leaves the CPU free beside a GPU network; its constant-quality
    # level (cq) takes the place of crf
    "h264-nvenc": CodecSpec("h264_nvenc", "h264", {8: "yuv420p"}, 19, "p5", _NVENC_PRESETS),
    "h265-nvenc": CodecSpec("hevc_nvenc", "hevc", {8: "yuv420p", 10: "p010le"}, 21, "p5", _NVENC_PRESETS),
}
IMAGE_CODECS = {"png": ".png", "tiff": ".tiff"}
# Outputs whose muxers take the chunks' packets as they are (AVI and MPEG-TS would need Annex B H.264).
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_PRORES_PROFILES = {"proxy": 0, "lt": 1, "standard": 2, "hq": 3}
_RGB_PIX_FMTS = ("bgr0", "rgb48le")
SHORT_STREAM_FRAMES = 16


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "h264"
    crf: int | None = None
    preset: str | None = None
    bit_depth: int = 8

    def validate(self, container_suffix: str) -> None:
        spec = CODECS.get(self.codec)
        if spec is None:
            raise OutputError(f"unknown video codec {self.codec!r} (choose from {', '.join(CODECS)}, or png/tiff "
                              "for image sequences)")
        if self.bit_depth not in spec.pix_fmts:
            depths = "/".join(str(d) for d in spec.pix_fmts)
            raise OutputError(f"{self.codec} is written at {depths} bit, not {self.bit_depth}")
        if self.crf is not None and spec.default_crf is None:
            why = " (it is lossless)" if self.codec == "ffv1" else ""
            raise OutputError(f"$crf does not apply to {self.codec}{why}")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise OutputError(f"$crf must be between 0 and 63, got {self.crf}")
        if self.preset is not None and self.preset not in spec.presets:
            choices = ", ".join(spec.presets) or "none"
            raise OutputError(f"$encoder_preset {self.preset!r} is not one of {self.codec}'s presets ({choices})")
        format_name = CONTAINERS.get(container_suffix)
        if format_name is None:
            raise OutputError(f"unknown video container {container_suffix!r} (use {', '.join(CONTAINERS)})")
        with av.open(os.devnull, "w", format=format_name) as probe:
            if spec.codec_name not in probe.supported_codecs:
                raise OutputError(f"a {container_suffix} file cannot hold {self.codec}; use .mkv")
        if spec.encoder.endswith("_nvenc"):
            _check_hardware_encoder(self.codec, spec)

    def check_size(self, width: int, height: int) -> None:
        if min(width, height) < self.spec.min_side:
            raise OutputError(f"{self.codec} needs frames of at least {self.spec.min_side} px a side; "
                              f"the output is {width}x{height}")
        if self.pix_fmt.startswith(("yuv420p", "yuv422p", "p010")) and (width % 2 or height % 2):
            raise OutputError(f"{self.codec} needs an even frame size, and the output is {width}x{height}; "
                              "pick $height or $scale to make it even, or use ffv1")

    @property
    def spec(self) -> CodecSpec:
        return CODECS[self.codec]

    @property
    def pix_fmt(self) -> str:
        return self.spec.pix_fmts[self.bit_depth]

    @property
    def is_rgb(self) -> bool:
        return self.pix_fmt in _RGB_PIX_FMTS

    def encoder_options(self, frames: int | None = None) -> dict[str, str]:
        """Encoder options; `frames`, when known, is how many frames the stream will hold."""
        spec = self.spec
        crf = self.crf if self.crf is not None else spec.default_crf
        preset = self.preset or spec.default_preset
        if self.codec in ("h264", "h265"):
            options = {"crf": str(crf), "preset": preset}
            if self.codec == "h265":
                # libx265 with B-frames emits packets without valid timestamps for streams of a few frames
                # (a film's last chunk), which the muxer then refuses.
                short = frames is not None and frames < SHORT_STREAM_FRAMES
                options["x265-params"] = "log-level=error" + (":bframes=0" if short else "")
            return options
        if self.codec == "av1":
            return {"crf": str(crf), "preset": preset}
        if self.codec.endswith("-nvenc"):
            return {"rc": "vbr", "cq": str(crf), "preset": preset}
        if self.codec == "ffv1":
            return {"level": "3", "slicecrc": "1", "g": "1"}
        return {"profile": str(_PRORES_PROFILES[preset]), "vendor": "apl0"}


def _check_hardware_encoder(codec: str, spec: CodecSpec) -> None:
    """Open the encoder once on a tiny picture: without an NVIDIA GPU and its driver it fails here, in one
    line, rather than after the first chunk's frames were computed."""
    probe = av.CodecContext.create(spec.encoder, "w")
    probe.width, probe.height, probe.pix_fmt = 256, 256, spec.pix_fmts[min(spec.pix_fmts)]
    probe.time_base = Fraction(1, 24)
    try:
        probe.open()
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"{codec} encodes on an NVIDIA GPU's video engine, and none answered here ({exc}); use "
                          f"{codec.removesuffix('-nvenc')}") from None


def default_bit_depth(codec: str, source_bit_depth: int) -> int:
    depths = CODECS[codec].pix_fmts
    if source_bit_depth > 8:
        return 16 if 16 in depths else (10 if 10 in depths else 8)
    return 8 if 8 in depths else min(depths)


class ChunkWriter:
    """Encodes frames into one chunk file: `open`, `write` each frame, then `commit` (the file appears, complete and
    on disk) or `abort` (nothing is left). As a context manager, leaving the block commits, an exception aborts.

    Timestamps are stored relative to `pts_offset` (the chunk's first frame): MP4 records a non-zero start
    in an edit list of millisecond precision, which would shift frames; `join_chunks` adds the offset back.
    """

    def __init__(self, path: Path, settings: EncodeSettings, width: int, height: int, fps: Fraction,
                 time_base: Fraction, color: ColorInfo, pts_offset: int = 0, frames: int | None = None):
        self.path = path
        self.pts_offset = pts_offset
        self.frames = frames
        self.settings = settings
        self.width, self.height = width, height
        self.fps, self.time_base, self.color = fps, time_base, color
        self.partial = path.with_name(path.name + ".partial")
        self.container = None

    def open(self) -> "ChunkWriter":
        self.settings.check_size(self.width, self.height)
        if self.settings.codec == "av1":
            # SVT-AV1 prints its banner and settings to stderr at info level for every chunk; errors only
            os.environ.setdefault("SVT_LOG", "1")
        self.container = av.open(str(self.partial), "w", format=CONTAINERS[self.settings.spec.chunk_suffix])
        stream = self.container.add_stream(self.settings.spec.encoder, rate=self.fps,
                                           options=self.settings.encoder_options(self.frames))
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.settings.pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if not self.settings.is_rgb:
            stream.codec_context.colorspace = self.color.matrix
            stream.codec_context.color_primaries = self.color.primaries
            stream.codec_context.color_trc = self.color.transfer
            stream.codec_context.color_range = self.color.range
        self.stream = stream
        return self

    def write(self, rgb: np.ndarray, pts: int, duration: int = 0) -> None:
        rgb = np.ascontiguousarray(rgb)
        frame = av.VideoFrame.from_numpy_buffer(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
        if self.settings.is_rgb:
            frame = frame.reformat(format=self.settings.pix_fmt)
        else:
            frame = frame.reformat(format=self.settings.pix_fmt, dst_colorspace=self.color.reformat_matrix,
                                   src_color_range=2, dst_color_range=self.color.range)
        frame.pts = pts - self.pts_offset
        frame.time_base = self.time_base
        if duration:
            frame.duration = duration
        self.container.mux(self.stream.encode(frame))

    def commit(self) -> None:
        """Flush the encoder and put the finished file in place."""
        self._close(flush=True)
        with open(self.partial, "rb") as written:  # on disk before it is trusted: a power cut must not
            os.fsync(written.fileno())            # leave a finished-looking chunk that is empty
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Stop, leaving nothing behind."""
        try:
            self._close(flush=False)
        finally:
            self.partial.unlink(missing_ok=True)

    def _close(self, flush: bool) -> None:
        try:
            try:
                if flush:
                    self.container.mux(self.stream.encode(None))
            finally:
                self.container.close()
        except BaseException:
            self.partial.unlink(missing_ok=True)  # a full disk fails the flush too: leave no half file behind
            raise

    def __enter__(self) -> "ChunkWriter":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _packet_time(packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else float("-inf")


@dataclass(frozen=True)
class Chunk:
    """A finished chunk file and the timestamp (in `time_base`) its first frame had in the film."""

    path: Path
    pts_offset: int
    time_base: Fraction


def _video_packets(chunks: list[Chunk], out_stream) -> Iterator:
    for chunk in chunks:
        with av.open(str(chunk.path)) as container:
            stream = container.streams.video[0]
            shift = chunk.pts_offset * chunk.time_base / stream.time_base
            if shift.denominator != 1:
                raise OutputError(f"{chunk.path}: time base {stream.time_base} cannot hold offset {chunk.pts_offset}")
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packet.pts = None if packet.pts is None else packet.pts + int(shift)
                packet.dts = None if packet.dts is None else packet.dts + int(shift)
                packet.stream = out_stream
                yield packet


def _source_packets(source: Path, mapping: dict[int, object], reencode: dict[int, object]) -> Iterator:
    """Audio and subtitle packets of the source: copied where mapped, re-encoded where the container needs it."""
    with av.open(str(source)) as container:
        streams = [s for s in container.streams if s.index in mapping or s.index in reencode]
        for packet in container.demux(streams):
            index = packet.stream.index
            if index in mapping:
                if packet.size == 0:
                    continue
                packet.stream = mapping[index]
                yield packet
            else:
                encoder = reencode[index]
                for frame in packet.decode():
                    frame.pts = None
                    yield from encoder.encode(frame)
        for encoder in reencode.values():
            yield from encoder.encode(None)


# What a container's audio is re-encoded to when it cannot hold the source's codec, and at what sample rate
# (None: the source's). WebM holds Opus and Vorbis only; Opus encodes at 48 kHz.
_AUDIO_ENCODERS = {"webm": ("libopus", 48000)}
_DEFAULT_AUDIO_ENCODER = ("aac", None)
_AUDIO_NAMES = {"libopus": "Opus", "aac": "AAC"}


@dataclass(frozen=True)
class StreamPlan:
    """What happens to one of the source's audio or subtitle streams in the output."""

    index: int
    action: str  # "copy", "encode" or "drop"
    encoder: str | None = None
    rate: int | None = None
    notice: str | None = None


def plan_source_streams(source: Path, output_suffix: str) -> list[StreamPlan]:
    """Decide, before any work, what becomes of the source's audio and subtitles in a container: copied where
    it holds their codec, audio re-encoded to one it holds, subtitles it cannot hold dropped (with a notice)."""
    format_name = CONTAINERS[output_suffix.lower()]
    encoder, rate = _AUDIO_ENCODERS.get(format_name, _DEFAULT_AUDIO_ENCODER)
    plans = []
    with av.open(os.devnull, "w", format=format_name) as probe, av.open(str(source)) as src:
        supported = probe.supported_codecs
        if len(src.streams.video) > 1:
            extra = ", ".join(str(s.index) for s in src.streams.video[1:])
            plans.append(StreamPlan(-1, "drop", notice=f"video stream(s) {extra} of the source are not in the "
                                                       "output: lumiere restores the first video stream only"))
        for stream in list(src.streams.audio) + list(src.streams.subtitles):
            name = stream.codec_context.name
            if name in supported:
                plans.append(StreamPlan(stream.index, "copy"))
            elif stream.type == "audio":
                if encoder not in av.codecs_available:
                    raise OutputError(f"a {output_suffix} file cannot hold the source's {name} audio and this "
                                      f"build of FFmpeg has no {encoder} encoder; choose another container")
                plans.append(StreamPlan(stream.index, "encode", encoder, rate or stream.codec_context.sample_rate,
                                        f"audio stream {stream.index} ({name}) re-encoded as {_AUDIO_NAMES[encoder]}: "
                                        f"{output_suffix} cannot hold {name}"))
            else:
                plans.append(StreamPlan(stream.index, "drop", notice=f"subtitle stream {stream.index} ({name}) "
                                                                     f"dropped: {output_suffix} cannot hold {name}"))
    return plans


def join_chunks(chunks: list[Chunk], output: Path, source: Path | None) -> list[str]:
    """Join chunk files (same codec settings) and the source's audio/subtitles into `output`; returns notices."""
    plans = plan_source_streams(source, output.suffix) if source is not None else []
    notices = [plan.notice for plan in plans if plan.notice]
    partial = output.with_name(f".{output.name}.partial")
    format_name = CONTAINERS[output.suffix.lower()]
    try:
        with av.open(str(partial), "w", format=format_name) as out, av.open(str(chunks[0].path)) as first:
            template = first.streams.video[0]
            video_out = out.add_stream_from_template(template, opaque=True)
            video_out.time_base = template.time_base
            video_out.codec_context.framerate = template.average_rate  # else Matroska takes 1/time_base as the rate
            mapping, reencode = {}, {}
            if plans:
                with av.open(str(source)) as src:
                    for plan in plans:
                        if plan.action == "copy":
                            mapping[plan.index] = out.add_stream_from_template(src.streams[plan.index])
                        elif plan.action == "encode":
                            layout = src.streams[plan.index].codec_context.layout
                            encoder = out.add_stream(plan.encoder, rate=plan.rate)
                            # the standard layout for the channel count: AAC refuses layouts without an order
                            encoder.layout = av.AudioLayout(f"{layout.nb_channels}c")
                            encoder.format = encoder.codec_context.codec.audio_formats[0].name
                            reencode[plan.index] = encoder
            streams = [_video_packets(chunks, video_out)]
            if mapping or reencode:
                streams.append(_source_packets(source, mapping, reencode))
            for packet in heapq.merge(*streams, key=_packet_time):
                out.mux(packet)
        os.replace(partial, output)
    except av.error.FFmpegError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"could not write {output}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return notices


def remove_files_of_dead_processes(folder: Path, pattern: str) -> None:
    """Delete work files named after a process (`pattern` holds "{pid}") whose process is gone: kill -9 leaves
    them no chance to clean up. Files of live processes, this one's included, are kept."""
    prefix, _, suffix = pattern.partition("{pid}")
    for path in folder.glob(glob_escape(prefix) + "*" + suffix):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            pass


@contextmanager
def video_file(output: Path, settings: EncodeSettings, width: int, height: int, fps: Fraction,
               time_base: Fraction, color: ColorInfo, first_pts: int = 0,
               source: Path | None = None) -> Iterator[ChunkWriter]:
    """Write one video in a single pass: frames go to a chunk beside `output`, which is joined (with the
    source's audio and subtitles, if given) into `output` once the block ends without error."""
    remove_files_of_dead_processes(output.parent, f".{output.name}.{{pid}}.chunk*")
    work = output.with_name(f".{output.name}.{os.getpid()}.chunk{settings.spec.chunk_suffix}")
    try:
        with ChunkWriter(work, settings, width, height, fps, time_base, color, pts_offset=first_pts) as writer:
            yield writer
        join_chunks([Chunk(work, first_pts, time_base)], output, source)
    finally:
        work.unlink(missing_ok=True)


def write_clip(source: Source, output: Path, settings: EncodeSettings, frames: range,
               size: tuple[int, int] | None = None, from_zero: bool = False) -> Path:
    """`frames` of a film, its top-left `size` (width, height; None: whole), as a video of
    their own at the film's rate and colour; `from_zero`: timestamps start at zero rather than where they were."""
    info = source.info
    width, height = size or (info.width, info.height)
    first_pts = None
    with video_file(output, settings, width, height, info.fps, info.time_base, info.color) as writer:
        for frame in source.frames(frames.start):
            if frame.index >= frames.stop:
                break
            first_pts = frame.pts if first_pts is None else first_pts
            writer.write(frame.rgb[:height, :width], frame.pts - (first_pts if from_zero else 0), frame.duration)
    return output


class ImageSequenceWriter:
    """Writes frames as numbered (or source-named) images into a folder."""

    def __init__(self, folder: Path, pattern: str, suffix: str, names: tuple[str, ...] = ()):
        self.folder = folder
        self.pattern = pattern
        self.suffix = suffix
        self.names = names

    def name_for(self, index: int) -> str:
        if self.names:
            return Path(self.names[index]).stem + self.suffix
        return self.pattern % index

    def write(self, rgb: np.ndarray, index: int) -> None:
        write_image(self.folder / self.name_for(index), Image(rgb))
