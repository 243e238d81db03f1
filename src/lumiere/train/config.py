"""Typed training configuration; written beside every run so it can be repeated exactly."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml


@dataclass
class TrainConfig:
    task: str = "upscale"
    scale: int = 4
    data: list[str] = field(default_factory=list)
    hold_out: int = 0  # every Nth file of each data folder is left out of training (0: none)
    val: list[str] = field(default_factory=list)
    val_images: int = 10
    val_crop: int = 256
    output: str = "model.safetensors"
    run_dir: str = "runs/upscale"
    init: str | None = None
    narrow_to: int = 0  # upscale and restore: features per layer the --init Compact is narrowed to (0: its own)
    recipe: str = "bicubic"
    arch: str = "compact"  # upscale and restore: compact or span
    num_feat: int = 48
    num_conv: int = 8  # Compact's convolutions; colorize: context blocks
    steps: int = 20000
    batch: int = 16
    patch: int = 32  # low-resolution side of a training crop
    lr: float = 5e-4
    min_lr: float = 1e-6
    loss: str = "l1"
    frequency_weight: float = 0.0  # weight of the spectral loss added to `loss`
    gan_weight: float = 0.0  # upscale and restore: weight of the adversarial loss (0: no discriminator)
    disc_width: int = 64  # channels of the discriminator's first layer
    gray_probability: float = 0.0  # share of pairs made black and white (input and target alike)
    ema_decay: float = 0.999
    val_every: int = 1000
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    workers: int = 0  # processes degrading training pairs beside the training one (0: in the training process)
    # upscale and restore: where the degradations are computed. auto: on the training device when it is a GPU
    # (the CPU only draws their parameters); cpu; device
    degrade_on: str = "auto"

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(asdict(self), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        values = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys in {path}: {', '.join(sorted(unknown))}")
        return cls(**values)
