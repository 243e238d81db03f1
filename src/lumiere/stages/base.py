"""Processing stages, after video2x's split: a FrameStage maps one frame to one frame, a TemporalStage sees the
frames around it.

Stages work on float tensors (3, H, W) in [0, 1], each travelling with its `FrameInfo` (index, timestamp,
duration). The pipeline chains the stages' `stream`s, owns progress and stopping, and tells each stream where
the job's segments (its chunks) start. A stage's output for frame i may depend only on frames from
`context_frames` before the start of i's segment up to `lookahead` frames after i: the job replays that much
context when it resumes, so a resumed job equals an uninterrupted one. What a stage carries from frame to frame
lives inside one `stream` call, never on the stage.
"""

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Container, Iterator
from fractions import Fraction
from itertools import islice

import torch

from ..io.reader import FrameInfo

Item = tuple[FrameInfo, torch.Tensor]
NO_SEGMENTS: Container[int] = ()


def batched(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while chunk := list(islice(items, size)):
        yield chunk


class Stage(ABC):
    name: str = "stage"
    context_frames: int = 0  # frames before a segment's first that its output may depend on
    lookahead: int = 0  # frames after a frame that its output may depend on
    frames_at_once: int = 1  # frames made together, put out in one burst: timing the stage takes that many
    time_stretch: float = 1.0  # how many times longer the film plays after it (slow motion): sound cannot follow

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of this stage's output for an input of that size: most stages keep it."""
        return width, height

    @abstractmethod
    def stream(self, items: Iterator[Item], batch: int = 1,
               segments: Container[int] = NO_SEGMENTS) -> Iterator[Item]:
        """Transform a stream of frames, in order; `segments` holds the first frame index of each segment."""

    def output_timing(self, fps: Fraction, time_base: Fraction) -> tuple[Fraction, Fraction]:
        """(frame rate, time base) of this stage's output timestamps for input with these."""
        return fps, time_base


class FrameStage(Stage):
    @abstractmethod
    def process(self, frames: torch.Tensor) -> torch.Tensor:
        """Map a batch of independent frames (B, 3, H, W) to a batch of output frames."""

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        for chunk in batched(items, batch):
            frames = [frame for frame, _ in chunk]
            yield from zip(frames, self.process(torch.stack([image for _, image in chunk])), strict=True)


class TemporalStage(Stage):
    """Sees frames in order and keeps state between them (colour carried along optical flow, say).

    The state is made by `start` for each stream. At each segment start the stage rebuilds it from the frames it
    has kept, at most `context_frames` of them, exactly as a job resumed there would.
    """

    @abstractmethod
    def start(self):
        """Fresh state for one stream of frames."""

    @abstractmethod
    def process(self, frames: torch.Tensor, indices: list[int], state=None,
                segments: Container[int] = NO_SEGMENTS, starts: list[bool] | None = None) -> torch.Tensor:
        """Map a batch of consecutive frames (their indices in the film given) to output frames, carrying `state`
        from the batch before (None: a stream of its own); `starts`: which frames begin a new shot (None: none
        is known to)."""

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        state = self.start()
        for chunk in batched(items, batch):
            frames = [frame for frame, _ in chunk]
            images = torch.stack([image for _, image in chunk])
            yield from zip(frames, self.process(images, [frame.index for frame in frames], state, segments,
                                                [frame.shot_start for frame in frames]), strict=True)


class WindowStage(Stage):
    """Each output frame is a function of the input frames from `before` frames ahead of it to `after` frames
    behind it in the stream (fewer at the ends of the film), and of nothing else: no state is carried, so
    segments need only `before` frames of context. What is worth computing once per frame or pair of frames (optical
    flow) is kept in a memo made by `start` for each stream."""

    before: int = 2
    after: int = 2

    @property
    def context_frames(self) -> int:
        return self.before

    @property
    def lookahead(self) -> int:
        return self.after

    def start(self):
        """A fresh memo for one stream (None: the stage keeps nothing)."""
        return None

    @abstractmethod
    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int], memo,
                       starts: list[bool]) -> torch.Tensor:
        """The output for `window[center]`, given the frames around it (consecutive, oldest first), their
        indices in the film, the stream's memo of what was computed per frame or pair of frames, and which of
        them begin a new shot (`FrameInfo.shot_start`)."""

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        window: deque[Item] = deque()
        memo = self.start()
        center = 0  # position in `window` of the next frame to put out
        for item in items:
            if window and item[0].index <= window[-1][0].index:
                raise ValueError(f"{self.name}: frames must arrive in order, got {window[-1][0].index} "
                                 f"then {item[0].index}")
            window.append(item)
            if len(window) - 1 - center >= self.after:
                yield self._emit(window, center, memo)
                center += 1
                if center > self.before:
                    window.popleft()
                    center -= 1
        while center < len(window):
            yield self._emit(window, center, memo)
            center += 1

    def _emit(self, window: deque[Item], center: int, memo) -> Item:
        images = [image for _, image in window]
        return window[center][0], self.process_window(images, center, [frame.index for frame, _ in window], memo,
                                                      [frame.shot_start for frame, _ in window])
