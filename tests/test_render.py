"""The one chunk renderer (local runs and Ray workers): the frames of a range through the stages into a sink,
chunk files finished one by one, nothing half-written left when it stops."""

import numpy as np
import pytest

from lumiere.io.color import ColorInfo
from lumiere.io.reader import open_source
from lumiere.io.writer import EncodeSettings
from lumiere.render import RenderSettings, VideoChunks, VideoFormat, render_chunks
from lumiere.stages.base import FrameStage


class Recorder:
    def __init__(self):
        self.frames, self.finished, self.aborted = [], False, False

    def write(self, frame):
        self.frames.append(frame)

    def finish(self):
        self.finished = True

    def abort(self):
        self.aborted = True


class Brighter(FrameStage):
    def output_size(self, width, height):
        return width, height

    def process(self, frames):
        return (frames + 0.1).clamp(0, 1)


class Failing(Brighter):
    def process(self, frames):
        raise RuntimeError("out of memory, say")


@pytest.mark.parametrize("frames,chunk,count,last", [(10, 4, 3, (8, 10)), (8, 4, 2, (4, 8)), (1, 240, 1, (0, 1))])
def test_cardinality_settings(frames, chunk, count, last):
    render = RenderSettings(chunk_frames=chunk, frame_count=frames, context=0, lookahead=0)
    assert render.chunk_count == count and render.frame_range(count - 1) == last
    assert list(render.segments) == list(range(0, frames, chunk))


def test_smoke(video_factory):
    source = open_source(video_factory(frames=10))
    sink, heard = Recorder(), []
    render = RenderSettings(chunk_frames=4, frame_count=10, context=2, lookahead=1)
    render_chunks([Brighter()], source, (4, 8), sink, render, film_frames_done=heard.append)
    assert [frame.index for frame in sink.frames] == [4, 5, 6, 7] and sink.finished and not sink.aborted
    assert sum(heard) == 4
    original = {frame.index: frame.rgb for frame in source.frames()}
    assert np.all(sink.frames[0].rgb >= original[4]) and sink.frames[0].rgb.dtype == np.uint8


def test_exception_aborts_the_sink(video_factory):
    sink = Recorder()
    with pytest.raises(RuntimeError, match="out of memory"):
        render_chunks([Failing()], open_source(video_factory(frames=4)), (0, 4), sink,
                      RenderSettings(chunk_frames=4, frame_count=4, context=0, lookahead=0))
    assert sink.aborted and not sink.finished


def test_video_chunks_are_finished_one_by_one(video_factory, tmp_path):
    source = open_source(video_factory(frames=10))
    info = source.info
    render = RenderSettings(chunk_frames=4, frame_count=10, context=0, lookahead=0)
    video = VideoFormat(EncodeSettings("ffv1"), (info.width, info.height), info.fps, info.time_base, ColorInfo.bt601())
    done = []
    sink = VideoChunks(video, render, lambda chunk: tmp_path / f"chunk_{chunk}.mkv",
                       lambda chunk, pts: done.append((chunk, pts)))
    render_chunks([], source, (0, 10), sink, render)
    first_pts = {frame.index: frame.pts for frame in source.frames()}
    assert done == [(0, first_pts[0]), (1, first_pts[4]), (2, first_pts[8])]
    assert [len(list(open_source(tmp_path / f"chunk_{c}.mkv").frames())) for c in range(3)] == [4, 4, 2]
