"""Where shots begin, found once for every stage that needs to know (stabilize, deflicker, the multi-frame and
recurrent upscalers, colour carried along the film, in-between frames): TransNetV2 (`models/transnet.py`, the
published weights) reads the frames shrunk to 48x27 and marks the first frame of each new shot in its
`FrameInfo.shot_start`. A flash, a fast pan, a flicker burst or a damaged splice is not a new shot to it, where a
test of how alike two frames look takes each for one (docs/benchmarks.md, "Shot cuts").

The network answers for 50 frames at a time from a pass over 100 (the 25 before and after them too), the passes at
fixed frame numbers: frame i's answer comes from the pass over frames 50k - 25 to 50k + 74, k = i // 50, with the
film's first and last frames repeated beyond its ends, so a job cut into chunks marks the same frames as one
run, and the same as the published code over the whole film.
"""

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..engine.runner import ModelRunner
from ..models.loader import resolve_model_path
from ..models.transnet import HEIGHT, TRUSTED, WIDTH, WINDOW
from .base import NO_SEGMENTS, Item, Stage
from .settings import StageSettings

SHOT_FINDER = "transnetv2"
CUT_PROBABILITY = 0.5  # the published threshold
MARGIN = (WINDOW - TRUSTED) // 2  # frames a pass reads on each side of the ones it answers for


def thumbnail(image: torch.Tensor) -> torch.Tensor:
    """A frame (3, H, W) as the network reads it: (3, 27, 48)."""
    return F.interpolate(image[None].float(), size=(HEIGHT, WIDTH), mode="area")[0].clamp(0, 1)


@dataclass(frozen=True)
class ShotsSettings(StageSettings):
    """On in every film job that has a stage whose settings say `needs_shots`; the plan adds it."""

    @classmethod
    def from_options(cls, values):
        return None

    def build(self, film, runners):
        return [ShotStage(runners.get(SHOT_FINDER, ("shots",)))]

    def files(self, film):
        return [resolve_model_path(SHOT_FINDER)[1]]


class ShotStage(Stage):
    """Marks `shot_start` on each frame; the pictures pass through untouched."""

    name = "shots"
    # frame i starts a shot when the network marks frame i - 1 as its shot's last: the pass that answers for
    # i - 1 reads from up to 49 + 25 frames before it to 25 + 49 after it
    context_frames = TRUSTED - 1 + MARGIN + 1
    lookahead = TRUSTED - 1 + MARGIN

    def __init__(self, runner: ModelRunner):
        if runner.descriptor.role != "shots":
            raise ValueError(f"expected a shot-cut detector, got {runner.descriptor.name} "
                             f"({runner.descriptor.architecture})")
        self.runner = runner

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        waiting: deque[Item] = deque()  # frames not yet put out, in order
        thumbs: dict[int, torch.Tensor] = {}  # by frame number, as far back as a pass may read
        last_of_shot: dict[int, bool] = {}  # whether the network marks a frame as its shot's last
        previous: int | None = None  # number of the frame put out last
        newest = -1

        def ready(finished: bool):
            nonlocal previous
            while waiting:
                if previous is not None and previous not in last_of_shot:
                    if not self._answer(thumbs, last_of_shot, previous, newest, finished):
                        return
                info, image = waiting.popleft()
                yield replace(info, shot_start=previous is not None and last_of_shot[previous]), image
                previous = info.index
                oldest_read = (previous // TRUSTED) * TRUSTED - MARGIN
                for k in [k for k in thumbs if k < oldest_read]:
                    del thumbs[k]
                    last_of_shot.pop(k, None)

        for info, image in items:
            if info.index <= newest:
                raise ValueError(f"{self.name}: frames must arrive in order, got {newest} then {info.index}")
            newest = info.index
            waiting.append((info, image))
            thumbs[info.index] = thumbnail(image)
            yield from ready(finished=False)
        yield from ready(finished=True)

    def _answer(self, thumbs: dict[int, torch.Tensor], last_of_shot: dict[int, bool], index: int, newest: int,
                finished: bool) -> bool:
        """Run the pass that answers for frame `index` once the frames it reads have arrived (or the stream has
        ended); False while they have not."""
        start = index // TRUSTED * TRUSTED
        reads = range(start - MARGIN, start + TRUSTED + MARGIN)
        if not finished and newest < reads[-1]:
            return False
        held = sorted(thumbs)
        # a number with no frame (the film's ends; frames dropped before this stage) reads the nearest one held:
        # beyond the film's ends that is its first or last frame repeated, as the published code pads
        nearest = [held[min(max(bisect_left(held, k), 0), len(held) - 1)] if k not in thumbs else k for k in reads]
        window = torch.stack([thumbs[k] for k in nearest])
        answers = self.runner.run(lambda network, x: network(x), window)[MARGIN:MARGIN + TRUSTED, 0]
        for k, probability in zip(range(start, start + TRUSTED), answers.tolist(), strict=True):
            if k in thumbs:
                last_of_shot[k] = probability > CUT_PROBABILITY
        return True
