"""Still images in and out (PNG, TIFF, JPEG, WebP, BMP; 8 and 16 bit; gray, RGB, RGBA)."""

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..ops import eight_bit

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")
ALPHA_SUFFIXES = (".png", ".tif", ".tiff", ".webp")


@dataclass
class Image:
    """An RGB image (H, W, 3) of uint8 or uint16, with an optional alpha plane (H, W) of the same type."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def bit_depth(self) -> int:
        return 16 if self.rgb.dtype == np.uint16 else 8

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_gray(rgb: np.ndarray) -> bool:
    """Black and white (or evenly toned, like sepia): the channels barely differ once a global tint is removed."""
    small = rgb[::8, ::8].astype(np.float32) * (255 / 65535 if rgb.dtype == np.uint16 else 1)
    spread = small - small.mean(axis=(0, 1), keepdims=True)
    return float(np.abs(spread - spread.mean(axis=2, keepdims=True)).mean()) < 2.0


def read_image(path: Path) -> Image:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(f"cannot read {path} as an image (not an image, or corrupt)")
    if data.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: {data.dtype} samples are not supported (8 or 16 bit only)")
    if data.ndim == 2:
        return Image(np.repeat(data[:, :, None], 3, axis=2))
    channels = data.shape[2]
    if channels == 1:
        return Image(np.repeat(data, 3, axis=2))
    if channels == 2:  # gray + alpha
        return Image(np.repeat(data[:, :, :1], 3, axis=2), np.ascontiguousarray(data[:, :, 1]))
    if channels == 3:
        return Image(cv2.cvtColor(data, cv2.COLOR_BGR2RGB))
    if channels == 4:
        return Image(cv2.cvtColor(data, cv2.COLOR_BGRA2RGB), np.ascontiguousarray(data[:, :, 3]))
    raise InputError(f"{path}: {channels} channels are not supported")


def write_image(path: Path, image: Image, jpeg_quality: int = 95) -> None:
    """Write atomically: encode to memory, write a temporary file, rename over the target."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise OutputError(f"{path}: unknown image type {suffix!r} (use one of {', '.join(IMAGE_SUFFIXES)})")
    rgb, alpha = image.rgb, image.alpha
    if rgb.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        rgb = eight_bit(rgb)
        alpha = None if alpha is None else eight_bit(alpha)
    if alpha is not None and suffix not in ALPHA_SUFFIXES:
        raise OutputError(f"{path}: {suffix} cannot hold the input's alpha channel; write .png or .tiff")
    data = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        data = np.dstack([data, alpha])
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, data, params)
    if not ok:
        raise OutputError(f"could not encode {path}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
