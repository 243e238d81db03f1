"""lumiere's colorization network: lightness in, a distribution over quantized a*b* colours out.

Colour is predicted as a classification over the in-gamut a*b* bins (Zhang, Isola and Efros, 2016) rather than
regressed: a regression to an L1/L2 target learns the mean of all plausible colours, which for most objects
is a desaturated brown. The distribution keeps "red or blue, not purple", and `decode` chooses how bold to be
(the annealed mean: a temperature between the mode and the mean).

The network is a small U-Net with a global branch (Iizuka, Simo-Serra and Ishikawa, 2016): the whole picture's
pooled features are added back everywhere, so scene-level cues (outdoors, sky, night) reach every pixel.
Its output is a quarter of the input's resolution: colour is low-frequency, and the full-resolution luma of
the frame carries the detail.
"""

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch

BIN_SIZE = 10.0
OUTPUT_STRIDE = 4
SIZE_MULTIPLE = 16
# How `decode` turns the distribution into one colour by default, chosen on held-out pictures (docs/weights.md):
# the network's honest estimate (calibration 1), a little towards the mode; the colorizer then sets how bold
# to be by how sure the network is (stages/colorize.py)
TEMPERATURE = 0.4
CALIBRATION = 1.0
# The honest estimate is muted; the colorizer multiplies it by `calm` where the network guesses and up to `bold`
# where it is sure. How sure a network is differs from network to network, so each carries its own pair, chosen
# when it is trained (`stages/colorize.choose_colour_gain`); files without one get the shipped ColorNet's.
DEFAULT_COLOUR_GAIN = (0.6, 3.3)


@lru_cache(maxsize=1)
def ab_gamut_bins() -> torch.Tensor:
    """Centres (Q, 2) of the 10x10 a*b* cells that some sRGB colour falls in, in a fixed order."""
    from ..cielab import rgb_to_lab

    levels = torch.linspace(0, 1, 48, dtype=torch.float64)
    cube = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(1, 3, 1, -1)
    ab = rgb_to_lab(cube)[0, 1:, 0].T
    cells = torch.unique(torch.round(ab / BIN_SIZE).long(), dim=0)
    return (cells.double() * BIN_SIZE).float()


@dataclass(frozen=True)
class ColorNetConfig:
    width: int = 32  # channels at full resolution; doubled at each of the four halvings, up to 8x
    bins: int = 0  # number of a*b* classes (filled from the gamut when 0)
    context_blocks: int = 0  # residual blocks at 1/16 after the global branch, dilated to see the whole crop


def _block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ContextBlock(nn.Module):
    """x + a two-convolution branch whose last normalisation starts at zero: a new block is the identity, so
    blocks can be added to a trained network (`ColorNet.grown`) without changing what it predicts."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.branch = nn.Sequential(_block(channels, channels, dilation=dilation),
                                    nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
                                    nn.BatchNorm2d(channels))
        nn.init.zeros_(self.branch[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


DECODING_BUFFERS = ("ab_bins", "class_weights", "colour_gain")


class ColourDistribution(nn.Module):
    """What every colorization network shares: `bins` a*b* classes (the in-gamut cells when 0), the training's
    class weights, how a distribution over them becomes one colour (`decode`), how sure it is (`spread`) and how
    much bolder to make a sure colour than a guessed one (`colour_gain`). Subclasses predict the logits in
    `features`."""

    def __init__(self, bins: int):
        super().__init__()
        centres = ab_gamut_bins() if bins == 0 else torch.zeros(bins, 2)
        self.register_buffer("ab_bins", centres.clone())
        # the loss weight of each class in training: rare colours count more, which tilts the predicted
        # distribution towards them; `decode` can take that tilt back out
        self.register_buffer("class_weights", torch.ones(centres.shape[0]))
        self.register_buffer("colour_gain", torch.tensor(DEFAULT_COLOUR_GAIN))  # (calm, bold)

    def features(self, lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, H, W) L*/100 -> the features at 1/4 (for matching a reference's content) and the logits."""
        raise NotImplementedError

    def _apply(self, fn, recurse=True):
        # the decoding's constants follow the network to its device but stay float32 whatever precision it
        # computes in: in bf16 the gain 0.6 would become 0.6016 and the class weights would lose two decimals
        kept = {name: self._buffers.pop(name) for name in DECODING_BUFFERS}
        super()._apply(fn, recurse)
        device = fn(torch.zeros(1)).device
        self._buffers.update({name: buffer.to(device) for name, buffer in kept.items()})
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights and checkpoints from before colorizers carried a gain decode as they did then
        state_dict.setdefault(prefix + "colour_gain", torch.tensor(DEFAULT_COLOUR_GAIN))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.features(lightness)[1]

    def spread(self, logits: torch.Tensor, calibration: float = CALIBRATION) -> torch.Tensor:
        """How unsure the network is: the standard deviation (a*b* units) of its calibrated colour distribution,
        (B, Q, h, w) logits -> (B, 1, h, w). About 10 where it knows the colour, 30 and more where it guesses."""
        probabilities = torch.softmax(self._calibrated(logits, calibration), dim=1)
        bins = self.ab_bins.float()
        mean = torch.einsum("bqhw,qc->bchw", probabilities, bins)
        second = torch.einsum("bqhw,q->bhw", probabilities, (bins * bins).sum(1))[:, None]
        return (second - (mean * mean).sum(1, keepdim=True)).clamp_min(0).sqrt()

    def _calibrated(self, logits: torch.Tensor, calibration: float) -> torch.Tensor:
        return logits.float() - calibration * self.class_weights.log().view(1, -1, 1, 1)

    def decode(self, logits: torch.Tensor, temperature: float = TEMPERATURE,
               calibration: float = CALIBRATION) -> torch.Tensor:
        """Annealed mean: (B, Q, h, w) logits -> (B, 2, h, w) a*b*.

        `calibration` in [0, 1] divides the distribution by the training's class weights to that power: 1 gives
        the network's honest estimate (accurate, quiet colours), 0 keeps the tilt towards rare, vivid colours.
        Lower `temperature` moves from the mean of the distribution towards its mode: bolder colours.
        """
        if temperature <= 0:
            raise ValueError(f"expected a positive temperature, got {temperature}")
        probabilities = torch.softmax(self._calibrated(logits, calibration) / temperature, dim=1)
        return torch.einsum("bqhw,qc->bchw", probabilities, self.ab_bins.float())


class ColorNet(ColourDistribution):
    """(B, 1, H, W) lightness L*/100 -> (B, Q, H/4, W/4) logits over `ab_bins`. H and W: multiples of 16."""

    def __init__(self, config: ColorNetConfig = ColorNetConfig()):
        super().__init__(config.bins)
        self.config = ColorNetConfig(config.width, self.ab_bins.shape[0], config.context_blocks)
        w = config.width
        self.enc1 = nn.Sequential(_block(1, w), _block(w, w))
        self.enc2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w))
        self.enc4 = nn.Sequential(_block(4 * w, 8 * w, 2), _block(8 * w, 8 * w))
        self.enc5 = nn.Sequential(_block(8 * w, 8 * w, 2), _block(8 * w, 8 * w, dilation=2),
                                  _block(8 * w, 8 * w, dilation=2))
        self.global_features = nn.Sequential(nn.Linear(8 * w, 8 * w), nn.ReLU(inplace=True), nn.Linear(8 * w, 8 * w))
        self.context = nn.Sequential(*(ContextBlock(8 * w, dilation=(2, 4)[i % 2])
                                       for i in range(config.context_blocks)))
        self.dec4 = nn.Sequential(_block(16 * w, 8 * w), _block(8 * w, 8 * w))
        self.dec3 = nn.Sequential(_block(12 * w, 4 * w), _block(4 * w, 4 * w))
        self.head = nn.Conv2d(4 * w, self.config.bins, 1)

    def features(self, lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(lightness, channels=1)
        if lightness.shape[-2] % SIZE_MULTIPLE or lightness.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(f"expected H and W multiples of {SIZE_MULTIPLE}, got {tuple(lightness.shape)}")
        x = lightness - 0.5
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        e5 = self.enc5(e4)
        e5 = self.context(e5 + self.global_features(e5.mean(dim=(2, 3)))[:, :, None, None])
        d4 = self.dec4(torch.cat([F.interpolate(e5, size=e4.shape[-2:], mode="bilinear", align_corners=False), e4], 1))
        d3 = self.dec3(torch.cat([F.interpolate(d4, size=e3.shape[-2:], mode="bilinear", align_corners=False), e3], 1))
        return d3, self.head(d3)

    def grown(self, context_blocks: int) -> "ColorNet":
        """This network with `context_blocks` context blocks, the added ones the identity (same predictions)."""
        if context_blocks < self.config.context_blocks:
            raise ValueError(f"expected at least {self.config.context_blocks} context blocks, got {context_blocks}")
        bigger = ColorNet(ColorNetConfig(self.config.width, self.config.bins, context_blocks))
        missing, unexpected = bigger.load_state_dict(self.state_dict(), strict=False)
        assert not unexpected and all(key.startswith("context.") for key in missing)
        return bigger.to(self.ab_bins.device).train(self.training)
