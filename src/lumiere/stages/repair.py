"""Dust, dirt and scratch repair: fix what is in one frame but not in its motion-compensated neighbours.

Each neighbour (two frames each side) is warped onto the frame along DIS optical flow, where the flow holds up
both ways. Where the frame differs strongly from the median of those neighbours, and the neighbours agree with
each other, something sits on this frame only: a speck of dust or dirt, or a scratch that moves differently
from the scene. Real objects moving fast do not pass: the flow there fails its round trip, or the neighbours
disagree. Only small blobs (dust) and tall thin lines (scratches) are kept, then filled from the neighbours.
A scratch that stays put on a still scene is not told apart from a real line, and is left alone.
"""

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..degradations.functional import luma
from ..errors import InputError
from ..motion import neighbour_flows, warp
from .base import WindowStage

MIN_SPECK_AREA = 64  # px: on small frames a speck may cover more of the picture


@dataclass(frozen=True)
class RepairSettings:
    strength: float = 1.0  # 0..1: how much of a found defect is replaced (1: all of it)
    threshold: float = 0.08  # difference (of 1) from the neighbours that marks a defect
    max_speck_area: float = 0.0006  # of the frame: larger blobs are not dust (a real object, a flow failure)
    line_threshold: float = 0.08  # how far a scratch stands out from its row (of 1)


def _to_u8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def fill_rows(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` (H, W, C) with each masked run of a row replaced by a straight line between its two ends."""
    height, width = mask.shape
    columns = np.arange(width)
    out = image.copy()
    for row in np.flatnonzero(mask.any(axis=1)):
        known = ~mask[row]
        if not known.any():
            continue
        for channel in range(image.shape[2]):
            out[row, ~known, channel] = np.interp(columns[~known], columns[known], image[row, known, channel])
    return out


class RepairStage(WindowStage):
    name = "repair"
    before = after = 2

    def __init__(self, settings: RepairSettings = RepairSettings()):
        if not 0 <= settings.strength <= 1:
            raise InputError(f"--repair strength must be between 0 and 1, got {settings.strength:g}")
        self.settings = settings
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def defects(self, frame_y: np.ndarray, bounds: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Mask (H, W) of what this frame alone shows: brighter (or darker) by `threshold` than anything within
        2 px in every neighbour whose flow holds there, so slightly misaligned detail does not count.

        `bounds`: per neighbour, its local maximum and minimum (5x5, taken on its own pixels, then warped) and
        where its flow is trusted."""
        threshold = self.settings.threshold
        trusted_count = sum(trusted.astype(np.int32) for _, _, trusted in bounds)
        brighter = darker = trusted_count >= 2
        for highest, lowest, trusted in bounds:
            brighter = brighter & (~trusted | (frame_y > highest + threshold))
            darker = darker & (~trusted | (frame_y < lowest - threshold))
        candidate = (brighter | darker).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        height, width = frame_y.shape
        area, tall = stats[:, cv2.CC_STAT_AREA], stats[:, cv2.CC_STAT_HEIGHT]
        speck = area <= max(MIN_SPECK_AREA, self.settings.max_speck_area * height * width)
        line = (tall >= 0.2 * height) & (area <= 4 * tall) & (stats[:, cv2.CC_STAT_WIDTH] <= 12)
        keep = speck | line
        keep[0] = False  # the background label
        return cv2.dilate(keep[labels].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0

    def scratches(self, frame_y: np.ndarray) -> np.ndarray:
        """Mask (H, W) of vertical line scratches: thin lines (3 px on average or less) standing out from their
        row by `line_threshold` and running along at least 70% of the frame's height. Real edges do not stand
        out from their row's median, and a thin real line seldom runs through most of the frame."""
        height, width = frame_y.shape
        padded = np.pad(frame_y, ((0, 0), (4, 4)), mode="edge")
        residual = frame_y - np.median(np.stack([padded[:, i:i + width] for i in range(9)]), axis=0)
        masks = []
        for candidate in (residual > self.settings.line_threshold, residual < -self.settings.line_threshold):
            # bridge the gaps where the scratch crosses something as bright (or dark) as itself
            candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 1), np.uint8))
            _, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
            tall, area = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
            keep = (tall >= 0.7 * height) & (area <= 3 * tall) & (stats[:, cv2.CC_STAT_WIDTH] <= 12)
            keep[0] = False
            masks.append(keep[labels])
        return cv2.dilate((masks[0] | masks[1]).astype(np.uint8), np.ones((1, 3), np.uint8)) > 0

    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int]) -> torch.Tensor:
        if len(window) < 3:
            return window[center]
        frames = torch.stack(window)
        y = luma(frames)[:, 0].float().cpu().numpy()
        height, width = y.shape[-2:]
        y_half = [cv2.resize(_to_u8(torch.from_numpy(plane)), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
                  for plane in y]
        kernel = np.ones((5, 5), np.uint8)
        bounds, flows = [], []
        for k, flow, trusted in neighbour_flows(self.dis, y_half, center, (width, height)):
            bounds.append((warp(cv2.dilate(y[k], kernel), flow), warp(cv2.erode(y[k], kernel), flow), trusted))
            flows.append((k, flow, trusted))
        mask = self.defects(y[center], bounds)
        lines = self.scratches(y[center])
        out = frames[center].permute(1, 2, 0).float().cpu().numpy().copy()
        if lines.any():
            out = out + self.settings.strength * (fill_rows(out, lines) - out)
        mask &= ~lines
        if not mask.any():
            return torch.from_numpy(out).permute(2, 0, 1).to(window[center])
        laid = []
        for k, flow, trusted in flows:
            neighbour = warp(frames[k].permute(1, 2, 0).float().cpu().numpy(), flow)
            neighbour[~trusted] = np.nan
            laid.append(neighbour[mask])
        with warnings.catch_warnings():  # a pixel no neighbour's flow reaches has no median: NaN, kept as is
            warnings.simplefilter("ignore", RuntimeWarning)
            fill = np.nanmedian(np.stack(laid), axis=0)
        known = np.isfinite(fill).all(axis=1)
        pixels = out[mask]
        pixels[known] += self.settings.strength * (fill[known] - pixels[known])
        out[mask] = pixels
        return torch.from_numpy(out).permute(2, 0, 1).to(window[center])
