"""TransNetV2 (Souček and Lokoč, "TransNet V2: An effective deep network architecture for fast shot transition
detection", 2020), written for lumiere from the paper and the published PyTorch model.

A film's frames, shrunk to 48x27, pass through three stacks of dilated (2+1)D convolutions: each looks at a
frame's neighbourhood in the picture and, through temporal dilations of 1, 2, 4 and 8 frames, at frames up to
eight away. Two similarity tables are added for every frame, each against the 50 frames on either side: one of
the convolutions' features (averaged over the picture, projected, cosine similarity), one of colour histograms
(512 bins). A dense layer reads all of it and says, per frame, how likely it is the first frame of a new shot
(`cut`) and how likely it lies inside a gradual transition (`transition`: a dissolve, a fade, a wipe).

A batch is a run of consecutive frames (T, 3, 27, 48) in [0, 1]; out come (T, 2) probabilities (cut,
transition). The network was trained on windows of 100 frames and trusted in their middle 50: `cut_probabilities`
runs it that way over any number of frames. The state-dict keys are the published file's.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

HEIGHT, WIDTH = 27, 48
WINDOW, TRUSTED = 100, 50  # frames a pass sees, and the middle ones of them whose answers are kept
LOOKUP = 101  # frames each similarity table compares a frame with: itself and 50 on either side
HISTOGRAM_BINS = 512


@dataclass(frozen=True)
class TransNetConfig:
    filters: int = 16  # of the first stack; doubled by each next one
    stacks: int = 3
    blocks: int = 2  # dilated convolution blocks in each stack
    dense: int = 1024


class SeparableConv3d(nn.Module):
    """A 3x3 convolution in the picture, then a 3-frame convolution in time with `dilation` frames between."""

    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv3d(c_in, 2 * c_out, (1, 3, 3), padding=(0, 1, 1), bias=False),
                                     nn.Conv3d(2 * c_out, c_out, (3, 1, 1), dilation=(dilation, 1, 1),
                                               padding=(dilation, 0, 0), bias=False)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.layers[0](x))


class DilatedBlock(nn.Module):
    """Four separable convolutions, 1, 2, 4 and 8 frames apart, side by side; batch norm; ReLU unless last."""

    def __init__(self, c_in: int, filters: int, activate: bool) -> None:
        super().__init__()
        self.Conv3D_1 = SeparableConv3d(c_in, filters, 1)
        self.Conv3D_2 = SeparableConv3d(c_in, filters, 2)
        self.Conv3D_4 = SeparableConv3d(c_in, filters, 4)
        self.Conv3D_8 = SeparableConv3d(c_in, filters, 8)
        self.bn = nn.BatchNorm3d(4 * filters, eps=1e-3)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(torch.cat([self.Conv3D_1(x), self.Conv3D_2(x), self.Conv3D_4(x), self.Conv3D_8(x)], 1))
        return F.relu(x) if self.activate else x


class Stack(nn.Module):
    """Dilated blocks with a skip from the first block's output to the last's, then the picture halved."""

    def __init__(self, c_in: int, filters: int, blocks: int) -> None:
        super().__init__()
        self.DDCNN = nn.ModuleList(DilatedBlock(c_in if index == 0 else 4 * filters, filters, index < blocks - 1)
                                   for index in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x = self.DDCNN[0](x)
        for block in self.DDCNN[1:]:
            x = block(x)
        return F.avg_pool3d(F.relu(x) + first, (1, 2, 2))


def _neighbour_similarities(vectors: torch.Tensor) -> torch.Tensor:
    """(B, T, D) unit vectors to (B, T, LOOKUP): each frame's similarity with the frames from 50 before it to 50
    after, 0 beyond the run's ends."""
    similarities = torch.bmm(vectors, vectors.transpose(1, 2))
    half = LOOKUP // 2
    padded = F.pad(similarities, (half, half))
    frames = similarities.shape[1]
    index = torch.arange(frames, device=vectors.device)[:, None] + torch.arange(LOOKUP, device=vectors.device)
    return torch.gather(padded, 2, index.expand(similarities.shape[0], -1, -1))


class FeatureSimilarity(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.projection = nn.Linear(c_in, 128)
        self.fc = nn.Linear(LOOKUP, 128)

    def forward(self, stack_outputs: list[torch.Tensor]) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=(3, 4)) for x in stack_outputs], 1).transpose(1, 2)  # (B, T, C)
        vectors = F.normalize(self.projection(pooled), dim=2)
        return F.relu(self.fc(_neighbour_similarities(vectors)))


class HistogramSimilarity(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(LOOKUP, 128)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """`frames` (B, T, 3, H, W) in [0, 1]."""
        levels = (frames * 255).round().clamp(0, 255).to(torch.int64) >> 5  # 8 levels of each of R, G, B
        bins = (levels[:, :, 0] << 6) + (levels[:, :, 1] << 3) + levels[:, :, 2]  # (B, T, H, W)
        counts = F.one_hot(bins.flatten(2), HISTOGRAM_BINS).sum(dim=2).float()  # (B, T, 512)
        return F.relu(self.fc(_neighbour_similarities(F.normalize(counts, dim=2))))


class TransNetV2(nn.Module):
    def __init__(self, config: TransNetConfig = TransNetConfig()) -> None:
        super().__init__()
        self.config = config
        widths = [config.filters * 2 ** index for index in range(config.stacks)]
        self.SDDCNN = nn.ModuleList(Stack(3 if index == 0 else 4 * widths[index - 1], width, config.blocks)
                                    for index, width in enumerate(widths))
        self.frame_sim_layer = FeatureSimilarity(sum(4 * width for width in widths))
        self.color_hist_layer = HistogramSimilarity()
        picture = 4 * widths[-1] * (HEIGHT // 2 ** config.stacks) * (WIDTH // 2 ** config.stacks)
        self.fc1 = nn.Linear(picture + 128 + 128, config.dense)
        self.cls_layer1 = nn.Linear(config.dense, 1)
        self.cls_layer2 = nn.Linear(config.dense, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, 27, 48) consecutive frames in [0, 1] to (T, 2): each frame's probability of starting a new
        shot and of lying inside a gradual transition."""
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (3, HEIGHT, WIDTH):
            raise ValueError(f"expected (T, 3, {HEIGHT}, {WIDTH}), got {tuple(frames.shape)}")
        # the published network saw 8-bit frames: the same levels here, whatever precision they arrive in
        frames = (frames.float().clamp(0, 1) * 255).round()[None] / 255  # (1, T, 3, H, W)
        x = frames.permute(0, 2, 1, 3, 4).to(self.fc1.weight.dtype)  # (1, 3, T, H, W)
        stack_outputs = []
        for stack in self.SDDCNN:
            x = stack(x)
            stack_outputs.append(x)
        picture = x.permute(0, 2, 3, 4, 1).flatten(2)  # (1, T, H * W * C), the published order
        features = torch.cat([self.color_hist_layer(frames).to(x.dtype), self.frame_sim_layer(stack_outputs),
                              picture], 2)
        hidden = F.relu(self.fc1(features))
        return torch.sigmoid(torch.cat([self.cls_layer1(hidden), self.cls_layer2(hidden)], 2))[0]


def cut_probabilities(network, frames: torch.Tensor) -> torch.Tensor:
    """(N, 2) for N frames (N, 3, 27, 48) of one film, each frame's answer from a pass where it lies in the middle
    50 of 100 (the film's first and last frames repeated beyond its ends). `network` maps a window as
    `TransNetV2.forward` does (the model itself, or a runner's call of it)."""
    count = frames.shape[0]
    before = (WINDOW - TRUSTED) // 2
    after = before + (-count % TRUSTED)
    padded = torch.cat([frames[:1].expand(before, -1, -1, -1), frames, frames[-1:].expand(after, -1, -1, -1)])
    answers = [network(padded[start:start + WINDOW])[before:before + TRUSTED]
               for start in range(0, padded.shape[0] - WINDOW + 1, TRUSTED)]
    return torch.cat(answers)[:count]
