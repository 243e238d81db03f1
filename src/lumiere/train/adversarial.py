"""Adversarial training for texture: a U-Net discriminator with spectral normalisation, as Real-ESRGAN trains with.

A per-pixel discriminator judges every region of a picture as real or made, so the generator is pushed towards
natural texture where plain L1 would settle for the blur that averages all plausible pictures. Spectral
normalisation keeps the discriminator smooth enough for that push to be stable without a perceptual (VGG) loss,
which lumiere cannot have: no pretrained feature network can be fetched here.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .._checks import check_image_batch


class UNetDiscriminator(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 1, H, W) logits of "this pixel's neighbourhood is real". H, W: multiples of 8.

    Three strided 4x4 convolutions down to 1/8 of the size, three back up with skip connections, two more
    convolutions; every layer but the first and last spectrally normalised.
    """

    def __init__(self, channels: int = 3, width: int = 64):
        super().__init__()
        normed = spectral_norm
        self.first = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList([normed(nn.Conv2d(width * 2**i, width * 2 ** (i + 1), 4, 2, 1, bias=False))
                                   for i in range(3)])
        self.up = nn.ModuleList([normed(nn.Conv2d(width * 2 ** (3 - i), width * 2 ** (2 - i), 3, padding=1,
                                                  bias=False)) for i in range(3)])
        self.refine = nn.Sequential(normed(nn.Conv2d(width, width, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
                                    normed(nn.Conv2d(width, width, 3, padding=1, bias=False)), nn.LeakyReLU(0.2))
        self.last = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, channels=self.first.in_channels)
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"expected a height and width that are multiples of 8, got {tuple(x.shape[-2:])}")
        skips = [F.leaky_relu(self.first(x), 0.2)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), 0.2))
        y = skips.pop()
        for conv in self.up:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = F.leaky_relu(conv(y), 0.2) + skips.pop()
        return self.last(self.refine(y))


class Adversary:
    """The discriminator, its optimiser and the generator's adversarial loss term, as one piece of training state.

    `generator_loss(prediction)` is what the generator adds to its reconstruction loss; `train_step(real, made)`
    then updates the discriminator on the same batch (the made pictures detached).
    """

    def __init__(self, weight: float, width: int, lr: float, device: torch.device):
        self.weight = weight
        self.discriminator = UNetDiscriminator(width=width).to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.9, 0.99))

    def generator_loss(self, prediction: torch.Tensor) -> torch.Tensor:
        self.discriminator.requires_grad_(False)  # the generator's step must not compute the judge's gradients
        logits = self.discriminator(prediction)
        return self.weight * F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits.float()))

    def train_step(self, real: torch.Tensor, made: torch.Tensor, autocast: bool) -> float:
        """One discriminator update; returns its loss."""
        self.discriminator.requires_grad_(True)
        with torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=autocast):
            real_logits = self.discriminator(real).float()
            made_logits = self.discriminator(made.detach()).float()
        loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(made_logits, torch.zeros_like(made_logits)))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
