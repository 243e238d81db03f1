"""The architectures lumiere trains, all from spandrel so our files load everywhere."""

import torch
from spandrel.architectures.Compact import Compact

COMPACT_DEFAULTS = {"num_feat": 48, "num_conv": 8}


def build_compact(scale: int, num_feat: int = 48, num_conv: int = 8, channels: int = 3) -> torch.nn.Module:
    """Real-ESRGAN's SRVGGNetCompact: all convolutions at input resolution, pixel shuffle at the end.

    It is among the fastest useful SR networks on CPU (plain 3x3 convolutions
    that oneDNN runs near peak in channels-last), and spandrel, chaiNNer and
    Real-ESRGAN tools load its weights.
    """
    if scale not in (1, 2, 3, 4):
        raise ValueError(f"expected scale 1, 2, 3 or 4, got {scale}")
    return Compact(num_in_ch=channels, num_out_ch=channels, num_feat=num_feat,
                   num_conv=num_conv, upscale=scale)
