"""Processing stages, after video2x's split: a FrameStage maps one frame to one frame.

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
