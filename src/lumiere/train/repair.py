"""Dust-and-scratch pairs: five-frame clips cut from still pictures along a random camera path, given grain
and flicker (which are film, not damage), then dust, dirt and line scratches (which are damage).

The target is the middle frame before the damage and a mask of where the damage is (a change of more than 3
levels). The loss is binary cross-entropy on the mask (damage is rare: positives weigh 10x) plus L1 on the
repaired picture, ten times heavier where the damage is.
"""

import torch
import torch.nn.functional as F
import torch.utils.data

from ..degradations import functional as Fd
from ..degradations.transforms import Dust, FilmGrain, Flicker, LineScratches, Quantize, RandomApply
from ..models.repairnet import FRAMES
from .data import CropSampler, step_generator, to_gray

MAX_SPEED = 3.0  # px per frame the camera moves at most
MARGIN = int(2 * MAX_SPEED) + 2
DAMAGE_LEVEL = 3 / 255
POSITIVE_WEIGHT = 10.0

FILM = [RandomApply(FilmGrain(strength=(0.01, 0.05), color_probability=0.0), p=0.6),
        RandomApply(Flicker(amplitude=(0.01, 0.06)), p=0.4)]
DAMAGE = [Dust(per_frame=(1.0, 10.0), radius=(0.6, 5.0)), RandomApply(LineScratches(), p=0.5)]


def _camera_path(generator: torch.Generator) -> torch.Tensor:
    """(FRAMES, 2) positions (px) of a steady pan with a little shake, centred on the middle frame."""
    velocity = (torch.rand(2, generator=generator) * 2 - 1) * MAX_SPEED
    times = torch.arange(FRAMES, dtype=torch.float32)[:, None] - FRAMES // 2
    return times * velocity + 0.3 * torch.randn(FRAMES, 2, generator=generator)


def damaged_clip(picture: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(damaged clip (FRAMES, 3, S, S), clean clip) from one picture crop (3, S + 2 MARGIN, S + 2 MARGIN)."""
    frames = picture[None].expand(FRAMES, -1, -1, -1)
    moved = Fd.translate(frames, _camera_path(generator))[:, :, MARGIN:-MARGIN, MARGIN:-MARGIN].clamp(0, 1)
    clean = moved
    for step in FILM:
        clean = step(clean, generator)
    clean = Quantize()(clean.clamp(0, 1), generator)
    damaged = clean
    for step in DAMAGE:
        damaged = step(damaged, generator)
    return Quantize()(damaged.clamp(0, 1), generator), clean


class DamagedClips(torch.utils.data.Dataset):
    """Item `step`: (damaged clips (B, FRAMES * 3, S, S), targets (B, 4, S, S): damage mask and clean middle)."""

    def __init__(self, sampler: CropSampler, batch: int, gray_probability: float, seed: int, steps: int):
        self.sampler, self.batch, self.gray_probability, self.seed, self.steps = (sampler, batch, gray_probability,
                                                                                 seed, steps)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = step_generator(self.seed, step)
        pictures = to_gray(self.sampler.sample(self.batch, generator), self.gray_probability, generator)
        return collate([damaged_clip(picture, generator) for picture in pictures])


def collate(clips: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.stack([damaged.flatten(0, 1) for damaged, _ in clips])
    middle = FRAMES // 2
    targets = torch.stack([torch.cat([((damaged[middle] - clean[middle]).abs().amax(0, keepdim=True)
                                       > DAMAGE_LEVEL).float(), clean[middle]]) for damaged, clean in clips])
    return inputs, targets


def repair_loss(logit: torch.Tensor, repaired: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    mask, clean = targets[:, :1], targets[:, 1:]
    weight = torch.tensor(POSITIVE_WEIGHT, device=logit.device)
    detection = F.binary_cross_entropy_with_logits(logit.float(), mask, pos_weight=weight)
    restoration = ((repaired.float() - clean).abs() * (1 + (POSITIVE_WEIGHT - 1) * mask)).mean()
    return detection + restoration
