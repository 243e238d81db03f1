"""Stabilize: take out gate weave and jitter, keep the camera's own movement.

The shift of the picture from each frame to the next is measured by phase correlation of the luma (a
windowed FFT; insensitive to flicker). Summed, the shifts give the path of the picture; the camera's intended
path is a smooth fit to it (a line fitted with Gaussian weights over `radius` frames each side, so pans pass
through unchanged and the ends of a shot are not pulled towards its middle). Each frame is moved by the
difference, at most `max_shift` of its shorter side. Borders are filled by mirroring, or cropped by a fixed
zoom (no breathing). Rotation is not corrected: gate weave is a translation.
"""

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..motion import shot_around
from ..ops import luma_plane, shrink
from .base import WindowStage
from .settings import Option, StageSettings, option_value

MEASURE_SIZE = 512  # longest side the shifts are measured at


@dataclass(frozen=True)
class StabilizeSettings(StageSettings):
    radius: int = 15  # frames each side of the smooth path fit: longer keeps only slower camera moves
    borders: str = "fill"  # "fill" (mirror the picture into the gap) or "crop" (zoom in by max_shift)
    max_shift: float = 0.03  # of the shorter side: the largest correction made

    options = (Option("stabilize", "Take out gate weave and jitter, keep camera moves.", kind=bool),
               Option("borders", "Stabilized frames' edges: fill (mirror the picture) or crop (a fixed slight zoom).",
                      kind=str, default="fill", choices=("fill", "crop")))

    @classmethod
    def from_options(cls, values):
        if not option_value(cls, values, "stabilize"):
            return None
        return cls(borders=option_value(cls, values, "borders"))

    def needs_shots(self, film, runners):
        return True

    def build(self, film, runners):
        return [StabilizeStage(self)]


def shift_between(first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    """How far the picture moved from `first` to `second` (dx, dy in pixels)."""
    a, scale = shrink(luma_plane(first), MEASURE_SIZE)
    b, _ = shrink(luma_plane(second), MEASURE_SIZE)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    return np.array([dx, dy]) / scale


def smooth_correction(path: np.ndarray, center: int, radius: int) -> np.ndarray:
    """The move (dx, dy) that puts frame `center` of `path` (N, 2) on a weighted line fit through it."""
    times = np.arange(len(path)) - center
    weights = np.exp(-0.5 * (times / max(1.0, radius / 2)) ** 2)
    design = np.stack([np.ones_like(times, dtype=np.float64), times], axis=1)
    if len(path) < 3:
        fitted = np.average(path, axis=0, weights=weights)
    else:
        gram = design.T @ (design * weights[:, None])
        coefficients = np.linalg.solve(gram + 1e-9 * np.eye(2), design.T @ (path * weights[:, None]))
        fitted = coefficients[0]
    return fitted - path[center]


class StabilizeStage(WindowStage):
    name = "stabilize"

    def __init__(self, settings: StabilizeSettings = StabilizeSettings()):
        if not 2 <= settings.radius <= 100:
            raise InputError(f"stabilize radius must be between 2 and 100 frames, got {settings.radius}")
        self.settings = settings
        self.before = self.after = settings.radius

    def start(self) -> dict[int, np.ndarray]:
        return {}  # frame index -> its move to the next frame

    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int],
                       memo: dict[int, np.ndarray], starts: list[bool]) -> torch.Tensor:
        for k in range(len(window) - 1):
            if indices[k] not in memo:
                memo[indices[k]] = shift_between(window[k], window[k + 1])
        for index in [i for i in memo if i < indices[0]]:
            del memo[index]
        first, last = shot_around(center, len(window), lambda k: starts[k + 1])  # the centre's shot only
        steps = [memo[indices[k]] for k in range(first, last)]
        path = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)]) if steps else np.zeros((1, 2))
        height, width = window[center].shape[-2:]
        limit = self.settings.max_shift * min(height, width)
        dx, dy = np.clip(smooth_correction(path, center - first, self.settings.radius), -limit, limit)
        return self._move(window[center], dx, dy, limit)

    def _move(self, image: torch.Tensor, dx: float, dy: float, limit: float) -> torch.Tensor:
        height, width = image.shape[-2:]
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        if self.settings.borders == "crop":
            zoom = 1 + 2 * limit / min(height, width)
            centre = np.float32([(width - 1) / 2, (height - 1) / 2])
            matrix = np.float32([[zoom, 0, 0], [0, zoom, 0]])
            matrix[:, 2] = centre - zoom * centre + zoom * np.float32([dx, dy])
        picture = image.permute(1, 2, 0).float().cpu().numpy()
        moved = cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT_101)
        return torch.from_numpy(moved).permute(2, 0, 1).clamp(0, 1).to(image)
