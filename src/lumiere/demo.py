"""The README's first command: restore a real old film (or a film lumiere makes itself) and compare."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .degradations import functional as Fd
from .io.color import ColorInfo
from .io.images import read_image
from .io.writer import EncodeSettings, video_file
from .ops import array_to_tensor, tensor_to_array

SHARED_FILM = Path("..") / "shared" / "data" / "film" / "street-scene.mp4"


def synthesize_film(path: Path, frames: int = 72, fps: int = 18, size: tuple[int, int] = (320, 240)) -> Path:
    """An 'old film' made from a photo matplotlib ships: a slow pan, softened, shrunk, grainy, gray, JPEG-worn."""
    import matplotlib

    photo = read_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").rgb
    width, height = size
    crop_w, crop_h = photo.shape[1] * 3 // 4, photo.shape[0] * 3 // 4
    generator = torch.Generator().manual_seed(1896)
    settings = EncodeSettings("h264", crf=16, preset="fast")
    with video_file(path, settings, width, height, Fraction(fps), Fraction(1, fps), ColorInfo.bt601()) as writer:
        for index in range(frames):
            left = round((photo.shape[1] - crop_w) * index / (frames - 1))
            top = (photo.shape[0] - crop_h) // 2
            x = array_to_tensor(np.ascontiguousarray(photo[top:top + crop_h, left:left + crop_w]))[None]
            x = Fd.blur(x, Fd.gaussian_kernel2d(1.2, 1.2))
            x = Fd.resize(x, (height, width), "bicubic")
            flicker = 0.9 + 0.1 * float(torch.rand(1, generator=generator))
            x = x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1) * flicker
            x = Fd.gaussian_noise(x, 0.03, generator, gray=True)
            x = Fd.jpeg(x, 60)
            writer.write(tensor_to_array(x[0]), index, 1)
    return path
