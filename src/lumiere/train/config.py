"""Typed training configuration; written beside every run so it can be repeated exactly."""

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


def flag(default: Any = MISSING, help: str = "", *, name: str | None = None, given: Any = MISSING,
         choices: tuple[str, ...] = (), low: float | None = None, high: float | None = None,
         many: bool = False, path: bool = False, short: str | None = None):
    """A training setting that `lumiere train` also takes on its command line, as --NAME (the field's name with
    dashes, or `name`; also `short`, as -o). `given`: the command line's default where it differs from the
    setting's (None: the task decides, `tasks.training_config`); `low`/`high` bound a number, `choices` a word;
    `many` may be repeated; `path` is a file or folder."""
    cli = {"help": help, "name": name, "given": default if given is MISSING else given, "choices": choices,
           "low": low, "high": high, "many": many, "path": path, "short": short}
    if many:
        return field(default_factory=list, metadata={"cli": {**cli, "given": ()}})
    return field(default=default, metadata={"cli": cli})


@dataclass
class TrainConfig:
    task: str = "upscale"
    scale: int = 4  # each `lumiere train` command has its own --scale
    data: list[str] = flag(help="Folder, image or video of clean, sharp material; repeat for several.", many=True,
                           path=True)
    hold_out: int = flag(0, "Leave every Nth file of each --data folder out of training (the 1st, the N+1st ...), "
                            "for a check on pictures the network never saw.", low=0)
    val: list[str] = flag(help="Held-out folder (images or videos) for validation PSNR/SSIM.", many=True, path=True)
    val_images: int = 10
    val_crop: int = 256
    output: str = flag("model.safetensors", "Where to write the .safetensors weights.", given=None, path=True,
                       short="-o")
    run_dir: str = flag("runs/upscale", "Checkpoints, log and curve (default: runs/<output stem>).", given=None,
                        path=True)
    init: str | None = flag(None, "Fine-tune from this model (shipped name or file).")
    narrow_to: int = flag(0, "upscale and restore: narrow the --init Compact network to this many features per "
                             "layer (those carrying the most on the training pictures) before fine-tuning: a "
                             "faster network that starts from what the wide one learned.", given=None, low=1)
    recipe: str = flag("bicubic", "How inputs are degraded (default: film; bicubic is the classic SR protocol).",
                       given=None, choices=("bicubic", "film", "film-look", "film-luma"))
    arch: str = flag("compact", "Network for upscale and restore: Real-ESRGAN's Compact, or SPAN (slower to train, "
                                "stronger; both load in spandrel). video: compact (a frame and its neighbours laid "
                                "onto it) or basicvsr (recurrent: a shot's frames at once; give --init "
                                "basicvsr-blurred-x4). colorize: colornet (learns from the photos alone), or "
                                "mobilenet, efficientnet-lite0 or efficientnet-lite2 (read them with that encoder "
                                "trained on ImageNet, from weight-packages.txt).", given=None,
                     choices=("compact", "span", "basicvsr", "colornet", "mobilenet", "efficientnet-lite0",
                              "efficientnet-lite2"))
    encoder_lr: float = flag(0.0, "colorize on an ImageNet encoder: its learning rate as a share of "
                                   "--lr (0: frozen, as a first run should keep it; 0.1 to fine-tune it after).",
                             low=0, high=1)
    rebalance: float = flag(0.5, "colorize: how far rare colours are weighted up against common ones, 0 (not at "
                                 "all) to 1 (by the inverse of how common they are); 0.5 as Zhang et al.",
                            given=None, low=0, high=1)
    neutral_weight: float = flag(0.0, "colorize: weight of a penalty on garish colour (chroma over 20) where the "
                                      "truth is neutral, against green and purple blotches on gray backdrops.",
                                 low=0)
    num_feat: int = flag(48, "Width of the network (Compact, SPAN: 48; colorize: colornet's channels at full "
                             "resolution, 32; on an ImageNet encoder, the decoder's channels at 1/4, 128).",
                         given=None, low=4)
    num_conv: int = flag(8, "Depth: the Compact network's convolutions (8); colorize: context blocks at 1/16 (0), "
                            "added to an --init network that has fewer.", given=None, low=0)
    steps: int = flag(20000, low=1)
    batch: int = flag(16, low=1)
    patch: int = flag(32, "Side of the network's input crop, in input pixels.", low=8)
    lr: float = flag(5e-4, "Peak learning rate (cosine decay).")
    min_lr: float = 1e-6
    loss: str = flag("l1", choices=("l1", "charbonnier"))
    frequency_weight: float = flag(0.0, "Weight of an added spectral (FFT magnitude) loss that favours fine detail.")
    gan_weight: float = flag(0.0, "upscale, restore, video --arch basicvsr: weight of an adversarial loss from a "
                                  "U-Net discriminator (0.1 is Real-ESRGAN's), for texture rather than the average "
                                  "of what could be there.",
                             low=0)
    disc_width: int = 64  # channels of the discriminator's first layer
    temporal_weight: float = flag(0.0, "video --arch basicvsr: weight of a loss on how each frame's error changes "
                                       "from the last along the scene's motion, for output that holds still where "
                                       "the film does rather than passing its grain on.", low=0)
    teacher: str | None = flag(None, "video (compact): learn from this recurrent network's enlargements of the "
                                     "damaged clips (basicvsr-film-x4, say) instead of the clean frames: a student "
                                     "at the window network's cost, distilled from the slower one.")
    gray_probability: float = flag(0.0, "Share of pairs made black and white, input and target (default 0.5 for "
                                        "film).", name="gray", given=None, low=0, high=1)
    ema_decay: float = 0.999
    val_every: int = flag(1000, low=1)
    checkpoint_every: int = 500
    seed: int = flag(0)
    device: str = flag("auto")
    threads: int = flag(0, "CPU threads (0: PyTorch's default).", low=0)
    workers: int = flag(0, "Processes that make training pairs in parallel (worth it beside a GPU).", low=0)
    degrade_on: str = flag("auto", "upscale, restore, detect, colorize: where training inputs are degraded (auto: on "
                                   "the GPU when training on one; the CPU then only cuts crops and draws the "
                                   "damage).", choices=("auto", "cpu", "device"))

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(asdict(self), sort_keys=False))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """A run's saved configuration (every setting written out)."""
        return cls(**cls.values_in(path))

    @classmethod
    def values_in(cls, path: Path) -> dict[str, Any]:
        """The settings a config file gives, and only those: what it leaves out, the task decides (a colorize
        run's recipe and width are not an upscaler's), as on the command line."""
        values = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys in {path}: {', '.join(sorted(unknown))}")
        return values


def command_line_settings() -> list[tuple[str, type, dict]]:
    """The settings `lumiere train` takes as flags: (field name, the type of its value, what `flag` recorded), in
    order; a setting without a default (a list, or None) takes words."""
    settings = []
    for setting in fields(TrainConfig):
        if "cli" in setting.metadata:
            kind = str if setting.default in (MISSING, None) else type(setting.default)
            settings.append((setting.name, kind, setting.metadata["cli"]))
    return settings
