"""Processing stages, after video2x's split: a FrameStage maps one frame to one frame, a TemporalStage sees
the frames before it.

Stages work on batches of frames as float tensors (B, 3, H, W) in [0, 1]. The
pipeline chains them, owns progress and stopping, and asks each stage how many
frames of context it needs so chunks can be cut with that margin.
"""

from abc import ABC, abstractmethod

import torch


class Stage(ABC):
    name: str = "stage"
    context_frames: int = 0  # neighbours a stage must see on each side of a frame

    @abstractmethod
    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of this stage's output for an input of that size."""


class FrameStage(Stage):
    @abstractmethod
    def process(self, frames: torch.Tensor) -> torch.Tensor:
        """Map a batch of independent frames to a batch of output frames."""


class TemporalStage(Stage):
    """Sees frames in order and keeps state between them (colour carried along optical flow, say).

    So that a resumed job equals an uninterrupted one, its output for frame i may depend only on frames from
    `context_frames` before the start of i's segment (`segment_frames` long, the job's chunk) up to i: at each
    segment start it rebuilds its state from the frames it has kept, exactly as a job resumed there would.
    """

    segment_frames: int = 240

    @abstractmethod
    def process(self, frames: torch.Tensor, indices: list[int]) -> torch.Tensor:
        """Map a batch of consecutive frames (their indices in the film given) to output frames."""
