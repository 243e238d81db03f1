import numpy as np
import pytest
import torch

from lumiere.io.reader import Frame
from lumiere.ops import quantize, tensor_to_array
from lumiere.pipeline import HostCopies, run_pipeline
from lumiere.stages.base import FrameStage, WindowStage


class CountingWindow(WindowStage):
    before = after = 3

    def __init__(self):
        self.seen: list[int] = []

    def output_size(self, width, height):
        return width, height

    def process_window(self, window, center, indices, memo, starts):
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
    run_pipeline(_film(7, 23), [window, after_it], written.append, wanted=(10, 20))
    assert [frame.index for frame in written] == list(range(10, 20))
    assert sum(after_it.seen) == 10
    first, second, written = CountingWindow(), CountingWindow(), []
    # two window stages: the film from 4 (3 + 3 frames of context); the second sees only what its windows need
    run_pipeline(_film(4, 26), [first, second], written.append, wanted=(10, 20))
    assert first.seen == list(range(4, 26)) and second.seen == list(range(7, 23))
    assert [frame.index for frame in written] == list(range(10, 20))


def test_without_wanted_every_frame_goes_through():
    stage, written = CountingFrames(), []
    run_pipeline(_film(0, 6), [stage], written.append)
    assert len(written) == 6 and sum(stage.seen) == 6


@pytest.mark.parametrize("stored", [np.uint8, np.uint16])
def test_host_copies_are_the_stored_pixels(device, stored):
    """A processed picture comes back as `tensor_to_array` makes it, on a GPU through its own copy stream."""
    picture = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1
    expected = tensor_to_array(picture, stored)
    copies = HostCopies(stored)
    pending = [copies.start(picture.to(device)) for _ in range(3)]
    for pixels in pending:
        got = pixels()
        assert got.dtype == stored and got.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(got, expected)


def test_exception_quantize_wants_one_picture():
    with pytest.raises(ValueError, match=r"expected \(C, H, W\), got \(1, 3, 4, 4\)"):
        quantize(torch.zeros(1, 3, 4, 4))
