"""The architectures lumiere trains, all from spandrel so our files load everywhere."""

import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.SPAN import SPAN

from ..errors import LumiereError

COMPACT_DEFAULTS = {"num_feat": 48, "num_conv": 8}


def _check_scale(scale: int) -> None:
    if scale not in (1, 2, 3, 4):
        raise ValueError(f"expected scale 1, 2, 3 or 4, got {scale}")


def build_compact(scale: int, num_feat: int = 48, num_conv: int = 8, channels: int = 3) -> torch.nn.Module:
    """Real-ESRGAN's SRVGGNetCompact: all convolutions at input resolution, pixel shuffle at the end.

    It is among the fastest useful SR networks on CPU (plain 3x3 convolutions
    that oneDNN runs near peak in channels-last), and spandrel, chaiNNer and
    Real-ESRGAN tools load its weights.
    """
    _check_scale(scale)
    return Compact(num_in_ch=channels, num_out_ch=channels, num_feat=num_feat,
                   num_conv=num_conv, upscale=scale)


def build_span(scale: int, num_feat: int = 48, channels: int = 3) -> torch.nn.Module:
    """SPAN (Wan et al., winner of NTIRE 2024's efficient SR challenge): six attention blocks whose attention is
    parameter-free, built from re-parameterizable convolutions.

    Trained with three branches per convolution and run with one fused 3x3 (spandrel fuses them at eval),
    so it learns like a larger network and runs like a small one.
    """
    _check_scale(scale)
    return SPAN(num_in_ch=channels, num_out_ch=channels, feature_channels=num_feat, upscale=scale)


# what `lumiere train upscale|restore --arch` builds, from (scale, width, Compact's depth)
ARCHITECTURES = {
    "compact": lambda scale, num_feat, num_conv: build_compact(scale, num_feat, num_conv),
    "span": lambda scale, num_feat, num_conv: build_span(scale, num_feat),
}


def build_restoration_network(arch: str, scale: int, num_feat: int, num_conv: int) -> torch.nn.Module:
    """The network `lumiere train upscale|restore --arch` trains; `num_conv` is Compact's depth only."""
    if arch not in ARCHITECTURES:
        raise LumiereError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](scale, num_feat, num_conv)
