"""Training crops from clean images and videos, held in memory as uint8."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io.images import is_image_path, read_image
from ..io.reader import VIDEO_SUFFIXES, open_source

MAX_FRAMES_PER_VIDEO = 240


def _is_media(path: Path) -> bool:
    return is_image_path(path) or path.suffix.lower() in VIDEO_SUFFIXES


def list_media(folders: list[str]) -> list[Path]:
    """Image and video files under the given folders (or the files themselves), in a stable order."""
    paths: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.exists():
            raise InputError(f"training data not found: {root}")
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and _is_media(p))
        paths.extend(found)
    if not paths:
        raise InputError(f"no images or videos found in {', '.join(folders)}")
    return paths


def _to8(rgb: np.ndarray) -> np.ndarray:
    return (rgb // 257).astype(np.uint8) if rgb.dtype == np.uint16 else rgb


def load_pictures(path: Path) -> Iterator[np.ndarray]:
    """The RGB pictures a file holds: one for an image, up to MAX_FRAMES_PER_VIDEO spread over a video."""
    if is_image_path(path):
        yield _to8(read_image(path).rgb)
        return
    source = open_source(path)
    stride = max(1, source.info.frame_count // MAX_FRAMES_PER_VIDEO)
    for frame in source.frames():
        if frame.index % stride == 0:
            yield _to8(frame.rgb)


class CropSampler:
    """Draws random (crop, crop) RGB patches, flipped and rotated, weighted by image area."""

    def __init__(self, folders: list[str], crop: int, generator: torch.Generator):
        self.crop = crop
        self.generator = generator
        self.images: list[torch.Tensor] = []
        self.skipped = 0
        for path in list_media(folders):
            for rgb in load_pictures(path):
                if min(rgb.shape[:2]) < crop:
                    self.skipped += 1
                    continue
                self.images.append(torch.from_numpy(rgb).permute(2, 0, 1).contiguous())
        if not self.images:
            raise InputError(f"no training picture is at least {crop}x{crop} pixels")
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
