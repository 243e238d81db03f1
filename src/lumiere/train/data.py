"""Training crops from folders of clean images, held in memory as uint8."""

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io.images import is_image_path, read_image


def list_images(folders: list[str]) -> list[Path]:
    paths: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.exists():
            raise InputError(f"training data folder not found: {root}")
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))
        paths.extend(found)
    if not paths:
        raise InputError(f"no images found in {', '.join(folders)}")
    return paths


class CropSampler:
    """Draws random (crop, crop) RGB patches, flipped and rotated, weighted by image area."""

    def __init__(self, folders: list[str], crop: int, generator: torch.Generator):
        self.crop = crop
        self.generator = generator
        self.images: list[torch.Tensor] = []
        self.skipped = 0
        for path in list_images(folders):
            rgb = read_image(path).rgb
            if rgb.dtype == np.uint16:
                rgb = (rgb // 257).astype(np.uint8)
            if min(rgb.shape[:2]) < crop:
                self.skipped += 1
                continue
            self.images.append(torch.from_numpy(rgb).permute(2, 0, 1).contiguous())
        if not self.images:
            raise InputError(f"no training image is at least {crop}x{crop} pixels")
        areas = torch.tensor([float(im.shape[1] * im.shape[2]) for im in self.images])
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int) -> torch.Tensor:
        """(batch, 3, crop, crop) float32 in [0, 1]."""
        indices = torch.multinomial(self.weights, batch, replacement=True, generator=self.generator)
        crops = []
        for index in indices.tolist():
            image = self.images[index]
            _, h, w = image.shape
            top = int(torch.randint(h - self.crop + 1, (), generator=self.generator))
            left = int(torch.randint(w - self.crop + 1, (), generator=self.generator))
            patch = image[:, top:top + self.crop, left:left + self.crop]
            if torch.rand((), generator=self.generator) < 0.5:
                patch = patch.flip(-1)
            patch = torch.rot90(patch, int(torch.randint(4, (), generator=self.generator)), dims=(1, 2))
            crops.append(patch)
        return torch.stack(crops).float() / 255


def load_validation(folders: list[str], count: int, crop: int, scale: int) -> torch.Tensor:
    """Centre crops of the first `count` validation images, sides a multiple of `scale`."""
    crop -= crop % scale
    tensors = []
    for path in list_images(folders)[:count]:
        rgb = read_image(path).rgb
        if rgb.dtype == np.uint16:
            rgb = (rgb // 257).astype(np.uint8)
        h, w = rgb.shape[:2]
        side = min(crop, h - h % scale, w - w % scale)
        top, left = (h - side) // 2, (w - side) // 2
        tensors.append(torch.from_numpy(rgb[top:top + side, left:left + side]).permute(2, 0, 1).float() / 255)
    sizes = {t.shape for t in tensors}
    if len(sizes) > 1:
        smallest = min(t.shape[1] for t in tensors)
        tensors = [t[:, :smallest, :smallest] for t in tensors]
    return torch.stack(tensors)
