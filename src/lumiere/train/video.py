"""Multi-frame upscaling pairs. For the window network (MultiFrameNet): five-frame clips cut from still pictures
along a random camera path, each frame degraded as film is (the blur, the lost resolution, grain and dust new in
every frame, compression), the neighbours laid onto the middle frame by the same DIS alignment a film gets
(`engine/aligned_neighbours.aligned_input`, on the degraded low-resolution frames); the target is the middle frame,
clean, at full resolution.

The camera moves by whole pixels of the full-resolution picture, so the low-resolution frames sample the scene
on grids shifted by fractions of their pixel: that is what a multi-frame network recovers detail from, and no
resampling blurs the neighbours' truth. A share of the clips hold a patch of the picture that moves on its own
(an object crossing the scene), so the flow fails around it as it does in films, and a share of the
neighbours are missing (a scene cut, the film's ends), some clips all of them, as the network must learn to do
without them.

For the recurrent network (BasicVSR): longer clips cut the same way, whose every frame is a target
(`film_sequence`), degraded by a wider recipe (`sequence_degradation`) that adds flicker, scratches, noise and
harder compression.
"""

from collections.abc import Callable

import torch
import torch.utils.data

from ..degradations.transforms import (
    Compose,
    DefocusBlur,
    Downsample,
    Dust,
    FilmGrain,
    Flicker,
    GaussianBlur,
    GaussianNoise,
    JpegCompression,
    LineScratches,
    OneOf,
    Quantize,
    RandomApply,
)
from ..engine.aligned_neighbours import aligned_input
from ..motion import WindowFlows
from ..ops import luma_u8
from .data import CropSampler, step_generator, to_gray

NEIGHBOURS = 2  # on each side: five frames
FRAMES = 2 * NEIGHBOURS + 1
MAX_SPEED = 8.0  # full-resolution px per frame the camera pans at most (2 px of the x4 input)
SHAKE = 1.5  # full-resolution px of random shake per frame
MARGIN = 4  # input px around the training patch, so the flow sees the scene beyond the patch's edges
STILL_SHOTS = 0.2  # share of clips whose camera barely moves: only grain and dust differ between frames
MOVING_OBJECTS = 0.3  # share of clips with a patch moving on its own
MISSING_NEIGHBOUR = 0.15  # chance that a neighbour is missing, as across a cut or past the film's ends
ALONE = 0.1  # share of clips with no neighbour at all (a one-frame shot): the network must not lose to film-x4


def degradation(scale: int) -> Compose:
    """The film damage of the benchmark's film-x4 (blur, x4 bicubic, grain, JPEG), drawn per clip from a range
    around it, with dust; grain and dust are new in every frame."""
    return Compose([
        RandomApply(GaussianBlur(sigma=(0.4, 1.6), anisotropic=False), p=0.9),
        Downsample(scale, modes=("bicubic", "bicubic", "area", "bilinear")),
        RandomApply(FilmGrain(strength=(0.01, 0.07), grain_size=(1.0, 2.0), color_probability=0.0), p=0.9),
        RandomApply(Dust(per_frame=(0.5, 4.0), radius=(0.5, 2.5)), p=0.4),
        RandomApply(JpegCompression(quality=(55, 95)), p=0.8),
        Quantize(),
    ])


def sequence_degradation(scale: int) -> Compose:
    """Old film's damage for the recurrent network, wider than `degradation`'s: blur of either kind (focus, the
    copy's softness), the lost resolution, grain of any size, dust, scratches, scanner noise, and compression
    from light to heavy; grain, dust and noise new in every frame. Drawn once per clip."""
    return Compose([
        RandomApply(OneOf([GaussianBlur(sigma=(0.3, 2.0), anisotropic=False), DefocusBlur(radius=(0.8, 1.8))],
                          [0.85, 0.15]), p=0.9),
        Downsample(scale, modes=("bicubic", "bicubic", "area", "bilinear")),
        RandomApply(FilmGrain(strength=(0.01, 0.09), grain_size=(1.0, 2.5), color_probability=0.0), p=0.9),
        RandomApply(Dust(per_frame=(0.5, 5.0), radius=(0.5, 2.5)), p=0.5),
        RandomApply(LineScratches(), p=0.15),
        RandomApply(GaussianNoise(sigma=(1 / 255, 4 / 255)), p=0.2),
        RandomApply(JpegCompression(quality=(40, 95)), p=0.85),
        Quantize(),
    ])


# Flicker is in the film before it is damaged: the network must keep each frame's brightness, not average the
# shot's, so the clean targets flicker too.
FLICKER = RandomApply(Flicker(amplitude=(0.02, 0.12)), p=0.5)


def picture_side(patch: int, scale: int, frames: int = FRAMES) -> int:
    """Side of the full-resolution picture a clip of `frames` frames with `patch` px inputs is cut from."""
    return (patch + 2 * MARGIN) * scale + 2 * reach(frames)


def reach(frames: int) -> int:
    """Full-resolution px a frame of a clip of `frames` may lie from its middle one."""
    return int(frames // 2 * MAX_SPEED) + 4


def _camera_path(generator: torch.Generator, frames: int = FRAMES) -> torch.Tensor:
    """(frames, 2) whole-pixel (x, y) positions of a pan with some shake; the middle frame at (0, 0)."""
    velocity = (torch.rand(2, generator=generator) * 2 - 1) * MAX_SPEED
    if torch.rand((), generator=generator) < STILL_SHOTS:
        velocity *= 0.05
    middle, most = frames // 2, reach(frames)
    times = torch.arange(frames, dtype=torch.float32)[:, None] - middle
    path = (times * velocity + SHAKE * torch.randn(frames, 2, generator=generator)).round().clamp(-most, most)
    path[middle] = 0
    return path.long()


def _add_moving_object(frames: torch.Tensor, picture: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`frames` (T, 3, S, S) with a square from elsewhere in `picture` crossing them on its own path."""
    side = frames.shape[-1]
    size = int(torch.randint(side // 6, side // 3 + 1, (), generator=generator))
    source = torch.randint(0, picture.shape[-1] - size + 1, (2,), generator=generator)
    patch = picture[:, source[1]:source[1] + size, source[0]:source[0] + size]
    start = torch.randint(0, side - size + 1, (2,), generator=generator).float()
    velocity = (torch.rand(2, generator=generator) * 2 - 1) * MAX_SPEED
    frames = frames.clone()
    for t in range(frames.shape[0]):
        x, y = (start + (t - frames.shape[0] // 2) * velocity).round().long().clamp(0, side - size).tolist()
        frames[t, :, y:y + size, x:x + size] = patch
    return frames


def film_clip(picture: torch.Tensor, scale: int, generator: torch.Generator,
              teacher: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(network input (3 FRAMES + 2 NEIGHBOURS, p, p), clean middle frame (3, scale p, scale p)) from one
    picture (3, side, side), side = `picture_side(p, scale)`. With a `teacher` (the degraded frames (FRAMES, 3,
    h, w) -> its enlargement of the middle one), the target is what the teacher makes of them instead."""
    side = picture.shape[-1]
    most = reach(FRAMES)
    inner = side - 2 * most  # the frames' side at full resolution, flow margin included
    if inner % scale or inner // scale <= 2 * MARGIN:
        raise ValueError(f"expected a picture side of (p + {2 * MARGIN}) * {scale} + {2 * most}, got {side}")
    path = _camera_path(generator)
    frames = torch.stack([picture[:, most + y:most + y + inner, most + x:most + x + inner]
                          for x, y in path.tolist()])
    if torch.rand((), generator=generator) < MOVING_OBJECTS:
        frames = _add_moving_object(frames, picture, generator)
    degraded = degradation(scale)(frames, generator)
    x = aligned_input(degraded, [luma_u8(frame) for frame in degraded], NEIGHBOURS, NEIGHBOURS, WindowFlows())
    missing = (torch.rand(2 * NEIGHBOURS, generator=generator) < MISSING_NEIGHBOUR).tolist()
    if torch.rand((), generator=generator) < ALONE:
        missing = [True] * (2 * NEIGHBOURS)
    x = without_neighbours(x, missing)
    patch = inner // scale - 2 * MARGIN
    target = frames[NEIGHBOURS] if teacher is None else teacher(degraded)
    target = target[:, MARGIN * scale:(MARGIN + patch) * scale, MARGIN * scale:(MARGIN + patch) * scale]
    return x[:, MARGIN:MARGIN + patch, MARGIN:MARGIN + patch], target


def film_sequence(picture: torch.Tensor, scale: int, frames: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(degraded clip (frames, 3, p, p), clean clip (frames, 3, scale p, scale p)) from one picture (3, side,
    side), side = `picture_side(p, scale, frames)`: a camera path over it, flicker, then `sequence_degradation`."""
    side, most = picture.shape[-1], reach(frames)
    inner = side - 2 * most
    if inner % scale or inner // scale <= 2 * MARGIN:
        raise ValueError(f"expected a picture side of (p + {2 * MARGIN}) * {scale} + {2 * most}, got {side}")
    clip = torch.stack([picture[:, most + y:most + y + inner, most + x:most + x + inner]
                        for x, y in _camera_path(generator, frames).tolist()])
    if torch.rand((), generator=generator) < MOVING_OBJECTS:
        clip = _add_moving_object(clip, picture, generator)
    clip = FLICKER(clip, generator).clamp(0, 1)
    degraded = sequence_degradation(scale)(clip, generator)
    patch = inner // scale - 2 * MARGIN
    # the margin is cut from both: it was there so blur and the camera path see beyond the patch's edges
    return (degraded[..., MARGIN:MARGIN + patch, MARGIN:MARGIN + patch],
            clip[..., MARGIN * scale:(MARGIN + patch) * scale, MARGIN * scale:(MARGIN + patch) * scale])


def without_neighbours(x: torch.Tensor, missing: list[bool]) -> torch.Tensor:
    """A network input (C, h, w) with the neighbours marked True in `missing` (2N of them, in frame order) made
    what a missing neighbour is: the centre frame again, with confidence 0."""
    neighbours = len(missing) // 2
    frames = 2 * neighbours + 1
    if x.ndim != 3 or x.shape[0] != 3 * frames + 2 * neighbours:
        raise ValueError(f"expected a ({3 * frames + 2 * neighbours}, h, w) input for {len(missing)} neighbours, "
                         f"got {tuple(x.shape)}")
    x = x.clone()
    centre = x[3 * neighbours:3 * neighbours + 3]
    slots = [k for k in range(frames) if k != neighbours]
    for i, gone in enumerate(missing):
        if gone:
            x[3 * slots[i]:3 * slots[i] + 3] = centre
            x[3 * frames + i] = 0
    return x


def collate(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([x for x, _ in pairs]), torch.stack([target for _, target in pairs])


class FilmClips(torch.utils.data.Dataset):
    """Item `step`: `make(picture, generator=...)` of each picture of a batch, collated: (inputs, targets) from
    (seed, step) alone, so a resumed run sees the same batches. `make` is `film_clip` (the window network's
    aligned input and clean middle frame) or `film_sequence` (a damaged clip and its clean frames), scale bound."""

    def __init__(self, sampler: CropSampler, make: Callable[..., tuple[torch.Tensor, torch.Tensor]], batch: int,
                 gray_probability: float, seed: int, steps: int):
        self.sampler, self.make, self.batch = sampler, make, batch
        self.gray_probability, self.seed, self.steps = gray_probability, seed, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = step_generator(self.seed, step)
        pictures = to_gray(self.sampler.sample(self.batch, generator), self.gray_probability, generator)
        return collate([self.make(picture, generator=generator) for picture in pictures])
