"""Grain: take it out before upscaling (so the network does not enlarge it), put a natural one back after.

Degrain averages each frame with its two neighbours on each side, laid onto it along optical flow, pixel by
pixel weighted by how alike they are there (differences the size of the grain are averaged away, larger ones,
a hand that moved, are not): grain changes every frame, the picture does not. `restore --degrain` follows it
with the film-clean network for what one frame alone can still tell apart.

Regrain adds fresh photographic grain at the output resolution (lumiere's own film-grain model: luma-dependent,
spatially correlated), as strong as the source's measured grain and as coarse as it was before enlarging, so a
4K master does not look like plastic. Each frame's grain is drawn from its timestamp: the same every run.
"""

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from ..degradations.functional import film_grain
from ..errors import InputError
from ..models.loader import resolve_model_path
from ..motion import WindowFlows, neighbour_flows, warp
from ..ops import BT601, luma_plane, to_u8
from .base import NO_SEGMENTS, Stage, WindowStage
from .settings import OneValueSettings, Option
from .upscale import UpscaleStage

CLEANER = "film-clean"


def grain_level(frame: torch.Tensor) -> float:
    """Standard deviation of the fine noise in a frame (3, H, W) of [0, 1] (Immerkaer's estimator, 1996)."""
    y = luma_plane(frame)
    kernel = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    response = cv2.filter2D(y, -1, kernel)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


@dataclass(frozen=True)
class DegrainSettings(OneValueSettings):
    """Motion-compensated averaging, then the film-clean network for what one frame alone can still tell apart."""

    strength: float = 1.0  # 0..1: share of the averaged picture in the output
    similarity: float = 2.5  # differences up to this many grain deviations are treated as grain

    options = (Option("degrain", "Take out grain before upscaling (motion-compensated, then the film-clean "
                                 "network); optional strength 0-1.", bounds=(0, 1), bare=1.0, field="strength"),)

    def build(self, film, runners):
        return [DegrainStage(self), UpscaleStage(runners.get(CLEANER, ("restore",)), film.size, film.size)]

    def files(self, film):
        return [resolve_model_path(CLEANER)[1]]


class DegrainStage(WindowStage):
    name = "degrain"
    before = after = 2

    def __init__(self, settings: DegrainSettings = DegrainSettings()):
        self.settings = settings

    def start(self) -> WindowFlows:
        return WindowFlows()

    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int],
                       memo: WindowFlows, starts: list[bool]) -> torch.Tensor:
        if len(window) < 2:
            return window[center]
        frames = [frame.permute(1, 2, 0).float().cpu().numpy() for frame in window]
        y = [frame @ np.float32(BT601) for frame in frames]
        height, width = y[center].shape
        small = [cv2.resize(to_u8(plane), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for plane in y]
        spread = self.settings.similarity * max(grain_level(window[center]), 1 / 255)
        total = frames[center].copy()
        weight_sum = np.ones((height, width, 1), np.float32)
        for k, flow, trusted in neighbour_flows(memo, small, indices, center, (width, height)):
            laid = warp(frames[k], flow)
            difference = cv2.blur(np.abs(laid @ np.float32(BT601) - y[center]), (3, 3))
            weight = (np.exp(-((difference / spread) ** 2)) * trusted)[..., None].astype(np.float32)
            total += weight * laid
            weight_sum += weight
        averaged = total / weight_sum
        out = frames[center] + self.settings.strength * (averaged - frames[center])
        return torch.from_numpy(out).permute(2, 0, 1).clamp(0, 1).to(window[center])


@dataclass(frozen=True)
class RegrainSettings(OneValueSettings):
    share: float = 0.5  # of the source's grain, put back at the output size
    level: float = 0.0  # the source's grain (standard deviation), measured on the film

    options = (Option("regrain", "Put fresh grain back at the output size, as a share of the source's (default 0.5).",
                      bounds=(0, 2), bare=0.5, field="share"),)
    value_field = "share"

    def measure(self, film, sample, runners):
        return replace(self, level=min(0.2, grain_level(sample.frame())))

    def build(self, film, runners):
        return [RegrainStage(self.share * self.level, grain_size=film.enlargement)]


class RegrainStage(Stage):
    name = "regrain"

    def __init__(self, strength: float, grain_size: float, seed: int = 0):
        if not 0 <= strength <= 0.2:
            raise InputError(f"grain strength must be between 0 and 0.2, got {strength:g}")
        self.strength, self.grain_size, self.seed = strength, grain_size, seed

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        for frame, image in items:
            generator = torch.Generator(device=image.device).manual_seed(self.seed * 1_000_003 + frame.pts)
            yield frame, film_grain(image[None], self.strength, self.grain_size, generator)[0].clamp(0, 1)
