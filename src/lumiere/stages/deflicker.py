"""Deflicker: take out frame-to-frame exposure pumping, keep real lighting changes and fades.

Old film flickers because each frame was exposed, printed and developed a little differently, and unevenly
across the frame. For each frame, the mean and spread of its luma are measured on a coarse grid of blocks; the
target is their average over the neighbouring frames of the same shot (a Gaussian window, `radius` frames each
side), so changes slower than the window (a fade, a cloud, a lamp switched on) pass while frame-to-frame
pumping is averaged out. Each frame is then mapped, block by block with smooth transitions, from its own mean
and spread to the target's: a local gain and offset.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..motion import shot_around
from ..ops import luma
from .base import WindowStage
from .settings import OneValueSettings, Option

SPREAD_FLOOR = 0.02  # keeps the gain of flat blocks (sky, walls) from exploding
GAIN_LIMITS = (0.5, 2.0)


@dataclass(frozen=True)
class DeflickerSettings(OneValueSettings):
    strength: float = 1.0  # 0 leaves the film as it is, 1 takes out all the flicker it finds
    radius: int = 6  # frames each side averaged into a frame's target exposure
    grid: int = 6  # blocks along the shorter side: flicker is corrected this locally

    options = (Option("deflicker", "Take out brightness pumping, keep fades; optional strength 0-1 (default 1).",
                      bounds=(0, 1), bare=1.0, field="strength"),)

    def needs_shots(self, film, runners):
        return True

    def build(self, film, runners):
        return [DeflickerStage(self)]


def block_statistics(y: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and spread of luma (B, 1, H, W) over a (rows, columns) grid of blocks."""
    mean = F.adaptive_avg_pool2d(y, grid)
    square = F.adaptive_avg_pool2d(y * y, grid)
    return mean, (square - mean * mean).clamp_min(0).sqrt()


def match_exposure(frames: torch.Tensor, mean: torch.Tensor, spread: torch.Tensor, target_mean: torch.Tensor,
                   target_spread: torch.Tensor) -> torch.Tensor:
    """Map frames (B, 3, H, W) from their block statistics to the targets' (all (B, 1, rows, columns))."""
    gain = ((target_spread + SPREAD_FLOOR) / (spread + SPREAD_FLOOR)).clamp(*GAIN_LIMITS)
    size = frames.shape[-2:]
    def smooth(field):
        return F.interpolate(field, size=size, mode="bicubic", align_corners=False)
    return ((frames - smooth(mean)) * smooth(gain) + smooth(target_mean)).clamp(0, 1)


def trend_at(series: torch.Tensor, center: int, radius: int) -> torch.Tensor:
    """The value at `center` of a line fitted through `series` (T, ...) over time, with Gaussian weights of
    `radius` / 2 frames: a straight fade passes unchanged, also where the window is cut short at a shot's end."""
    times = torch.arange(series.shape[0], dtype=torch.float64) - center
    weights = torch.exp(-0.5 * (times / (radius / 2)) ** 2)
    shape = (-1,) + (1,) * (series.ndim - 1)
    w, t = weights.view(shape), times.view(shape)
    values = series.double()
    if series.shape[0] < 3:
        return ((values * w).sum(0) / w.sum()).to(series.dtype)[None]
    sw, st, stt = w.sum(), (w * t).sum(), (w * t * t).sum()
    sy, sty = (w * values).sum(0), (w * t * values).sum(0)
    determinant = sw * stt - st * st
    intercept = (stt * sy - st * sty) / determinant
    return intercept.to(series.dtype)[None]


class DeflickerStage(WindowStage):
    name = "deflicker"

    def __init__(self, settings: DeflickerSettings = DeflickerSettings()):
        if not 1 <= settings.radius <= 50:
            raise InputError(f"deflicker radius must be between 1 and 50 frames, got {settings.radius}")
        self.settings = settings
        self.before = self.after = settings.radius

    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int], memo,
                       starts: list[bool]) -> torch.Tensor:
        frames = torch.stack(window)
        y = luma(frames)
        # the centre's shot only: exposure on the far side of a cut is another scene's
        first, last = shot_around(center, len(window), lambda k: starts[k + 1])
        height, width = y.shape[-2:]
        rows = max(1, round(self.settings.grid * height / min(height, width)))
        columns = max(1, round(self.settings.grid * width / min(height, width)))
        mean, spread = block_statistics(y[first:last + 1], (rows, columns))
        target_mean = trend_at(mean, center - first, self.settings.radius)
        target_spread = trend_at(spread, center - first, self.settings.radius).clamp_min(0)
        own = center - first
        corrected = match_exposure(frames[center:center + 1], mean[own:own + 1], spread[own:own + 1], target_mean,
                                   target_spread)[0]
        strength = self.settings.strength
        return corrected if strength == 1 else torch.lerp(window[center], corrected, strength)
