"""Rendering chunks: a frame range decoded with the context before it and the lookahead after it, run through the
stages, and each output frame handed to a sink. The same `render_chunks` renders a run of chunks into the job's
work folder here and one chunk into a temporary file on a Ray worker.
"""

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import takewhile
from pathlib import Path
from typing import Protocol

import numpy as np

from .io.color import ColorInfo
from .io.reader import Frame, Source
from .io.writer import ChunkWriter, EncodeSettings, ImageSequenceWriter
from .pipeline import run_pipeline
from .progress import FilmFrames
from .stages.base import Stage


@dataclass(frozen=True)
class RenderSettings:
    """How a job renders its chunks, the same on every machine."""

    chunk_frames: int
    frame_count: int  # of the film
    context: int  # frames decoded and run through the stages before a run of chunks
    lookahead: int  # and after it
    batch: int = 1  # frames per network call
    out_dtype: str = "uint8"  # of the stored pixels

    @property
    def chunk_count(self) -> int:
        return -(-self.frame_count // self.chunk_frames)

    def frame_range(self, chunk: int) -> tuple[int, int]:
        """First and one-past-last frame index of a chunk."""
        return chunk * self.chunk_frames, min((chunk + 1) * self.chunk_frames, self.frame_count)

    @property
    def segments(self) -> range:
        """The first frame of each chunk: where the stages' segments start."""
        return range(0, self.frame_count, self.chunk_frames)


@dataclass(frozen=True)
class VideoFormat:
    """What a video chunk is encoded as."""

    encode: EncodeSettings
    size: tuple[int, int]
    fps: Fraction
    time_base: Fraction
    color: ColorInfo


class FrameSink(Protocol):
    """Where rendered frames go, in order: `finish` once all are written, `abort` to stop leaving nothing
    half-written behind."""

    def write(self, frame: Frame) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class VideoChunks:
    """One video file a chunk, changing files at chunk borders; `chunk_done(chunk, first_pts)` hears of each
    chunk once its file is complete on disk."""

    def __init__(self, video: VideoFormat, render: RenderSettings, chunk_path: Callable[[int], Path],
                 chunk_done: Callable[[int, int], None]):
        self.video, self.render = video, render
        self.chunk_path, self.chunk_done = chunk_path, chunk_done
        self._writer: ChunkWriter | None = None
        self._chunk = -1

    def write(self, frame: Frame) -> None:
        chunk = frame.index // self.render.chunk_frames
        if self._writer is not None and chunk != self._chunk:
            self._commit()
        if self._writer is None:
            first, end = self.render.frame_range(chunk)
            video = self.video
            self._writer = ChunkWriter(self.chunk_path(chunk), video.encode, *video.size, video.fps,
                                       video.time_base, video.color, pts_offset=frame.pts, frames=end - first).open()
            self._chunk = chunk
        self._writer.write(frame.rgb, frame.pts, frame.duration)

    def finish(self) -> None:
        if self._writer is not None:
            self._commit()

    def abort(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abort()

    def _commit(self) -> None:
        writer, self._writer = self._writer, None
        writer.commit()
        self.chunk_done(self._chunk, writer.pts_offset)


class ImageFrames:
    """Frames as image files in one folder; `chunk_done(chunk, 0)` hears of each chunk once its last frame is
    written."""

    def __init__(self, writer: ImageSequenceWriter, render: RenderSettings, chunk_done: Callable[[int, int], None]):
        self.writer, self.render, self.chunk_done = writer, render, chunk_done

    def write(self, frame: Frame) -> None:
        self.writer.write(frame.rgb, frame.index)
        chunk = frame.index // self.render.chunk_frames
        if frame.index + 1 == self.render.frame_range(chunk)[1]:
            self.chunk_done(chunk, 0)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Discard:
    """A sink that keeps nothing: for timing the stages."""

    def write(self, frame: Frame) -> None:
        pass

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


def render_chunks(stages: list[Stage], source: Source, frames: tuple[int, int], sink: FrameSink,
                  render: RenderSettings, *, film_frames_done: Callable[[int], None] | None = None) -> None:
    """Frames [first, end) of the film through the stages into `sink`; `film_frames_done(n)` hears of the
    film's frames as the output gets through them (n of them since it last heard)."""
    first, end = frames
    decoded = takewhile(lambda frame: frame.index < end + render.lookahead,
                        source.frames(max(0, first - render.context)))
    write = sink.write
    if film_frames_done is not None:
        counted = FilmFrames(first)

        def write(frame: Frame) -> None:
            sink.write(frame)
            film_frames_done(counted.passed(frame.index))
    try:
        run_pipeline(decoded, stages, write, batch=render.batch, out_dtype=np.dtype(render.out_dtype),
                     wanted=(first, end), segments=render.segments)
        sink.finish()
    except BaseException:
        sink.abort()
        raise
    if film_frames_done is not None:
        film_frames_done(counted.passed(end - 1))
