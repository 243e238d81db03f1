"""Choosing the device and the arithmetic precision a model runs in."""

from functools import lru_cache

import torch

from ..errors import LumiereError
from ..models.descriptor import LoadedModel, ModelDescriptor
from .int8 import openvino_available

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def select_device(name: str = "auto") -> torch.device:
    if name not in DEVICES and not name.startswith("cuda:"):
        raise LumiereError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LumiereError("$device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise LumiereError("$device mps was asked for, but this machine has no Metal GPU")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware (AVX512-BF16 or AMX); elsewhere oneDNN emulates it slowly."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def select_int8(device: torch.device, loaded: LoadedModel, precision: str = "auto") -> bool:
    """Whether a network runs in int8 (`engine/int8.py`): on CPUs, for a network that carries its calibration,
    when OpenVINO is installed, both by default and where asked; a job's other networks (the colorizer, the
    damage detector, imported ones) then run as `auto` runs them. film-x4 runs 2.6x as fast as in fp32 on AVX2
    and 1.8x as fast as in bf16 on AVX512-BF16, within 0.05 dB of fp32."""
    if precision == "int8":
        if device.type != "cpu":
            raise LumiereError(f"$precision int8 runs on CPUs only; on {device.type} use fp16, bf16 or auto")
        if not openvino_available():
            raise LumiereError("$precision int8 runs through OpenVINO, which is not installed here")
    return precision in ("auto", "int8") and device.type == "cpu" and loaded.int8_ranges is not None \
        and openvino_available()


def select_dtype(device: torch.device, descriptor: ModelDescriptor, precision: str = "auto") -> torch.dtype:
    """auto: fp16 (else bf16) on GPUs, bf16 on CPUs that compute it natively (about twice fp32's speed), else fp32.

    Only where the model's descriptor allows that type; fp16 never runs on CPU.
    """
    if precision not in PRECISIONS:
        raise LumiereError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if precision == "auto":
        if device.type in ("cuda", "mps") and descriptor.supports_half:
            return torch.float16
        if device.type == "cuda" and descriptor.supports_bfloat16:
            return torch.bfloat16
        if device.type == "cpu" and descriptor.supports_bfloat16 and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    if precision == "int8":  # a network int8 cannot serve (select_int8) runs as auto would run it
        return select_dtype(device, descriptor, "auto")
    dtype = _DTYPES[precision]
    if dtype == torch.float16 and device.type == "cpu":
        raise LumiereError("fp16 is not run on CPU (slow and inaccurate there); use fp32 or bf16")
    if not descriptor.supports(dtype):
        raise LumiereError(f"model {descriptor.name} ({descriptor.architecture}) does not support {precision}")
    return dtype
