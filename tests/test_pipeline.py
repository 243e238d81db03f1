import numpy as np
import torch

from lumiere.io.reader import Frame
from lumiere.pipeline import run_pipeline
from lumiere.stages.base import FrameStage, WindowStage


class CountingWindow(WindowStage):
    before = after = 3

    def __init__(self):
        self.seen: list[int] = []

    def output_size(self, width, height):
        return width, height

    def process_window(self, window, center, indices, memo):
        self.seen.append(indices[center])
        return torch.stack(window).mean(0)


class CountingFrames(FrameStage):
    def __init__(self):
        self.seen: list[int] = []

    def output_size(self, width, height):
        return width, height

    def process(self, frames):
        self.seen.append(frames.shape[0])
        return frames


def _film(first: int, last: int):
    return (Frame(i, i, np.full((4, 4, 3), 10 * i % 256, np.uint8), 1) for i in range(first, last))


def test_stages_get_only_the_frames_the_wanted_ones_need():
    window, after_it, written = CountingWindow(), CountingFrames(), []
    # frames 10..19 wanted: the window stage needs 7..22, and only 10..19 are worth passing to the next stage
    run_pipeline(_film(7, 23), [window, after_it], written.append, total=10, show_progress=False, wanted=(10, 20))
    assert [frame.index for frame in written] == list(range(10, 20))
    assert sum(after_it.seen) == 10
    first, second, written = CountingWindow(), CountingWindow(), []
    # two window stages: the film from 4 (3 + 3 frames of context); the second sees only what its windows need
    run_pipeline(_film(4, 26), [first, second], written.append, total=10, show_progress=False, wanted=(10, 20))
    assert first.seen == list(range(4, 26)) and second.seen == list(range(7, 23))
    assert [frame.index for frame in written] == list(range(10, 20))


def test_without_wanted_every_frame_goes_through():
    stage, written = CountingFrames(), []
    run_pipeline(_film(0, 6), [stage], written.append, total=6, show_progress=False)
    assert len(written) == 6 and sum(stage.seen) == 6
