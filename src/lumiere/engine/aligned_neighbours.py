"""The multi-frame upscaler's input (`models/multiframe.py`): each frame's neighbours of the same shot laid onto
it along DIS optical flow at the input's size, with how far that flow can be trusted. The upscale stage
(`stages/upscale.py`) feeds it a sliding window of the film.

Training (`train/video.py`) builds its inputs with `aligned_input` too, from degraded low-resolution frames, so
the network learns on exactly the alignment, and the alignment's failures, that it meets in a film.
"""

import numpy as np
import torch

from .._checks import check_image_batch
from ..motion import WindowFlows, flow_consistency, shot_around, warp
from ..ops import luma_u8


def aligned_input(frames: torch.Tensor, lumas: list[np.ndarray], centre: int, neighbours: int,
                  flows: WindowFlows, indices: list[int] | None = None,
                  shot: tuple[int, int] | None = None) -> torch.Tensor:
    """The network's input for frame `centre` of `frames` (T, 3, h, w) in [0, 1]: (3 (2N + 1) + 2N, h, w).

    `lumas` are the frames' uint8 luma planes (what DIS looks at); `flows` keeps flows between frames (`indices`,
    the frames' numbers in the film, default 0 .. T - 1) so the next frame's window reuses them. A neighbour
    outside `frames` or outside `shot` (first, last position of the centre's shot; default all of `frames`) is
    the centre frame itself with confidence 0: the network then ignores it. Confidence is the flow's round-trip
    consistency (`motion.flow_consistency`): low where the neighbour hides the pixel or the flow failed.
    """
    check_image_batch(frames, channels=3)
    count, _, height, width = frames.shape
    if len(lumas) != count or not 0 <= centre < count:
        raise ValueError(f"expected one luma plane per frame and a centre among them, got {len(lumas)} planes, "
                         f"{count} frames, centre {centre}")
    indices = list(range(count)) if indices is None else indices
    first, last = shot if shot is not None else (0, count - 1)
    laid, confidences = [], []
    for offset in range(-neighbours, neighbours + 1):
        k = centre + offset
        if offset == 0:
            laid.append(frames[centre].float().cpu())
            continue
        if not (max(first, 0) <= k <= min(last, count - 1)):
            laid.append(frames[centre].float().cpu())
            confidences.append(torch.zeros(height, width))
            continue
        there = flows.flow(lumas, indices, centre, k)  # centre pixel -> where it is in frame k
        back = flows.flow(lumas, indices, k, centre)
        picture = np.ascontiguousarray(frames[k].permute(1, 2, 0).float().cpu().numpy())
        laid.append(torch.from_numpy(warp(picture, there)).permute(2, 0, 1))
        confidences.append(torch.from_numpy(flow_consistency(there, back)))
    return torch.cat([*laid, torch.stack(confidences)])


class WindowMemo:
    """What a stream of windows computes once per frame or pair of frames: the frames' luma planes (what DIS
    looks at), whether a cut lies between two frames, and the flows between them."""

    def __init__(self):
        self.flows = WindowFlows()
        self._lumas: dict[int, np.ndarray] = {}

    def lumas(self, frames: list[torch.Tensor], indices: list[int]) -> list[np.ndarray]:
        for frame, index in zip(frames, indices, strict=True):
            if index not in self._lumas:
                self._lumas[index] = luma_u8(frame)
        return [self._lumas[index] for index in indices]

    def forget_before(self, index: int) -> None:
        self.flows.forget_before(index)
        self._lumas = {k: luma for k, luma in self._lumas.items() if k >= index}


def window_input(frames: list[torch.Tensor], center: int, indices: list[int], neighbours: int,
                 memo: WindowMemo, starts: list[bool]) -> torch.Tensor:
    """The network's input (3 (2N + 1) + 2N, h, w) for `frames[center]` from consecutive frames (3, h, w) around
    it (`indices`: their numbers in the film; `starts`: which begin a new shot), using the neighbours of its own
    shot only."""
    memo.forget_before(indices[0])
    lumas = memo.lumas(frames, indices)
    shot = shot_around(center, len(frames), lambda k: starts[k + 1])
    return aligned_input(torch.stack(frames), lumas, center, neighbours, memo.flows, indices, shot)
