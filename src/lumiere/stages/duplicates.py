"""Dropping repeated frames: telecine and frame-doubled transfers store some pictures twice.

A frame is dropped when its picture is the previous frame's again: a thumbnail's mean difference under
`threshold` (of 255), which compression noise stays under and any real motion exceeds. The kept frames keep
their timestamps (each now lasting longer); `--fps` then rebuilds an even rate from them.
"""

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..ops import luma_plane
from .base import NO_SEGMENTS, Stage
from .settings import Option, StageSettings, option_value

THUMBNAIL = (96, 72)


def _thumbnail(image: torch.Tensor) -> np.ndarray:
    return cv2.resize(np.clip(luma_plane(image), 0, 1) * 255, THUMBNAIL, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class DropDuplicatesSettings(StageSettings):
    threshold: float = 1.0  # mean thumbnail difference (of 255) under which a frame repeats the one before

    options = (Option("drop_duplicates", "Drop frames that repeat the one before (telecine, doubled transfers); "
                                         "pair with $fps.", kind=bool),)
    retimes = True

    @classmethod
    def from_options(cls, values):
        return cls() if option_value(cls, values, "drop_duplicates") else None

    def build(self, film, runners):
        return [DropDuplicatesStage(self.threshold)]


class DropDuplicatesStage(Stage):
    name = "drop-duplicates"
    # the decision for a frame looks at the frame before it only; frames dropped ahead of a segment mean the
    # window stages after this one need more frames of film than of stream to fill their context
    context_frames = 12

    def __init__(self, threshold: float = 1.0):
        if not 0 < threshold <= 10:
            raise InputError(f"duplicate threshold must be between 0 and 10 levels, got {threshold:g}")
        self.threshold = threshold

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        previous = None
        for frame, image in items:
            thumbnail = _thumbnail(image)
            if previous is None or np.abs(thumbnail - previous).mean() >= self.threshold:
                yield frame, image
            previous = thumbnail
