"""lumiere's multi-frame film upscaler: a frame and its neighbours, laid onto it along optical flow, in; the
frame enlarged out.

Each frame of a film shows the scene through new grain and dust and on a slightly shifted sampling grid; the
neighbours, warped onto the frame (DIS flow, `engine/aligned_neighbours.py`), show what the grain hides and the detail
between the frame's pixels. The network is Real-ESRGAN's Compact (all convolutions at the input's size, pixel
shuffle, the nearest-enlarged centre frame added) whose first convolution fuses the centre frame with each
neighbour's difference from it, weighted by how far that neighbour's flow can be trusted (its confidence plane,
0 for a neighbour across a scene cut or past the film's ends), and the confidences themselves. A neighbour of
confidence 0 thus adds nothing, and with the neighbours' weights at zero the network is the single-frame
Compact it was started from (`from_compact`).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch


@dataclass(frozen=True)
class MultiFrameConfig:
    neighbours: int = 2  # on each side of the frame
    num_feat: int = 64
    num_conv: int = 16  # convolutions between the fusing one and the last one, as Compact's num_conv
    scale: int = 4


def input_channels(neighbours: int) -> int:
    """Channels of the network's input: 2N + 1 RGB frames (t - N .. t + N), then N * 2 confidence planes."""
    return 3 * (2 * neighbours + 1) + 2 * neighbours


def neighbours_of(channels: int) -> int:
    """N, the neighbours on each side, of a network taking `channels` input channels."""
    if channels < 3 or (channels - 3) % 8:
        raise ValueError(f"expected 3 + 8N input channels (2N + 1 frames and 2N confidences), got {channels}")
    return (channels - 3) // 8


class MultiFrameNet(nn.Module):
    """(B, 3 (2N + 1) + 2N, h, w): frames t - N .. t + N warped onto frame t, then the 2N neighbours' confidences
    in [0, 1] (in frame order, t itself left out) -> (B, 3, scale h, scale w) frame t enlarged."""

    def __init__(self, config: MultiFrameConfig | None = None):
        super().__init__()
        config = config or MultiFrameConfig()
        if config.scale not in (1, 2, 3, 4):
            raise ValueError(f"expected scale 1, 2, 3 or 4, got {config.scale}")
        self.config = config
        n, width = config.neighbours, config.num_feat
        self.fuse = nn.Conv2d(input_channels(n), width, 3, 1, 1)
        layers: list[nn.Module] = [nn.PReLU(width)]
        for _ in range(config.num_conv):
            layers += [nn.Conv2d(width, width, 3, 1, 1), nn.PReLU(width)]
        self.trunk = nn.Sequential(*layers)
        self.tail = nn.Conv2d(width, 3 * config.scale ** 2, 3, 1, 1)
        self.upsampler = nn.PixelShuffle(config.scale)

    @property
    def centre(self) -> slice:
        start = 3 * self.config.neighbours
        return slice(start, start + 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.config.neighbours
        check_image_batch(x, channels=input_channels(n))
        frames = 2 * n + 1
        centre = x[:, self.centre]
        confidence = x[:, 3 * frames:]
        others = [k for k in range(frames) if k != n]
        # a neighbour enters as what it adds to the centre frame, as far as its flow holds there
        differences = torch.cat([(x[:, 3 * k:3 * k + 3] - centre) * confidence[:, i:i + 1]
                                 for i, k in enumerate(others)], dim=1)
        fused = torch.cat([differences[:, :3 * n], centre, differences[:, 3 * n:], confidence], dim=1)
        out = self.upsampler(self.tail(self.trunk(self.fuse(fused))))
        return out + F.interpolate(centre, scale_factor=self.config.scale, mode="nearest")

    @classmethod
    def from_compact(cls, compact: nn.Module, neighbours: int = 2) -> "MultiFrameNet":
        """A multi-frame network that computes exactly what the single-frame Compact `compact` does: its first
        convolution reads the centre frame, the neighbours' and confidences' weights start at zero."""
        body = getattr(compact, "body", None)
        if body is None or not hasattr(compact, "upscale") or body[0].in_channels != 3:
            raise ValueError(f"expected a 3-channel Real-ESRGAN Compact network, got {type(compact).__name__}")
        convolutions = [layer for layer in body if isinstance(layer, nn.Conv2d)]
        model = cls(MultiFrameConfig(neighbours=neighbours, num_feat=body[0].out_channels,
                                     num_conv=len(convolutions) - 2, scale=compact.upscale))
        with torch.no_grad():
            model.fuse.weight.zero_()
            model.fuse.weight[:, model.centre] = body[0].weight
            model.fuse.bias.copy_(body[0].bias)
            model.trunk.load_state_dict({key: value for key, value in nn.Sequential(*body[1:-1]).state_dict().items()})
            model.tail.load_state_dict(body[-1].state_dict())
        return model
