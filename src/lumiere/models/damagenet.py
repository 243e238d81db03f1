"""lumiere's film-damage detector: does this picture look like old film (grain, blur, compression, dust) or like
a clean photograph?

`upscale` and `restore` ask it which upscaler suits the input: a film network removes grain and compression but
smooths the fine detail of a clean picture; a network trained on clean pictures keeps that detail but enlarges
grain into blotches. Measured statistics do not tell the two apart: on film-degraded and clean Set14 inputs the
noise level (Immerkær's estimator, the low percentile of blockwise high-pass spread) and the spectral power of
the top octave overlap, because compression removes as much high frequency as grain adds. A small network sees
the difference in structure: grain is not texture, and blocking is not an edge.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch

SIZE_MULTIPLE = 8
HIGH_PASS_GAIN = 8.0


@dataclass(frozen=True)
class DamageNetConfig:
    width: int = 24  # channels at full resolution; doubled after the first halving


def _conv(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True)]


class DamageNet(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 1, H/8, W/8) logits that each neighbourhood shows film damage.

    H and W must be multiples of 8. `film_probability` pools the logits into one figure per picture.
    """

    def __init__(self, config: DamageNetConfig = DamageNetConfig()):
        super().__init__()
        self.config = config
        w = config.width
        self.features = nn.Sequential(*_conv(6, w), *_conv(w, w, 2), *_conv(w, 2 * w), *_conv(2 * w, 2 * w, 2),
                                      *_conv(2 * w, 2 * w), *_conv(2 * w, 2 * w, 2))
        self.head = nn.Conv2d(2 * w, 1, 1)

    def forward(self, pictures: torch.Tensor) -> torch.Tensor:
        check_image_batch(pictures, channels=3)
        if pictures.shape[-2] % SIZE_MULTIPLE or pictures.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"expected H and W multiples of {SIZE_MULTIPLE}, got {tuple(pictures.shape)}")
        # damage lives in the finest detail, a few levels high; seen amplified beside the picture, it is found in
        # a few hundred steps (from the picture alone, training settles on "can't tell" for thousands)
        local_mean = F.avg_pool2d(F.pad(pictures, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return self.head(self.features(torch.cat([pictures - 0.5, HIGH_PASS_GAIN * (pictures - local_mean)], 1)))


def film_probability(logits: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) logits -> (B,) probability that each picture is film-damaged (the mean logit's sigmoid)."""
    return torch.sigmoid(logits.float().mean(dim=(1, 2, 3)))
