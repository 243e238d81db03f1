"""Training pairs: random crops of clean images and videos (held in memory as uint8), degraded on the fly."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.utils.data

from ..degradations.batched import draw_batch_params
from ..errors import InputError
from ..io.images import is_gray, is_image_path, read_image
from ..io.reader import VIDEO_SUFFIXES, open_source
from ..ops import eight_bit, luma

MAX_FRAMES_PER_VIDEO = 240


def _is_media(path: Path) -> bool:
    return is_image_path(path) or path.suffix.lower() in VIDEO_SUFFIXES


def split_media(folder: Path, hold_out: int = 0) -> tuple[list[Path], list[Path]]:
    """Image and video files under a folder (or the file itself), in a stable order: those to train on and,
    with `hold_out` N, every Nth of them (the first, the N+1st, ...) kept for a check training never sees."""
    root = Path(folder)
    if not root.exists():
        raise InputError(f"training data not found: {root}")
    found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and _is_media(p))
    if not hold_out:
        return found, []
    return ([p for k, p in enumerate(found) if k % hold_out], [p for k, p in enumerate(found) if not k % hold_out])


def list_media(folders: list[str], hold_out: int = 0) -> list[Path]:
    """Image and video files under the given folders (or the files themselves), in a stable order, without each
    folder's held-out share (`split_media`)."""
    paths: list[Path] = []
    for folder in folders:
        paths.extend(split_media(Path(folder), hold_out)[0])
    if not paths:
        raise InputError(f"no images or videos found in {', '.join(folders)}")
    return paths


def load_pictures(path: Path) -> Iterator[np.ndarray]:
    """The RGB pictures a file holds: one for an image, up to MAX_FRAMES_PER_VIDEO spread over a video."""
    if is_image_path(path):
        yield eight_bit(read_image(path).rgb)
        return
    source = open_source(path)
    stride = max(1, source.info.frame_count // MAX_FRAMES_PER_VIDEO)
    for frame in source.frames():
        if frame.index % stride == 0:
            yield eight_bit(frame.rgb)


class CropSampler:
    """Draws random (crop, crop) RGB patches, flipped and rotated, weighted by image area.

    With `zoom=(low, high)` a patch's side is drawn as that fraction of the picture's shorter side and resized
    to `crop` (whole-scene context, for colour); without it, patches are cut at the picture's own scale (for
    restoration, whose degradations are defined on the original pixels). `colour_only` leaves out pictures
    that are black and white already.
    """

    def __init__(self, folders: list[str], crop: int, zoom: tuple[float, float] | None = None,
                 colour_only: bool = False, hold_out: int = 0):
        self.crop, self.zoom = crop, zoom
        self.images: list[torch.Tensor] = []
        self.skipped = 0
        for path in list_media(folders, hold_out):
            for rgb in load_pictures(path):
                if min(rgb.shape[:2]) < crop or (colour_only and is_gray(rgb)):
                    self.skipped += 1
                    continue
                self.images.append(torch.from_numpy(rgb).permute(2, 0, 1).contiguous())
        if not self.images:
            kind = "colour picture" if colour_only else "picture"
            raise InputError(f"no training {kind} is at least {crop}x{crop} pixels")
        areas = torch.tensor([float(im.shape[1] * im.shape[2]) for im in self.images])
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """(batch, 3, crop, crop) float32 in [0, 1]."""
        indices = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        crops = []
        for index in indices.tolist():
            image = self.images[index]
            _, h, w = image.shape
            side = self.crop
            if self.zoom is not None:
                fraction = self.zoom[0] + (self.zoom[1] - self.zoom[0]) * torch.rand((), generator=generator).item()
                side = max(self.crop, round(fraction * min(h, w)))
            top = int(torch.randint(h - side + 1, (), generator=generator))
            left = int(torch.randint(w - side + 1, (), generator=generator))
            patch = image[:, top:top + side, left:left + side]
            if side != self.crop:
                patch = torch.nn.functional.interpolate(patch[None].float(), size=(self.crop, self.crop), mode="area")
                patch = patch[0].round().to(torch.uint8)
            if torch.rand((), generator=generator) < 0.5:
                patch = patch.flip(-1)
            if self.zoom is None:  # upside-down scenes would teach a colorizer that the sky can be below
                patch = torch.rot90(patch, int(torch.randint(4, (), generator=generator)), dims=(1, 2))
            crops.append(patch)
        return torch.stack(crops).float() / 255


def to_gray(hr: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Turn a share of the crops black and white, so gray film maps to gray output, not to invented colour."""
    if probability <= 0:
        return hr
    chosen = torch.rand(hr.shape[0], generator=generator) < probability
    gray = luma(hr).expand_as(hr)
    return torch.where(chosen.view(-1, 1, 1, 1), gray, hr)


def degrade_batch(recipe, hr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Each crop is its own one-frame clip, so each draws its own degradation.
    return torch.cat([recipe(hr[i:i + 1], generator) for i in range(hr.shape[0])])


def step_generator(seed: int, step: int) -> torch.Generator:
    """A training step's random generator, from (seed, step) alone: any worker, and a resumed run, make the
    same batch."""
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class DegradedPairs(torch.utils.data.Dataset):
    """Item `step` is that training step's (degraded input, clean target) batch.

    Its randomness comes from (seed, step) alone, so any DataLoader worker makes
    the same batch, and a resumed run sees exactly the batches an uninterrupted
    one would have seen.
    """

    def __init__(self, sampler: CropSampler, recipe, batch: int, gray_probability: float, seed: int, steps: int,
                 params_only: bool = False):
        self.sampler, self.recipe = sampler, recipe
        self.batch, self.gray_probability, self.seed, self.steps = batch, gray_probability, seed, steps
        self.params_only = params_only

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor | list, torch.Tensor]:
        """(degraded crops, clean crops); with `params_only`, (each crop's degradation parameters, clean crops)
        for the training device to degrade them (`degradations.batched`), the same draws either way."""
        generator = step_generator(self.seed, step)
        hr = self.crops(generator)
        if self.params_only:
            return draw_batch_params(self.recipe, hr.shape, generator), hr
        return degrade_batch(self.recipe, hr, generator), hr

    def crops(self, generator: torch.Generator) -> torch.Tensor:
        """The step's clean crops, a share of them black and white."""
        return to_gray(self.sampler.sample(self.batch, generator), self.gray_probability, generator)


class FilmOrClean(DegradedPairs):
    """Item `step` is that step's (pictures, labels): the first half of the crops degraded as film (label 1),
    the second half as clean pictures (label 0), all at one enlargement that alternates from step to step.

    `recipes` maps ("film" | "clean", scale) to a degradation; crops are `scale` times the input side at the
    largest scale, and centre-cropped for the smaller ones. Randomness from (seed, step) alone, as in
    `DegradedPairs`.
    """

    def __init__(self, sampler: CropSampler, recipes: dict, batch: int, gray_probability: float, seed: int,
                 steps: int, params_only: bool = False):
        if batch < 2:
            raise ValueError(f"expected a batch of at least 2 (one film, one clean), got {batch}")
        super().__init__(sampler, None, batch, gray_probability, seed, steps, params_only)
        self.recipes = recipes
        self.scales = sorted({scale for _, scale in recipes}, reverse=True)

    def __getitem__(self, step: int) -> tuple[torch.Tensor | tuple, torch.Tensor]:
        """(pictures, labels); with `params_only`, ((clean crops, scale, the film half's parameters, the clean
        half's), labels) for the training device to degrade them."""
        generator = step_generator(self.seed, step)
        hr = self.crops(generator)
        scale = self.scales[step % len(self.scales)]
        side = hr.shape[-1] * scale // self.scales[0]
        start = (hr.shape[-1] - side) // 2
        hr = hr[..., start:start + side, start:start + side].contiguous()
        half = self.batch // 2
        labels = torch.cat([torch.ones(half), torch.zeros(self.batch - half)])
        if self.params_only:
            film = draw_batch_params(self.recipes[("film", scale)], hr[:half].shape, generator)
            clean = draw_batch_params(self.recipes[("clean", scale)], hr[half:].shape, generator)
            return (hr, scale, film, clean), labels
        film = degrade_batch(self.recipes[("film", scale)], hr[:half], generator)
        clean = degrade_batch(self.recipes[("clean", scale)], hr[half:], generator)
        return torch.cat([film, clean]), labels


def load_validation(folders: list[str], count: int, crop: int, scale: int) -> torch.Tensor:
    """Centre crops of the first `count` validation images, sides a multiple of `scale`."""
    crop -= crop % scale
    tensors = []
    pictures = (rgb for path in list_media(folders) for rgb in load_pictures(path))
    for rgb in (next(pictures, None) for _ in range(count)):
        if rgb is None:
            break
        h, w = rgb.shape[:2]
        side = min(crop, h - h % scale, w - w % scale)
        top, left = (h - side) // 2, (w - side) // 2
        tensors.append(torch.from_numpy(rgb[top:top + side, left:left + side]).permute(2, 0, 1).float() / 255)
    sizes = {t.shape for t in tensors}
    if len(sizes) > 1:
        smallest = min(t.shape[1] for t in tensors)
        tensors = [t[:, :smallest, :smallest] for t in tensors]
    return torch.stack(tensors)
