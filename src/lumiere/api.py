"""lumiere from Python: the common jobs as functions. The command line and the web app call these.

Pictures are NumPy arrays as OpenCV's and PyAV's users know them, but in RGB order: (H, W, 3) or gray (H, W),
uint8 or uint16; (H, W, 4) carries an alpha plane along. Files and folders are given as paths; a film job
writes its output and resumes where an interrupted one stopped, as the command line does.

The command line also keeps freed memory in the process for reuse (`keep_freed_memory`, glibc's malloc): a
restore runs up to 1.4x faster so. It changes how the whole process allocates, so a library does not do it
behind its host's back: a program that runs films calls `lumiere.keep_freed_memory()` once itself.

    >>> import lumiere
    >>> import numpy as np
    >>> still = np.zeros((48, 64, 3), np.uint8)
    >>> lumiere.upscale(still, scale=2, quiet=True).shape
    (96, 128, 3)
"""

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._malloc import keep_freed_memory
from .engine.runner import RunnerSettings
from .errors import LumiereError, OptionError, keyword, spelled
from .io.images import Image, is_image_path
from .io.reader import VIDEO_SUFFIXES
from .models.descriptor import LoadedModel
from .models.loader import load_model as _load_model
from .output import EncodeRequest, default_output, output_folder
from .plan import settings_from_options, stage_options
from .stages.colorize import ColorizeSettings
from .stages.settings import Option, check_rate
from .stages.upscale import FILM_SCALE, IMAGE_SCALE, UpscaleSettings

Report = Callable[[str], None]


def _to_stderr(line: str) -> None:
    print(f"lumiere: {spelled(line, keyword)}", file=sys.stderr)


def load_model(name_or_path: str) -> LoadedModel:
    """A shipped model by name (`lumiere models` lists them) or any model file spandrel reads (.pth,
    .safetensors ...), on the CPU in float32: `.module` is the PyTorch network, `.descriptor` says what it is.

    >>> model = lumiere.load_model("film-x2")
    >>> model.descriptor.scale, model.descriptor.architecture
    (2, 'RealESRGAN Compact')
    """
    return _load_model(str(name_or_path))


def _check_picture(picture: np.ndarray) -> Image:
    if not isinstance(picture, np.ndarray) or picture.dtype not in (np.uint8, np.uint16) \
            or not (picture.ndim == 2 or (picture.ndim == 3 and picture.shape[2] in (3, 4))):
        got = (f"{picture.dtype} array of shape {picture.shape}" if isinstance(picture, np.ndarray)
               else type(picture).__name__)
        raise OptionError(f"expected a picture as an (H, W, 3), (H, W, 4) or (H, W) uint8 or uint16 array, or a "
                          f"path, got {got}")
    if 0 in picture.shape[:2]:
        raise OptionError(f"cannot work on an empty picture: shape {picture.shape}")
    if picture.ndim == 2:
        return Image(np.repeat(picture[:, :, None], 3, axis=2))
    if picture.shape[2] == 4:
        return Image(np.ascontiguousarray(picture[:, :, :3]), np.ascontiguousarray(picture[:, :, 3]))
    return Image(picture)


def _as_array(image: Image) -> np.ndarray:
    if image.alpha is None:
        return image.rgb
    return np.concatenate([image.rgb, image.alpha[:, :, None]], axis=2)


def _runner(device: str, precision: str, tile: int | None) -> RunnerSettings:
    return RunnerSettings(device=device, precision=precision, tile=tile)


def _audible(report: Report | None, quiet: bool) -> Report | None:
    """Who hears the notes: `quiet` silences the default (stderr), never a `report` the caller passed."""
    return None if quiet and report is _to_stderr else report


def _report_all(report: Report | None, notices: Iterable[str]) -> None:
    for notice in notices:
        if report is not None:
            report(f"note: {notice}")


def upscale(picture: np.ndarray | str | Path, scale: float | None = None, *, output: str | Path | None = None,
            model: str | None = None, look: str | None = None, strength: float | None = None,
            height: int | None = None, to: str | None = None, quality: str = "standard", colorize: bool = False,
            reference: Iterable[str | Path] = (), device: str = "auto", precision: str = "auto",
            tile: int | None = None, overwrite: bool = False, quiet: bool = False, report: Report | None = _to_stderr,
            **options: Any) -> np.ndarray | Path:
    """Enlarge a still: an array gives an array; an image file or a folder of images is written to `output`
    (default: NAME-lumiere beside it), and the path written is returned. An interrupted folder goes on where it
    stopped when called again with the same arguments.

    Without `scale`, `height` or `to` ("4k"), x4, or a `model`'s own scale. Without `model`, lumiere picks its
    network by how film-damaged the picture looks. With `colorize`, the enlarged picture is then coloured, as
    `colorize` does it: `reference` pictures and `options` (`saturation`, `render_size`, `skin`, `color_model`)
    as it takes them. `report` hears notes (which network was chosen) and, unless `quiet`, what is happening.
    `quiet` prints nothing, progress bar and notes included; a `report` of your own still hears the notes.

    >>> gray_scan = np.full((30, 40), 128, np.uint16)
    >>> lumiere.upscale(gray_scan, scale=3, quiet=True).dtype
    dtype('uint16')
    >>> lumiere.upscale("photo.png", scale=2, quiet=True)
    PosixPath('photo-lumiere.png')
    >>> lumiere.upscale("photo.png", scale=2, colorize=True, saturation=1.2, output="photo-colour.png", quiet=True)
    PosixPath('photo-colour.png')
    """
    from .stills import StillWork

    _check_options(options, ColorizeSettings.options)
    settings = UpscaleSettings.from_options({"scale": scale, "height": height, "to": to, "model": model,
                                             "look": look, "strength": strength, "quality": quality})
    colour = ColorizeSettings.from_options({**options, "reference": tuple(Path(p) for p in reference),
                                            "colorize": colorize})
    work = StillWork(settings.or_scale(IMAGE_SCALE), colour, _runner(device, precision, tile))
    if isinstance(picture, (str, os.PathLike)):
        path = Path(picture)
        output = Path(output) if output is not None else default_output(path, "" if path.is_dir() else path.suffix)
    return _stills(picture, output, work, overwrite, quiet, _audible(report, quiet))


def _stills(picture: np.ndarray | Path, output: Path | None, work, overwrite: bool, quiet: bool,
            report: Report | None) -> np.ndarray | Path:
    """`work` (a `stills.StillWork`) on an array, returned, or on an image file or folder, written to `output`."""
    from .stills import process_stills

    if not isinstance(picture, (str, os.PathLike)):
        image = _check_picture(picture)
        done = work("the picture", image)
        _report_all(report, work.notices())
        return _as_array(done) if picture.ndim == 3 else done.rgb
    with output_folder(output.parent):  # made for the job, and removed again if it fails with nothing written
        written, failed, notices = process_stills(Path(picture), output, work, show_progress=not quiet,
                                                  overwrite=overwrite)
        _report_all(report, notices)
        _raise_for_skipped(failed, len(written) + len(failed), report)
    return output


def _raise_for_skipped(failed: list[tuple[Path, str]], total: int, report: Report | None) -> None:
    """Each image of a folder that could not be done, then an error: the others were written."""
    if not failed:
        return
    if report is not None:
        for path, reason in failed:
            report(f"error: {path}: {reason}")
    names = ", ".join(path.name for path, _ in failed[:3]) + (" ..." if len(failed) > 3 else "")
    raise LumiereError(f"{len(failed)} of {total} images failed and were skipped ({names}); the others were "
                       "written, and the same command again does the rest")


def colorize(picture: np.ndarray | str | Path, *, output: str | Path | None = None,
             reference: Iterable[str | Path] = (), device: str = "auto", precision: str = "auto",
             encode: EncodeRequest | None = None, source_fps: float | None = None,
             chunk_frames: int | None = None, restart: bool = False, overwrite: bool = False, quiet: bool = False,
             report: Report | None = _to_stderr, **options: Any) -> np.ndarray | Path:
    """Colour a black-and-white picture, folder of pictures or film.

    An array gives an array; a path is written to `output` (default: NAME-lumiere beside it) and the path
    written is returned. A film (a video file, or a folder of frames when `source_fps` is given or `output` is a
    video file) is coloured frame to frame along its motion; a film or a folder of pictures goes on where an
    interrupted job stopped. `reference` pictures (coloured frames of the film, or photos of its scenes) lend
    their colours. `options`: the colour stage's own (`saturation`, `render_size`, `skin`, `color_model`;
    `lumiere.options()` lists them). `upscale(..., colorize=True)` enlarges and colours a still in one go.
    `report` hears notes and, unless `quiet`, what is happening. `quiet` prints nothing, progress bar and notes
    included; a `report` of your own still hears the notes.

    >>> coloured = lumiere.colorize(np.full((64, 64), 100, np.uint8), saturation=0.5, quiet=True)
    >>> coloured.shape, coloured.dtype
    ((64, 64, 3), dtype('uint8'))
    """
    from .jobs import restore as run_restore
    from .stills import StillWork

    _check_options(options, ColorizeSettings.options)
    settings = ColorizeSettings.from_options({**options, "reference": tuple(Path(p) for p in reference),
                                              "colorize": True})
    runner = _runner(device, precision, None)
    report = _audible(report, quiet)
    if not isinstance(picture, (str, os.PathLike)):
        return _stills(picture, None, StillWork(None, settings, runner), overwrite, quiet, report)
    path = Path(picture)
    encode = encode or EncodeRequest()
    output, photos = colorize_target(path, output, encode, source_fps)
    if photos:
        return _stills(path, output, StillWork(None, settings, runner), overwrite, quiet, report)
    with output_folder(output.parent):
        written_to, notices = run_restore(path, output, settings, runner=runner, encode=encode,
                                          source_fps=check_rate("source_fps", source_fps), chunk_frames=chunk_frames,
                                          restart=restart, overwrite=overwrite, show_progress=not quiet,
                                          report=None if quiet else report, label="colorize")
    _report_all(report, notices)
    return written_to


def colorize_target(path: Path, output: str | Path | None, encode: EncodeRequest,
                    source_fps: float | None = None) -> tuple[Path, bool]:
    """Where `colorize` writes for an input, and whether it treats it as photos (an image, or a folder of them)
    rather than a film: a folder is a film's frames when `source_fps` is given or a video file is asked for."""
    path = Path(path)
    photos = is_image_path(path) or (path.is_dir() and source_fps is None
                                     and (output is None or Path(output).suffix.lower() not in VIDEO_SUFFIXES))
    if output is None:
        return default_output(path, path.suffix if is_image_path(path) else "" if photos else encode.suffix), \
            photos
    return Path(output), photos


def film_target(path: Path, output: str | Path | None, encode: EncodeRequest) -> Path:
    """Where `restore` writes a film: `output`, or NAME-lumiere beside the input in the codec's container."""
    return Path(output) if output is not None else default_output(Path(path), encode.suffix)


def options() -> dict[str, str]:
    """Every option a film job takes by name (as `restore` takes them), with what it does.

    >>> print(lumiere.options()["deflicker"])
    Take out brightness pumping, keep fades; optional strength 0-1 (default 1).
    """
    return {name: spelled(option.help, keyword) for name, option in stage_options().items()}


def _check_options(given: Mapping[str, Any], known: Iterable) -> None:
    names = {option.name for option in known}
    unknown = sorted(set(given) - names)
    if unknown:
        raise OptionError(f"unknown option {unknown[0]!r}; the options are {', '.join(sorted(names))}")


def film_options() -> dict[str, Option]:
    """Every option `restore` takes for its stages, by name, as the stages declare them (help, kind, default,
    choices, bounds): what a form or another front end builds its fields from."""
    return stage_options()


def restore(input: str | Path, output: str | Path | None = None, *, preset: str | None = None,
            device: str = "auto", precision: str = "auto", tile: int | None = None,
            encode: EncodeRequest | None = None, source_fps: float | None = None, chunk_frames: int | None = None,
            batch: int = 1,
            preview: float | None = None, ray: str | None = None, restart: bool = False, overwrite: bool = False,
            quiet: bool = False, report: Report | None = _to_stderr, **options: Any) -> Path:
    """Restore a film (a video file, or a folder of its frames) into `output` (default: NAME-lumiere.mp4 beside
    it) and return the path written.

    `options` turn on and set the film stages by name: `scale`, `height`, `to` ("4k"), `repair`, `deflicker`,
    `colorize`, `fps` ... (`lumiere.options()` lists them all); without a size the film is enlarged x2.
    `preset="film"` turns on the whole cleaning chain. `encode` (`lumiere.EncodeRequest(codec="h265", crf=20,
    bit_depth=10)`) says how the film is encoded: h264 in the output's container by default. An interrupted job
    resumes when called again with the same arguments (`restart=True` starts over); a finished output is
    replaced only with `overwrite=True`.
    `preview` (seconds) restores that much from the middle and writes OUT-compare.mp4 beside it.

    >>> lumiere.restore("film.mp4", "film-x2.mp4", scale=2, deflicker=1.0, quiet=True)
    PosixPath('film-x2.mp4')
    """
    from .jobs import restore as run_restore

    _check_options(options, stage_options().values())
    # the detector tells a clean transfer from film damage on the first frame (stages/upscale.FILM_CLEAN_BELOW)
    settings = [s.or_scale(FILM_SCALE) if isinstance(s, UpscaleSettings) else s
                for s in settings_from_options(options, preset)]
    encode = encode or EncodeRequest()
    target = film_target(input, output, encode)
    with output_folder(target.parent):
        written, notices = run_restore(Path(input), target, *settings, runner=_runner(device, precision, tile),
                                       preview=preview, ray=ray, encode=encode,
                                       source_fps=check_rate("source_fps", source_fps), chunk_frames=chunk_frames,
                                       batch=batch, restart=restart, overwrite=overwrite,
                                       show_progress=not quiet, report=None if quiet else report)
    _report_all(_audible(report, quiet), notices)
    return written


__all__ = ["EncodeRequest", "colorize", "keep_freed_memory", "load_model", "options", "restore", "upscale"]
