"""A colorizer that starts from an image encoder trained on ImageNet: it already knows a sky, a leaf or a face.

ColorNet has to learn what things are from the ~1,150 photos it is trained on; every strong colorizer (DDColor,
BigColor, ColorFormer, DeOldify) instead reads the gray picture with an encoder pretrained on ImageNet's
classification, then decodes colour from its multi-scale features. This one keeps ColorNet's output, a
distribution over a*b* classes at a quarter of the input's size (`ColourDistribution`: the same calibrated
decoding and the same measure of doubt), so the colour stage takes either network.

The encoder is torchvision's MobileNetV2 (its `features`, the layout ImageNet's weights were published in) or
EfficientNet-Lite0 or Lite2 (`efficientnet_lite`). The decoder is a U-Net's: the encoder's last features (1/32,
1,280 channels) with their whole-picture mean added back everywhere (ColorNet's global branch: scene-level cues
reach every pixel), then up to 1/16, 1/8 and 1/4, joined at each step with the encoder's features of that size.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch
from ..cielab import lab_to_rgb
from .colornet import ColourDistribution
from .efficientnet_lite import EfficientNetLite

SIZE_MULTIPLE = 32
# Where MobileNetV2's `features` reach 1/4, 1/8, 1/16 and 1/32 of the input, and their channels there.
MOBILENET_TAPS = (3, 6, 13, 18)
MOBILENET_CHANNELS = (24, 32, 96, 1280)
# The ImageNet statistics MobileNetV2 was trained to see its sRGB input normalised by.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MobileNetV2Features(nn.Sequential):
    """torchvision's MobileNetV2 `features` (their published keys), read at 1/4, 1/8, 1/16 and 1/32."""

    channels = MOBILENET_CHANNELS

    def __init__(self) -> None:
        from torchvision.models import mobilenet_v2

        super().__init__(*mobilenet_v2(weights=None).features)
        self.register_buffer("input_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def taps(self, rgb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, taps = (rgb - self.input_mean.to(rgb)) / self.input_std.to(rgb), []
        for index, layer in enumerate(self):
            x = layer(x)
            if index in MOBILENET_TAPS:
                taps.append(x)
        return tuple(taps)

    def load_published(self, state: dict[str, torch.Tensor]) -> None:
        """torchvision's ImageNet file, its classifier left out."""
        self.load_state_dict({key.removeprefix("features."): value for key, value in state.items()
                              if key.startswith("features.")}, strict=True)


ENCODERS = {"mobilenet_v2": MobileNetV2Features, "efficientnet_lite0": lambda: EfficientNetLite("lite0"),
            "efficientnet_lite2": lambda: EfficientNetLite("lite2")}


@dataclass(frozen=True)
class EncoderColorNetConfig:
    width: int = 128  # decoder channels at 1/4 and 1/8; twice that at 1/16 and 1/32
    bins: int = 0  # number of a*b* classes (filled from the gamut when 0)
    encoder: str = "mobilenet_v2"  # one of ENCODERS


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class EncoderColorNet(ColourDistribution):
    """(B, 1, H, W) lightness L*/100 -> (B, Q, H/4, W/4) logits over `ab_bins`. H and W: multiples of 32."""

    def __init__(self, config: EncoderColorNetConfig = EncoderColorNetConfig()):
        super().__init__(config.bins)
        if config.encoder not in ENCODERS:
            raise ValueError(f"expected an encoder of {sorted(ENCODERS)}, got {config.encoder!r}")
        self.config = EncoderColorNetConfig(config.width, self.ab_bins.shape[0], config.encoder)
        w = config.width
        self.encoder = ENCODERS[config.encoder]()
        c4, c8, c16, c32 = self.encoder.channels
        self.lateral = nn.Sequential(nn.Conv2d(c32, 2 * w, 1, bias=False), nn.BatchNorm2d(2 * w),
                                     nn.ReLU(inplace=True))
        self.global_features = nn.Sequential(nn.Linear(c32, 2 * w), nn.ReLU(inplace=True), nn.Linear(2 * w, 2 * w))
        self.dec16 = nn.Sequential(_block(2 * w + c16, 2 * w), _block(2 * w, 2 * w))
        self.dec8 = nn.Sequential(_block(2 * w + c8, w), _block(w, w))
        self.dec4 = nn.Sequential(_block(w + c4, w), _block(w, w))
        self.head = nn.Conv2d(w, self.config.bins, 1)

    def train(self, mode: bool = True) -> "EncoderColorNet":
        """The decoder trains; the encoder keeps ImageNet's normalisation statistics even while it is fine-tuned:
        batches of a few colour crops would only blur them."""
        super().train(mode)
        self.encoder.eval()
        return self

    def encoder_input(self, lightness: torch.Tensor) -> torch.Tensor:
        """L*/100 -> the gray sRGB picture, as the encoder saw pictures in ImageNet."""
        return lab_to_rgb(torch.cat([100 * lightness.float(), torch.zeros_like(lightness.float()).expand(
            -1, 2, -1, -1)], 1)).to(lightness.dtype)

    def features(self, lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(lightness, channels=1)
        if lightness.shape[-2] % SIZE_MULTIPLE or lightness.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"expected H and W multiples of {SIZE_MULTIPLE}, got {tuple(lightness.shape)}")
        e4, e8, e16, e32 = self.encoder.taps(self.encoder_input(lightness))
        d32 = self.lateral(e32) + self.global_features(e32.mean(dim=(2, 3)))[:, :, None, None]
        d16 = self.dec16(torch.cat([_up(d32, e16), e16], 1))
        d8 = self.dec8(torch.cat([_up(d16, e8), e8], 1))
        d4 = self.dec4(torch.cat([_up(d8, e4), e4], 1))
        return d4, self.head(d4)

    def with_imagenet_encoder(self, path: Path) -> "EncoderColorNet":
        """This network with its encoder's weights read from the published ImageNet file at `path` (its
        classifier left out): where training starts."""
        self.encoder.load_published(torch.load(path, map_location="cpu", weights_only=True))
        return self


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
