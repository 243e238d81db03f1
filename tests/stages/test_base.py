import pytest
import torch

from lumiere.io.reader import FrameInfo
from lumiere.stages.base import WindowStage


class WindowSum(WindowStage):
    """Each output: the indices of the frames in its window, encoded as a sum of powers of two."""

    name = "window-sum"
    before, after = 2, 1

    def output_size(self, width, height):
        return width, height

    def process_window(self, window, center, indices, memo, starts):
        assert indices == sorted(indices)
        return torch.stack(window).sum(dim=0) + 1000 * center


def _items(indices):
    return ((FrameInfo(i, i, 1), torch.full((1, 1, 1), float(2**i))) for i in indices)


def test_cardinality_and_windows():
    out = list(WindowSum().stream(_items(range(6))))
    assert [frame.index for frame, _ in out] == list(range(6))
    sums = [int(image.item()) % 1000 for _, image in out]
    # frame i sees frames max(0, i-2) .. min(5, i+1)
    assert sums == [sum(2**j for j in range(max(0, i - 2), min(5, i + 1) + 1)) for i in range(6)]


def test_resumed_stream_equals_uninterrupted():
    stage = WindowSum()
    whole = {frame.index: image for frame, image in stage.stream(_items(range(10)))}
    start = 6
    resumed = {frame.index: image for frame, image in stage.stream(_items(range(start - stage.context_frames, 10)))}
    assert all(torch.equal(whole[i], resumed[i]) for i in range(start, 10))


def test_exception():
    with pytest.raises(ValueError, match="in order"):
        list(WindowSum().stream(_items([0, 2, 1])))
