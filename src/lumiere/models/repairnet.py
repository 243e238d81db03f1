"""lumiere's dust-and-scratch network: five consecutive frames in, where the middle one is damaged and what
belongs there out.

It sees the frames as they are, unaligned: the camera moves a few pixels a frame at most, well inside its
receptive field, and learning the alignment is part of learning what is film (it moves with the scene) and
what is damage (it does not). Its output is a defect probability and a repaired picture; only pixels it is
confident about are replaced, so a clean film passes through untouched.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch

FRAMES = 5
SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class RepairNetConfig:
    width: int = 32  # channels at full resolution; 2x and 3x at the two lower levels


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


class RepairNet(nn.Module):
    """(B, 5 * 3, H, W) frames t-2 .. t+2 -> (B, 3, H, W) frame t repaired; `defects_and_picture` adds the
    (B, 1, H, W) logit of where frame t is damaged, which training learns from.

    H and W must be multiples of 4.
    """

    def __init__(self, config: RepairNetConfig = RepairNetConfig()):
        super().__init__()
        self.config = config
        w = config.width
        self.enc1 = nn.Sequential(_block(FRAMES * 3, w), _block(w, w))
        self.enc2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_block(2 * w, 3 * w, 2), _block(3 * w, 3 * w), _block(3 * w, 3 * w))
        self.dec2 = nn.Sequential(_block(5 * w, 2 * w), _block(2 * w, 2 * w))
        self.dec1 = nn.Sequential(_block(3 * w, w), _block(w, w))
        self.head = nn.Conv2d(w, 4, 3, 1, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.defects_and_picture(frames)[1]

    def defects_and_picture(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(frames, channels=FRAMES * 3)
        if frames.shape[-2] % SIZE_MULTIPLE or frames.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"expected H and W multiples of {SIZE_MULTIPLE}, got {tuple(frames.shape)}")
        e1 = self.enc1(frames - 0.5)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        out = self.head(d1)
        centre = frames[:, (FRAMES // 2) * 3:(FRAMES // 2) * 3 + 3]
        return out[:, :1], centre + out[:, 1:]
