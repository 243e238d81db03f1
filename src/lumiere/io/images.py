"""Still images in and out (PNG, TIFF, JPEG, WebP, BMP; 8 and 16 bit; gray, RGB, RGBA)."""

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..ops import eight_bit

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")
ALPHA_SUFFIXES = (".png", ".tif", ".tiff", ".webp")
# About what upscaling a picture x4 can do in 24 GB; the environment variable raises or lowers it.
MAX_PIXELS_VARIABLE, DEFAULT_MAX_PIXELS = "LUMIERE_MAX_IMAGE_PIXELS", 100_000_000


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


def _jpeg_size(handle) -> tuple[int, int] | None:
    """From the first start-of-frame marker, skipping the segments before it (EXIF can be 64 kB)."""
    handle.seek(2)
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        if marker[1] in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        length = handle.read(2)
        if len(length) < 2:
            return None
        if marker[1] in (*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)):
            frame = handle.read(5)
            return None if len(frame) < 5 else struct.unpack(">HH", frame[1:])[::-1]
        handle.seek(struct.unpack(">H", length)[0] - 2, os.SEEK_CUR)


def _tiff_size(handle, head: bytes) -> tuple[int, int] | None:
    """ImageWidth and ImageLength of the first page (classic TIFF; BigTIFF is left to the decoder)."""
    order = "<" if head[:2] == b"II" else ">"
    handle.seek(struct.unpack(order + "I", head[4:8])[0])
    count = handle.read(2)
    if len(count) < 2:
        return None
    found = {}
    for _ in range(struct.unpack(order + "H", count)[0]):
        entry = handle.read(12)
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257) and kind in (3, 4):
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the file's header declares it, read without decoding the picture; None for a header
    this does not know (the decoder then has its say)."""
    with open(path, "rb") as handle:
        head = handle.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head.startswith(b"\xff\xd8"):
            return _jpeg_size(handle)
        if head[:4] in (b"II*\0", b"MM\0*"):
            return _tiff_size(handle, head)
        if head.startswith(b"BM") and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
            chunk = head[12:16]
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", head[26:30])
                return width & 0x3FFF, height & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(head[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def max_pixels() -> int:
    value = os.environ.get(MAX_PIXELS_VARIABLE, "")
    try:
        return int(value) if value else DEFAULT_MAX_PIXELS
    except ValueError:
        raise InputError(f"{MAX_PIXELS_VARIABLE}={value!r} is not a whole number of pixels") from None


def _check_pixel_count(path: Path) -> None:
    """A picture too large to process is refused before it is decoded: a 2 MB PNG can declare 2.7 GB of pixels."""
    try:
        size = image_size(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    limit = max_pixels()
    if size is not None and size[0] * size[1] > limit:
        raise InputError(f"{path} is {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} megapixels), over the limit "
                         f"of {limit / 1e6:g} megapixels; set {MAX_PIXELS_VARIABLE} to allow more")


def read_image(path: Path) -> Image:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    _check_pixel_count(path)
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
