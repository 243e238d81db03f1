"""Frame-rate conversion by motion-compensated interpolation: new frames between the film's own.

Between two frames, optical flow both ways (DIS) gives each pixel's motion; an in-between frame at time t is
assembled from both neighbours, each warped to time t along the flow (the flow from t approximated from the
two flows, as Super SloMo does), and blended by closeness in time and by how well each neighbour's flow
survives its round trip (a pixel hidden in one neighbour is taken from the other). Across a scene cut nothing
is blended: the nearer frame is repeated.
"""

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import cv2
import numpy as np
import torch

from ..errors import OptionError
from ..io.reader import FrameInfo
from ..motion import flow_consistency, is_cut, warp
from ..ops import luma_u8, shrink
from .base import NO_SEGMENTS, Stage
from .settings import Option, StageSettings, check_rate, option_value

MAX_FPS = 240
FLOW_SIZE = 540  # longest side the flow is computed at; enough for motion, cheap at 4K


class FlowPair:
    """Flow both ways between two frames, at most FLOW_SIZE on the longer side, and each direction's round-trip
    consistency (1 where the flow holds, towards 0 where the pixel is hidden in the other frame)."""

    def __init__(self, dis, first: torch.Tensor, second: torch.Tensor):
        a, b = shrink(luma_u8(first), FLOW_SIZE)[0], shrink(luma_u8(second), FLOW_SIZE)[0]
        self.cut = is_cut(a, b)
        self.forward = dis.calc(a, b, None)  # b(p + forward) ~ a(p)
        self.backward = dis.calc(b, a, None)
        self.forward_ok = flow_consistency(self.forward, self.backward)
        self.backward_ok = flow_consistency(self.backward, self.forward)


def interpolate(first: torch.Tensor, second: torch.Tensor, t: float, flows: FlowPair) -> torch.Tensor:
    """The frame at time t (0 < t < 1) between `first` and `second` (3, H, W)."""
    height, width = first.shape[-2:]
    small_h, small_w = flows.forward.shape[:2]
    # flow from the in-between frame to each neighbour (linear motion), at the flow's size
    to_first = -(1 - t) * t * flows.forward + t * t * flows.backward
    to_second = (1 - t) ** 2 * flows.forward - t * (1 - t) * flows.backward
    seen_first = warp(flows.forward_ok, to_first)
    seen_second = warp(flows.backward_ok, to_second)

    def full(field: np.ndarray, is_flow: bool) -> np.ndarray:
        if (small_h, small_w) == (height, width):
            return field
        resized = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
        return resized * np.float32([width / small_w, height / small_h]) if is_flow else resized

    a = warp(first.permute(1, 2, 0).float().cpu().numpy(), full(to_first, True))
    b = warp(second.permute(1, 2, 0).float().cpu().numpy(), full(to_second, True))
    weight_a = ((1 - t) * (full(seen_first, False) + 1e-3))[..., None]
    weight_b = (t * (full(seen_second, False) + 1e-3))[..., None]
    blended = (weight_a * a + weight_b * b) / (weight_a + weight_b)
    return torch.from_numpy(blended).permute(2, 0, 1).to(first)


@dataclass(frozen=True)
class InterpolateSettings(StageSettings):
    fps: Fraction

    options = (Option("fps", "Output frame rate (24, 30, 60 ...): in-between frames by motion-compensated "
                             "interpolation.", bounds=(1, MAX_FPS)),)
    retimes = True

    @classmethod
    def from_options(cls, values):
        fps = check_rate("fps", option_value(cls, values, "fps"))
        return None if fps is None else cls(fps)

    def build(self, film, runners):
        return [InterpolateStage(self.fps, film.time_base)]


class InterpolateStage(Stage):
    """Re-times the film to `fps`: output frames on an even grid of 1/fps, each made from the source frames
    around its time. Frames keep the index of the source frame they follow, so chunks stay whole."""

    name = "interpolate"
    context_frames = 1
    lookahead = 1  # the frames after the last of a chunk are made from it and the next

    def __init__(self, fps: Fraction, source_time_base: Fraction):
        if not 1 <= fps <= MAX_FPS:
            raise OptionError(f"$fps must be between 1 and {MAX_FPS}, got {float(fps):g}")
        self.fps = Fraction(fps)
        self.source_time_base = Fraction(source_time_base)
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def output_timing(self, fps: Fraction, time_base: Fraction) -> tuple[Fraction, Fraction]:
        return self.fps, 1 / self.fps

    def _ticks(self, start: Fraction, end: Fraction) -> range:
        """Output frame numbers whose time falls in [start, end)."""
        return range(math.ceil(start * self.fps), math.ceil(end * self.fps))

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        previous: tuple[FrameInfo, torch.Tensor] | None = None
        for frame, image in items:
            if previous is not None:
                yield from self._between(previous, (frame, image))
            previous = (frame, image)
        if previous is not None:
            frame, image = previous
            start = frame.pts * self.source_time_base
            for tick in self._ticks(start, start + frame.duration * self.source_time_base):
                yield replace(frame, pts=tick, duration=1), image

    def _between(self, first: tuple[FrameInfo, torch.Tensor], second: tuple[FrameInfo, torch.Tensor]):
        (frame_a, image_a), (frame_b, image_b) = first, second
        start, end = frame_a.pts * self.source_time_base, frame_b.pts * self.source_time_base
        flows = None
        for tick in self._ticks(start, end):
            t = float((tick / self.fps - start) / (end - start))
            if t < 1e-3:
                image = image_a
            else:
                flows = flows or FlowPair(self.dis, image_a, image_b)
                image = (image_a if t < 0.5 else image_b) if flows.cut else interpolate(image_a, image_b, t, flows)
            yield replace(frame_a, pts=tick, duration=1), image
