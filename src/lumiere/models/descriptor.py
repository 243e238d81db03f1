"""What the engine needs to know about a model, independent of its architecture."""

from dataclasses import dataclass
from pathlib import Path

import torch
from spandrel import ImageModelDescriptor, ModelTiling

ROLES = {"upscale": "an upscaler", "restore": "a same-size restoration network", "colorize": "a colorizer",
         "repair": "a dust-and-scratch repair network", "detect": "a film-damage detector",
         "faces": "a face-restoration network", "video": "a multi-frame video upscaler",
         "interpolate": "a frame interpolator", "shots": "a shot-cut detector"}
OWN_ROLES = {"lumiere.ColorNet": "colorize", "lumiere.EncoderColorNet": "colorize", "lumiere.RepairNet": "repair",
             "lumiere.DamageNet": "detect",
             "lumiere.MultiFrameNet": "video", "lumiere.BasicVSR": "video",
             "lumiere.IFNet": "interpolate", "lumiere.TransNetV2": "shots"}
# architectures whose batch is one shot's frames in order, each output made from all of them
SEQUENCE_ARCHITECTURES = {"lumiere.BasicVSR", "lumiere.TransNetV2"}


@dataclass(frozen=True)
class ModelDescriptor:
    """Facts about a loaded image model (after spandrel's descriptor)."""

    name: str
    architecture: str
    role: str  # what lumiere uses it for: see ROLES
    scale: int
    input_channels: int
    output_channels: int
    supports_half: bool
    supports_bfloat16: bool
    size_multiple: int
    min_size: int
    tiling: str  # "supported", "discouraged" or "internal" (the model tiles itself)
    parameters: int
    source: Path | None
    sequence: bool = False  # a batch is one shot's frames in order, each output made from all of them

    @classmethod
    def from_spandrel(cls, spandrel_model: ImageModelDescriptor, name: str,
                      source: Path | None) -> "ModelDescriptor":
        requirements = spandrel_model.size_requirements
        tiling = {
            ModelTiling.SUPPORTED: "supported",
            ModelTiling.DISCOURAGED: "discouraged",
            ModelTiling.INTERNAL: "internal",
        }[spandrel_model.tiling]
        architecture_id = str(spandrel_model.architecture.id)
        if architecture_id in OWN_ROLES:
            role = OWN_ROLES[architecture_id]
        elif spandrel_model.purpose == "FaceSR":  # GFPGAN, RestoreFormer: aligned 512x512 face crops only
            role = "faces"
        else:
            role = "upscale" if spandrel_model.scale > 1 else "restore"
        return cls(
            name=name,
            architecture=spandrel_model.architecture.name,
            role=role,
            scale=spandrel_model.scale,
            input_channels=spandrel_model.input_channels,
            output_channels=spandrel_model.output_channels,
            supports_half=spandrel_model.supports_half,
            supports_bfloat16=spandrel_model.supports_bfloat16,
            size_multiple=requirements.multiple_of,
            min_size=requirements.minimum,
            tiling=tiling,
            parameters=sum(p.numel() for p in spandrel_model.model.parameters()),
            source=source,
            sequence=architecture_id in SEQUENCE_ARCHITECTURES,
        )

    def supports(self, dtype: torch.dtype) -> bool:
        if dtype == torch.float16:
            return self.supports_half
        if dtype == torch.bfloat16:
            return self.supports_bfloat16
        return True


@dataclass
class LoadedModel:
    """A network ready for inference, with its descriptor."""

    descriptor: ModelDescriptor
    module: torch.nn.Module
    # each convolution's input range on training pictures, stored with the weights: what int8 inference needs
    int8_ranges: dict[str, tuple[float, float]] | None = None
