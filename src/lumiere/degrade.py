"""`lumiere degrade`: apply a degradation recipe to an image, a folder of images or a video, to look at it."""

import itertools
from pathlib import Path

import torch

from .degradations.recipes import RECIPES, build_recipe
from .degradations.transforms import ClipShape
from .errors import InputError, OutputError
from .io.images import Image, is_image_path, read_image, write_image
from .io.reader import open_source
from .io.writer import EncodeSettings, video_file
from .ops import array_to_tensor, tensor_to_array
from .output import check_output_folder, output_folder

WINDOW = 16


def _crop(rgb, multiple: int):
    height, width = rgb.shape[:2]
    return rgb[:height - height % multiple, :width - width % multiple]


def degrade_image(path: Path, output: Path, recipe_name: str, scale: int, seed: int) -> None:
    image = read_image(path)
    x = array_to_tensor(_crop(image.rgb, scale))[None]
    y = build_recipe(recipe_name, scale)(x, torch.Generator().manual_seed(seed))
    write_image(output, Image(tensor_to_array(y[0], image.rgb.dtype)))


def degrade_video(path: Path, output: Path, recipe_name: str, scale: int, seed: int,
                  show_progress: bool = True) -> None:
    from tqdm import tqdm

    source = open_source(path)
    info = source.info
    recipe = build_recipe(recipe_name, scale)
    multiple = 2 * scale  # the output must have even sides for 4:2:0 video
    height, width = info.height - info.height % multiple, info.width - info.width % multiple
    shape = ClipShape(info.frame_count, 3, height, width)
    params = recipe.make_params(shape, torch.Generator().manual_seed(seed))
    out_shape = recipe.output_shape(shape)
    settings = EncodeSettings("h264", crf=16, preset="fast")
    settings.validate(output.suffix.lower())
    progress = tqdm(total=info.frame_count, unit="frame", desc="degrade", disable=not show_progress)
    pending = []
    frames = source.frames()
    first = next(frames)
    try:
        with video_file(output, settings, out_shape.width, out_shape.height, info.fps, info.time_base,
                        info.color.for_output(out_shape.height, info.height), first.pts, path) as writer:
            def flush():
                batch = torch.stack([array_to_tensor(_crop(f.rgb, multiple)) for f in pending])
                for frame, image in zip(pending, recipe.transform(batch, params, pending[0].index), strict=True):
                    writer.write(tensor_to_array(image, frame.rgb.dtype), frame.pts, frame.duration)
                progress.update(len(pending))
                pending.clear()

            for frame in itertools.chain([first], frames):
                pending.append(frame)
                if len(pending) == WINDOW:
                    flush()
            if pending:
                flush()
    finally:
        progress.close()


def degrade(input_path: Path, output: Path, recipe_name: str, scale: int, seed: int,
            show_progress: bool = True) -> None:
    input_path, output = Path(input_path), Path(output)
    if recipe_name not in RECIPES:
        raise InputError(f"unknown recipe {recipe_name!r} (choose from {', '.join(sorted(RECIPES))})")
    if not input_path.exists():
        raise InputError(f"no such file or folder: {input_path}")
    if output.resolve() == input_path.resolve():
        raise OutputError("the output is the input; it would be overwritten")
    check_output_folder(output.parent)
    if input_path.is_dir():
        images = sorted(p for p in input_path.iterdir() if p.is_file() and is_image_path(p))
        if not images:
            raise InputError(f"no images in {input_path}")
        with output_folder(output):
            for index, image in enumerate(images):
                degrade_image(image, output / image.name, recipe_name, scale, seed + index)
    elif is_image_path(input_path):
        if not is_image_path(output):
            raise OutputError(f"{output}: give an image file name for an image input")
        with output_folder(output.parent):
            degrade_image(input_path, output, recipe_name, scale, seed)
    else:
        with output_folder(output.parent):
            degrade_video(input_path, output, recipe_name, scale, seed, show_progress)
