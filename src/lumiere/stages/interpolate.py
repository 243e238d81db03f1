"""Frame-rate conversion by motion-compensated interpolation: new frames between the film's own.

Two ways to draw a frame at time t between two frames:
- rife (the default): RIFE's flow network (`models/rife.py`) estimates the flow from the new frame to each
  neighbour and a mask of which neighbour shows each pixel, and draws the frame from the warped neighbours; a
  moving figure is taken whole from one side or the other, not blended from both.
- flow: optical flow both ways (DIS) gives each pixel's motion; the frame is assembled from both neighbours, each
  warped to time t along the flow (the flow from t approximated from the two flows, as Super SloMo does), and
  blended by closeness in time and by how well each neighbour's flow survives its round trip (a pixel hidden in
  one neighbour is taken from the other). Faster, but where the flow misses, both copies show (a ghost).
Across a scene cut nothing is drawn: the nearer frame is repeated.
"""

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..engine.runner import ModelRunner
from ..errors import OptionError
from ..io.reader import FrameInfo
from ..models.loader import resolve_model_path
from ..models.rife import FLOW_SCALES, draw
from ..models.shipped import INTERPOLATORS
from ..motion import flow_consistency, warp
from ..ops import luma_u8, shrink
from .base import NO_SEGMENTS, Stage
from .settings import Film, Option, StageSettings, check_rate, option_value

MAX_FPS = 240
MAX_SLOWMO = 16
FLOW_SIZE = 540  # longest side the flow is computed at; enough for motion, cheap at 4K
# RIFE looks for motion on the frames shrunk to at most this long a side, and never finer than the film was
# before it was enlarged (an enlargement adds no motion to find); the frame is drawn at full size from that motion
NETWORK_WORK_SIDE = 2048
NETWORK_BATCH = 4  # in-between frames of one pair drawn at once: bounds memory at 4K and high frame rates


def network_work_side(frame_side: int, source_side: int) -> int:
    """The longer side RIFE looks for motion at, for frames `frame_side` px long of a film `source_side` px long
    before enlargement."""
    return min(frame_side, source_side, NETWORK_WORK_SIDE)


class FlowPair:
    """Flow both ways between two frames, at most FLOW_SIZE on the longer side, and each direction's round-trip
    consistency (1 where the flow holds, towards 0 where the pixel is hidden in the other frame)."""

    def __init__(self, dis, first: torch.Tensor, second: torch.Tensor):
        a, b = shrink(luma_u8(first), FLOW_SIZE)[0], shrink(luma_u8(second), FLOW_SIZE)[0]
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


class FlowInbetweens:
    """In-between frames by DIS optical flow and a blend (`interpolate`)."""

    def __init__(self):
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, first: torch.Tensor, second: torch.Tensor, times: list[float]) -> list[torch.Tensor]:
        flows = FlowPair(self.dis, first, second)
        return [interpolate(first, second, t, flows) for t in times]


class NetworkInbetweens:
    """In-between frames drawn by a frame-interpolation network (RIFE), several times of one pair at once: the
    motion found on the frames shrunk to `work_side` on the longer side (RIFE at `flow_scale` there), each frame
    drawn from it at full size."""

    def __init__(self, runner: ModelRunner, flow_scale: float = 1.0, work_side: int | None = None):
        self.runner, self.flow_scale, self.work_side = runner, flow_scale, work_side

    def __call__(self, first: torch.Tensor, second: torch.Tensor, times: list[float]) -> list[torch.Tensor]:
        height, width = first.shape[-2:]
        pair = torch.stack((first, second))
        if self.work_side is not None and max(height, width) > self.work_side:
            factor = self.work_side / max(height, width)
            pair = F.interpolate(pair, size=(max(1, round(height * factor)), max(1, round(width * factor))),
                                 mode="area")
        frames = []
        for start in range(0, len(times), NETWORK_BATCH):
            batch = torch.stack([torch.cat((pair[0], pair[1], torch.full_like(pair[0, :1], t)))
                                 for t in times[start:start + NETWORK_BATCH]])
            flow, mask = self.runner.run(lambda network, x: network.motion(x, self.flow_scale), batch)
            flow, mask = flow.to(first.device), mask.to(first.device)
            if flow.shape[-2:] != (height, width):
                gain = torch.tensor([width / flow.shape[-1], height / flow.shape[-2]] * 2).view(1, 4, 1, 1)
                flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False) * gain
                mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
            count = flow.shape[0]
            drawn = draw(first.expand(count, -1, -1, -1), second.expand(count, -1, -1, -1), flow, mask)
            frames += list(drawn.clamp(0, 1))
        return frames


@dataclass(frozen=True)
class InterpolateSettings(StageSettings):
    fps: Fraction | None  # None: the film's own
    method: str = "rife"
    slowmo: float = 1.0
    flow_scale: float | None = None  # RIFE's 'scale' at the size it works at; None: 1

    options = (Option("fps", "Output frame rate (24, 30, 60 ...): in-between frames by motion-compensated "
                             "interpolation.", bounds=(1, MAX_FPS)),
               Option("slowmo", "Slow motion: every moment lasts this many times as long (2, 4, 8 ...), the "
                                "frames between drawn as for $fps; plays at the film's frame rate or $fps. The "
                                "sound is left out.", bounds=(1, MAX_SLOWMO)),
               Option("interpolate", "How $fps and $slowmo draw in-between frames: rife (a neural network: "
                                     "moving figures stay solid) or flow (optical flow and a blend: faster, ghosts "
                                     "where the flow misses).", kind=str, choices=("rife", "flow"), default="rife",
                      field="method"),
               Option("flow_scale", "RIFE's 'scale': the size its levels look for motion at, against the size it "
                                    "works at (the film's before enlargement, at most 2048 px): 0.5 for large "
                                    "motion, 2 for fine detail moving slowly (default 1).",
                      bounds=(min(FLOW_SCALES), max(FLOW_SCALES))))
    retimes = True

    @classmethod
    def from_options(cls, values):
        fps = check_rate("fps", option_value(cls, values, "fps"))
        slowmo = option_value(cls, values, "slowmo") or 1.0
        if fps is None and slowmo == 1:
            return None
        return cls(fps, option_value(cls, values, "interpolate"), float(slowmo),
                   option_value(cls, values, "flow_scale"))

    def __post_init__(self):
        super().__post_init__()
        if self.flow_scale is not None and self.flow_scale not in FLOW_SCALES:
            raise OptionError(f"$flow_scale must be one of {', '.join(f'{s:g}' for s in FLOW_SCALES)}, got "
                              f"{self.flow_scale:g}")

    def needs_shots(self, film, runners):
        return True

    def build(self, film, runners):
        fps = self.fps or film.fps
        if self.method == "flow":
            return [InterpolateStage(fps, film.time_base, slowmo=self.slowmo)]
        runner = runners.get(INTERPOLATORS[self.method], ("interpolate",))
        inbetweens = NetworkInbetweens(runner, self.flow_scale or 1.0,
                                       network_work_side(max(film.out_size or film.size), max(film.size)))
        return [InterpolateStage(fps, film.time_base, inbetweens, self.slowmo)]

    def files(self, film: Film):
        return [] if self.method == "flow" else [resolve_model_path(INTERPOLATORS[self.method])[1]]


class InterpolateStage(Stage):
    """Re-times the film to `fps`: output frames on an even grid of 1/fps, each made from the source frames
    around its time; with `slowmo` k, output frame n shows the film's moment n / (k fps) and the film plays k
    times as long. Frames keep the index of the source frame they follow, so chunks stay whole. In-between
    frames come from `inbetweens` (default: flow)."""

    name = "interpolate"
    context_frames = 1
    lookahead = 1  # the frames after the last of a chunk are made from it and the next

    def __init__(self, fps: Fraction, source_time_base: Fraction, inbetweens=None, slowmo: float = 1.0):
        self.fps = Fraction(fps)
        self.source_time_base = Fraction(source_time_base)
        self.inbetweens = inbetweens or FlowInbetweens()
        self.time_stretch = slowmo
        self.rate = self.fps * Fraction(slowmo).limit_denominator(1000)  # output frames a second of the film

    def output_timing(self, fps: Fraction, time_base: Fraction) -> tuple[Fraction, Fraction]:
        return self.fps, 1 / self.fps

    def _ticks(self, start: Fraction, end: Fraction) -> range:
        """Output frame numbers whose film time falls in [start, end)."""
        return range(math.ceil(start * self.rate), math.ceil(end * self.rate))

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
        ticks = list(self._ticks(start, end))
        times = [float((tick / self.rate - start) / (end - start)) for tick in ticks]
        drawn = [t for t in times if t >= 1e-3]
        if not drawn:
            images = [image_a] * len(times)
        elif frame_b.shot_start:
            images = [image_a if t < 0.5 else image_b for t in times]
        else:
            made = iter(self.inbetweens(image_a, image_b, drawn))
            images = [image_a if t < 1e-3 else next(made) for t in times]
        for tick, image in zip(ticks, images, strict=True):
            yield replace(frame_a, pts=tick, duration=1), image
