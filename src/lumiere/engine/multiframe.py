"""Running the multi-frame upscaler (`models/multiframe.py`): each frame's neighbours laid onto it along DIS
optical flow at the input's size, with how far that flow can be trusted, then the network.

Training (`train/video.py`) builds its inputs with `aligned_input` too, from degraded low-resolution frames, so
the network learns on exactly the alignment, and the alignment's failures, that it meets in a film.
"""

import numpy as np
import torch

from .._checks import check_image_batch
from ..models.multiframe import neighbours_of
from ..motion import WindowFlows, flow_consistency, is_cut, shot_around, warp
from ..ops import luma_u8
from .runner import ModelRunner


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


def cuts_in(lumas: list[np.ndarray]) -> list[bool]:
    """Whether a scene cut lies after each frame (the last: False)."""
    return [is_cut(a, b) for a, b in zip(lumas, lumas[1:])] + [False]


@torch.inference_mode()
def upscale_clip(runner: ModelRunner, clip: torch.Tensor) -> torch.Tensor:
    """Enlarge every frame of a clip (T, 3, h, w) in [0, 1] with a multi-frame network, each from itself and
    the N frames on each side, aligned by DIS flow, of its own shot: (T, 3, scale h, scale w)."""
    check_image_batch(clip, channels=3)
    if runner.descriptor.role != "video":
        raise ValueError(f"expected a multi-frame video upscaler, got {runner.descriptor.name} "
                         f"({runner.descriptor.architecture})")
    neighbours = neighbours_of(runner.descriptor.input_channels)
    lumas = [luma_u8(frame) for frame in clip]
    cut_after = cuts_in(lumas)
    flows = WindowFlows()
    count, out = clip.shape[0], []
    for t in range(count):
        flows.forget_before(t - neighbours)
        low, high = max(0, t - neighbours), min(count, t + neighbours + 1)
        first, last = shot_around(t - low, high - low, lambda k, low=low: cut_after[low + k])
        x = aligned_input(clip, lumas, t, neighbours, flows, shot=(low + first, low + last))
        out.append(runner(x[None]).clamp(0, 1).cpu())
    return torch.cat(out)
