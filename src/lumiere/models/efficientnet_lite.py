"""EfficientNet-Lite (Tan & Le, ICML 2019; the Lite variants of TensorFlow's reference), written from the paper
and that reference so the ImageNet weights published under `efficientnet_pytorch`'s key names load as they are.

Lite is EfficientNet-B0's layout of inverted-residual blocks without squeeze-and-excitation, with ReLU6 for
Swish, and with the stem, the head and the first and last stages left unscaled. Lite2 widens the channels by 1.1
and deepens the stages by 1.2. The weights were trained in TensorFlow, whose "SAME" padding puts the extra pixel
of a strided convolution after the picture, not before: the convolutions pad as it did, or every feature shifts.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# B0's seven stages: (repeats, kernel, stride, expansion, output channels). The stem gives 32 channels.
B0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
             (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
# (width, depth) multipliers of the variants whose ImageNet weights are published
VARIANTS = {"lite0": (1.0, 1.0), "lite2": (1.1, 1.2)}
# Stages whose last block ends at 1/4, 1/8 and 1/16 of the input; the head gives 1/32.
TAP_STAGES = (1, 2, 4)
BATCH_NORM_EPS = 1e-3  # TensorFlow's, which the weights were trained with
# The input range the TensorFlow Lite models were trained on: (255 x - 127) / 128 for x in [0, 1].
INPUT_MEAN, INPUT_STD = 127 / 255, 128 / 255


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


@dataclass(frozen=True)
class BlockLayout:
    c_in: int
    c_out: int
    kernel: int
    stride: int
    expansion: int


def lite_layout(variant: str) -> list[list[BlockLayout]]:
    """Each stage's blocks for an EfficientNet-Lite variant ("lite0", "lite2")."""
    if variant not in VARIANTS:
        raise ValueError(f"expected an EfficientNet-Lite variant of {sorted(VARIANTS)}, got {variant!r}")
    width, depth = VARIANTS[variant]
    stages, c_in = [], STEM_CHANNELS
    for index, (repeats, kernel, stride, expansion, channels) in enumerate(B0_STAGES):
        if 0 < index < len(B0_STAGES) - 1:
            repeats = math.ceil(depth * repeats)
        c_out = _round_channels(channels, width)
        stages.append([BlockLayout(c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1, expansion)
                       for i in range(repeats)])
        c_in = c_out
    return stages


def variant_of(block_count: int) -> str:
    """The variant whose layout has `block_count` blocks (16 for lite0, 21 for lite2)."""
    for variant in VARIANTS:
        if sum(map(len, lite_layout(variant))) == block_count:
            return variant
    raise ValueError(f"no EfficientNet-Lite variant has {block_count} blocks")


def variant_in(state: dict[str, torch.Tensor], prefix: str = "") -> str:
    """The variant whose weights `state` holds under `prefix`, told by its number of blocks."""
    return variant_of(len({key[len(prefix):].split(".")[1] for key in state if key.startswith(prefix + "_blocks.")}))


class SamePaddedConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": the output is ceil(input / stride), the odd pixel of padding
    after the picture."""

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with the zeros this convolution adds around it."""
        padding = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            padding += [total // 2, total - total // 2]
        return F.pad(x, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.padded(x))


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS)


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (k x k, strided), project (1x1); the input added back where the shape allows.
    Attribute names are the published weights' keys."""

    def __init__(self, layout: BlockLayout):
        super().__init__()
        hidden = layout.c_in * layout.expansion
        if layout.expansion != 1:
            self._expand_conv = SamePaddedConv2d(layout.c_in, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = SamePaddedConv2d(hidden, hidden, layout.kernel, layout.stride, groups=hidden,
                                                bias=False)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = SamePaddedConv2d(hidden, layout.c_out, 1, bias=False)
        self._bn2 = _batch_norm(layout.c_out)
        self.residual = layout.stride == 1 and layout.c_in == layout.c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """(B, 3, H, W) sRGB in [0, 1] -> features at 1/4, 1/8, 1/16 and 1/32 (`taps`), or ImageNet's 1,000 logits
    (`forward`, where built with the classifier)."""

    def __init__(self, variant: str, classifier: bool = False):
        super().__init__()
        stages = lite_layout(variant)
        self.variant = variant
        self._conv_stem = SamePaddedConv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = _batch_norm(STEM_CHANNELS)
        self._blocks = nn.ModuleList(InvertedResidual(block) for stage in stages for block in stage)
        ends = [sum(map(len, stages[:index + 1])) - 1 for index in range(len(stages))]
        self.tap_blocks = tuple(ends[stage] for stage in TAP_STAGES)
        self.channels = tuple(stages[stage][-1].c_out for stage in TAP_STAGES) + (HEAD_CHANNELS,)
        self._conv_head = SamePaddedConv2d(stages[-1][-1].c_out, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _batch_norm(HEAD_CHANNELS)
        if classifier:
            self._fc = nn.Linear(HEAD_CHANNELS, 1000)
        self.register_buffer("input_mean", torch.tensor(INPUT_MEAN), persistent=False)
        self.register_buffer("input_std", torch.tensor(INPUT_STD), persistent=False)

    def taps(self, rgb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = F.relu6(self._bn0(self._conv_stem((rgb - self.input_mean) / self.input_std)))
        taps = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.tap_blocks:
                taps.append(x)
        return (*taps, F.relu6(self._bn1(self._conv_head(x))))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self._fc(self.taps(rgb)[-1].mean(dim=(2, 3)))

    def load_published(self, state: dict[str, torch.Tensor]) -> None:
        """The published file's weights (its classifier's too, where this network has one)."""
        self.load_state_dict({key: value for key, value in state.items()
                              if hasattr(self, "_fc") or not key.startswith("_fc.")}, strict=True)

    @classmethod
    def from_published(cls, state: dict[str, torch.Tensor], classifier: bool = False) -> "EfficientNetLite":
        """The network the published file's `state` holds, its variant read from its blocks."""
        model = cls(variant_in(state), classifier)
        model.load_published(state)
        return model
