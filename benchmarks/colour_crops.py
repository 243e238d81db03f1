"""Automatic colour on real black-and-white photos and film, for people to look at.

Writes docs/colour-crops.png: eight photos of ../shared/data/color/bw-photos, two frames of
../shared/data/film/street-scene.mp4 (colorized as a film, one stream of frames) and four Kodak photos (made
gray, their truth beside them), each as the input, then what each colorizer given makes of it through the
colour stage as it runs by default (the shipped one when none is given).

    .venv/bin/python benchmarks/colour_crops.py [--model NAME_OR_FILE ...]
"""

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from common import DATA, ROOT, load_frames, require
from lumiere.cielab import lab_to_rgb, lightness
from lumiere.compare import _label
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.io.images import Image, read_image, write_image
from lumiere.io.reader import FrameInfo
from lumiere.ops import array_to_tensor, eight_bit, tensor_to_array
from lumiere.stages.colorize import ColorizeSettings, ColorizeStage, colorizer

PHOTOS = ("1908FamilyPhoto.jpg", "AnselAdamsYosemite.jpg", "Cork1905.jpg", "HelenKeller.jpg",
          "Paris1920Cart.jpg", "PetDucks1927.jpg", "TimesSquare1955.jpg", "InuitWoman1903.jpg")
FILM_FRAMES = (40, 120)
KODAK = ("kodim04.png", "kodim07.png", "kodim13.png", "kodim23.png")  # a face, flowers and a wall, water, parrots
HEIGHT = 200


def to_height(rgb: np.ndarray, height: int) -> np.ndarray:
    width = round(rgb.shape[1] * height / rgb.shape[0])
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def gray(rgb: np.ndarray) -> np.ndarray:
    """A colour photo as the black-and-white one it would have been: its lightness alone."""
    with torch.inference_mode():
        luma = lightness(array_to_tensor(rgb)[None])
        return tensor_to_array(lab_to_rgb(torch.cat([luma, torch.zeros_like(luma), torch.zeros_like(luma)], 1))[0])


def colour_photo(stage: ColorizeStage, rgb: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return tensor_to_array(stage.process(array_to_tensor(rgb)[None], [0])[0])


def colour_film(stage: ColorizeStage, frames: list[np.ndarray]) -> dict[int, np.ndarray]:
    items = ((FrameInfo(i, i), array_to_tensor(rgb)) for i, rgb in enumerate(frames))
    with torch.inference_mode():
        return {info.index: tensor_to_array(image) for info, image in stage.stream(items)
                if info.index in FILM_FRAMES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", nargs="+", default=[ColorizeSettings().model],
                        help="colorizers to compare, each named by its file's stem (default: the shipped one)")
    args = parser.parse_args()
    runners = Runners(RunnerSettings("cpu"))
    stages = {}
    for model in args.model:
        settings = ColorizeSettings(model=model)
        stages[Path(model).stem] = (ColorizeStage(colorizer(settings, runners), temporal=False),
                                    ColorizeStage(colorizer(settings, runners)))
    folder = require(DATA / "color" / "bw-photos")
    pictures = [(name, eight_bit(read_image(folder / name).rgb)) for name in PHOTOS]
    kodak = [eight_bit(read_image(require(DATA / "color" / "kodak" / name)).rgb) for name in KODAK]
    film = load_frames(require(DATA / "film" / "street-scene.mp4"))[:max(FILM_FRAMES) + 1]
    coloured = {label: [colour_photo(photo_stage, rgb) for _, rgb in pictures] for label, (photo_stage, _) in
                stages.items()}
    for label, (photo_stage, film_stage) in stages.items():
        frames = colour_film(film_stage, film)
        coloured[label] += [frames[index] for index in FILM_FRAMES]
        coloured[label] += [colour_photo(photo_stage, gray(rgb)) for rgb in kodak]
    truths = [None] * (len(pictures) + len(FILM_FRAMES)) + kodak
    inputs = [rgb for _, rgb in pictures] + [film[index] for index in FILM_FRAMES] + [gray(rgb) for rgb in kodak]
    rows = []
    for k, rgb in enumerate(inputs):
        panels = []
        shown = [("input", rgb), *((label, coloured[label][k]) for label in stages)]
        for label, picture in shown + ([("truth", truths[k])] if truths[k] is not None else []):
            panel = np.ascontiguousarray(to_height(picture, HEIGHT))
            _label(panel, label, 0)
            panels.append(np.pad(panel, ((0, 4), (0, 4), (0, 0)), constant_values=255))
        rows.append(np.concatenate(panels, axis=1))
    half = (len(rows) + 1) // 2
    columns = []
    for block in (rows[:half], rows[half:]):
        width = max(row.shape[1] for row in block)
        columns.append(np.concatenate([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)),
                                              constant_values=255) for row in block]))
    height = max(column.shape[0] for column in columns)
    sheet = np.concatenate([np.pad(column, ((0, height - column.shape[0]), (0, 12), (0, 0)), constant_values=255)
                            for column in columns], axis=1)
    target = ROOT / "docs" / "colour-crops.png"
    write_image(target, Image(sheet))
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
