"""Calibration for int8 inference (`engine/int8.py`): each convolution's input range, measured on the kind of
degraded pictures the network was trained on, made as its training made them, and stored with its weights."""

import math
from collections.abc import Iterable
from pathlib import Path

import torch

from ..engine.int8 import Ranges, conv_input_ranges, fake_quantized
from ..errors import ModelError
from ..models.loader import load_model, resolve_model_path, store_int8_ranges, weights_metadata
from .tasks import make_task, training_config

# Training batches measured, 128 crops at the default batch of 16: 32 batches widened some of film-x4's ranges
# by up to 11% and moved its int8 Set5 x4 PSNR by 0.001 dB.
CALIBRATION_BATCHES = 8


# Below this agreement between the int8 and the fp32 network on the calibration pictures, int8 is not offered:
# lumiere's Compact networks agree at 48-52 dB there; film-x4-high (RRDB, x4plus's) at 37.5 dB, visibly apart.
LEAST_AGREEMENT_DB = 40.0


def measure_calibration(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> tuple[Ranges, float]:
    """`model`'s int8 calibration over `batches` of its training inputs, and how closely the network computed
    with it agrees with the float one there (PSNR of one output against the other, in dB)."""
    inputs = list(batches)
    was_training = model.training
    model.eval()
    try:
        floats: list[torch.Tensor] = []
        ranges = conv_input_ranges(model, inputs, floats)
        quantized = fake_quantized(model, ranges)
        with torch.inference_mode():
            error = sum(((float_output.clamp(0, 1) - quantized(x).clamp(0, 1)) ** 2).mean().item()
                        for float_output, x in zip(floats, inputs, strict=True)) / len(inputs)
    finally:
        model.train(was_training)
    return ranges, 10 * math.log10(1 / max(error, 1e-12))


TASK_OF_ROLE = {"upscale": "upscale", "restore": "restore", "video": "video"}


def calibrate_file(name_or_path: str, data: list[str], recipe: str | None = None,
                   batches: int = CALIBRATION_BATCHES) -> Path:
    """Measure and store the int8 calibration of a picture network in a .safetensors file, degrading pictures from
    `data` as its training did: by the recipe its file records (lumiere's own), else by `recipe` (an imported
    network's, such as Real-ESRGAN's: "film" for film, "bicubic" for clean pictures). Returns the file written."""
    name, path = resolve_model_path(name_or_path)
    if path.suffix != ".safetensors":
        raise ModelError(f"calibration is stored in .safetensors files; {path} is not one (`lumiere models "
                         "import` writes one for an ncnn model)")
    loaded = load_model(str(path))
    task = TASK_OF_ROLE.get(loaded.descriptor.role)
    if task is None:
        raise ModelError(f"model {name} is not an upscaler, cleaner or video upscaler, the networks int8 serves")
    record = weights_metadata(path)
    recipe = recipe or record.get("lumiere.recipe")
    if recipe is None:
        raise ModelError(f"model {name} records no training, so its pictures must be named: give $recipe (film "
                         "for a film network, bicubic for one made for clean pictures)")
    config = training_config(task, {"data": list(data), "output": str(path), "recipe": recipe,
                                    "scale": loaded.descriptor.scale, "steps": batches})
    task = make_task(config)
    inputs = task.training_inputs(task.pairs(), batches, torch.device("cpu"))
    ranges, agreement = measure_calibration(loaded.module, inputs)
    if agreement < LEAST_AGREEMENT_DB:
        raise ModelError(f"model {name} in int8 strays too far from itself in fp32 (PSNR {agreement:.1f} dB between "
                         f"the two, at least {LEAST_AGREEMENT_DB:g} needed); it keeps running in fp32 or bf16")
    store_int8_ranges(path, ranges)
    return path
