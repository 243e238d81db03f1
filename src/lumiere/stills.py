"""The stills job: a picture or a folder of pictures enlarged and coloured as a film's frames are, a folder
going on where an interrupted run stopped."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

from .degradations.functional import resize
from .engine.runner import Runners, RunnerSettings
from .errors import InputError, OutputError
from .io.images import ALPHA_SUFFIXES, IMAGE_SUFFIXES, Image, is_gray, is_image_path, read_image, write_image
from .manifest import files_record, write_atomically
from .models.loader import resolve_model_path
from .ops import array_to_tensor, tensor_to_array
from .output import check_output_folder, work_folder
from .stages.colorize import ColorizeSettings, ColorizeStage, References, colorizer
from .stages.upscale import UpscaleSettings, UpscaleStage, input_kind, upscale_stage
from .workfolder import LOCK, WorkFolder


def upscale_image(image: Image, stage: UpscaleStage) -> Image:
    """Upscale RGB through the network; an alpha plane follows with a plain resampler."""
    with torch.inference_mode():
        rgb = stage.process(array_to_tensor(image.rgb)[None])[0]
        alpha = None
        if image.alpha is not None:
            plane = array_to_tensor(image.alpha[:, :, None])[None]
            alpha = resize(plane, (rgb.shape[1], rgb.shape[2]), "bicubic").clamp(0, 1)[0]
    dtype = image.rgb.dtype
    return Image(tensor_to_array(rgb, dtype), None if alpha is None else tensor_to_array(alpha, dtype)[:, :, 0])


def upscale_picture(image: Image, settings: UpscaleSettings, runners: Runners) -> tuple[Image, str | None]:
    """An image enlarged as `settings` ask, and the network with what the image was measured to be
    ("film-x4 (film-damaged)") where lumiere chose the network by it."""
    sizes = settings.wants_upscale(image.size, even=False)
    if sizes is None:
        return image, None
    out_size = sizes[0]
    kind = input_kind(array_to_tensor(image.rgb)[None], runners)[0] if settings.needs_input_kind else None
    choice = settings.choice(image.size, out_size, kind)
    stage = upscale_stage(choice, runners, image.size, out_size)
    if not isinstance(stage, UpscaleStage):
        raise InputError(f"model {choice} enlarges a film's frames from their neighbours; a still needs a "
                         "single-frame model (film-x4, sr-x4 or your own)")
    enlarged = upscale_image(image, stage)
    return enlarged, None if kind is None else f"{choice} ({'film-damaged' if kind == 'film' else 'clean'})"


def colorize_picture(image: Image, stage: ColorizeStage) -> Image:
    """A still coloured by the still-image colour stage; the alpha plane is kept."""
    with torch.inference_mode():
        rgb = stage.process(array_to_tensor(image.rgb)[None], [0])[0]
    return Image(tensor_to_array(rgb, image.rgb.dtype), image.alpha)


def still_colour_stage(settings: ColorizeSettings, runners: Runners) -> ColorizeStage:
    """The colour stage for stills: each picture on its own, references borrowed by content."""
    colours = colorizer(settings, runners)
    return ColorizeStage(colours, references=References(colours, settings.references) if settings.references
                         else None, temporal=False)


class StillWork:
    """What is done to each still: enlarged, then coloured (as a film's stages run), either or both. Networks are
    loaded after every check of the paths: the colour network by `prepare`, the upscalers as each image needs."""

    def __init__(self, upscale: UpscaleSettings | None, colorize: ColorizeSettings | None, runner: RunnerSettings):
        self.upscale, self.colorize, self.runner = upscale, colorize, runner
        self.runners = Runners(runner)
        self._colour_stage = None
        self.chosen: dict[str, list[str]] = {}  # network -> the images it enlarged, where lumiere chose it
        self.coloured_inputs: list[str] = []

    @property
    def label(self) -> str:
        return "upscale" if self.colorize is None else "colorize" if self.upscale is None else "upscale + colorize"

    def fingerprint(self) -> str:
        """Everything an image's result depends on (not the device), models and references by content."""
        files = [] if self.colorize is None else self.colorize.files(None)
        if self.upscale is not None and self.upscale.model is not None:
            files.append(resolve_model_path(self.upscale.model)[1])
        for reference in files:  # models resolve to files that exist; references are as given
            if not Path(reference).is_file():
                raise InputError(f"reference not found: {reference}")
        data = {"upscale": None if self.upscale is None else self.upscale.fingerprint(),
                "colorize": None if self.colorize is None else self.colorize.fingerprint(),
                "runner": {key: value for key, value in vars(self.runner).items() if key != "device"},
                "files": files_record(files) if files else None}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def prepare(self) -> None:
        """The colour stage made, with its option and reference checks: a refusal stops a folder at once, rather
        than failing every image one by one (the upscalers depend on each image's size, so load as it comes)."""
        if self.colorize is not None and self._colour_stage is None:
            self._colour_stage = still_colour_stage(self.colorize, self.runners)

    def __call__(self, name: str, image: Image) -> Image:
        if self.upscale is not None:
            image, choice = upscale_picture(image, self.upscale, self.runners)
            if choice is not None:
                self.chosen.setdefault(choice, []).append(name)
        if self.colorize is not None:
            self.prepare()
            if not is_gray(image.rgb):
                self.coloured_inputs.append(name)
            image = colorize_picture(image, self._colour_stage)
        return image

    def notices(self) -> list[str]:
        notices = [f"enlarged by {network}: {_some(names)}" for network, names in self.chosen.items()]
        if notices:
            notices.append("lumiere chose by how film-damaged each image looks; $model or $look to choose")
        if self.coloured_inputs:
            notices.append(f"{len(self.coloured_inputs)} input(s) already had colour ({_some(self.coloured_inputs)}); "
                           "their lightness alone was colorized")
        return notices


IMAGES_RECORD = "images.json"


def kept_images(target: Path) -> int:
    """How many finished images an interrupted folder job left waiting for `target` (0: none)."""
    record = work_folder(Path(target)) / IMAGES_RECORD
    try:
        done = json.loads(record.read_text()).get("done")
    except (OSError, ValueError, AttributeError):
        return 0
    return len(done) if isinstance(done, dict) else 0


class FolderRecord:
    """A folder of images in progress, kept in `work` (the output folder's work folder, locked by this process):
    the finished images wait there, named in a record with the settings'
    fingerprint and the input each came from, and move into the output folder together once every image is done. So an
    interrupted job goes on where it stopped when run again with the same settings, and an interrupted `overwrite`
    leaves the old images as they were; the work folder goes once everything is in place."""

    def __init__(self, work: WorkFolder, target: Path, fingerprint: str, overwrite: bool):
        self.target, self.fingerprint = target, fingerprint
        self.work = work.path
        self.done: dict[str, list[int]] = {}
        self._stale = False  # the work folder holds another job's state, to be discarded before the first write
        self._ready = False  # the work folder is cleared of a killed run's unfinished images (or another job's)
        if {entry.name for entry in self.work.iterdir()} <= {LOCK}:
            return
        record = self._read()
        if record is not None and record.get("settings") == fingerprint:
            self.done = record["done"]
        elif overwrite:
            self._stale = True
        else:
            raise OutputError(f"{self.work} holds an unfinished job with other settings; run it again as it was to "
                              "finish it, or add $overwrite to discard it and start over")

    def _read(self) -> dict | None:
        try:
            record = json.loads((self.work / IMAGES_RECORD).read_text())
        except (OSError, ValueError):
            return None
        done = record.get("done") if isinstance(record, dict) else None
        if not (isinstance(done, dict) and all(isinstance(v, list) for v in done.values())):
            return None
        return record

    @staticmethod
    def _origin(source: Path) -> list[int]:
        stat = source.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def is_done(self, source: Path, destination: Path) -> bool:
        """Finished by an earlier run of this job from the same input, and still there (waiting or in place)."""
        return (self.done.get(destination.name) == self._origin(source)
                and ((self.work / destination.name).is_file() or destination.is_file()))

    def keep(self, source: Path, destination: Path, image: Image) -> None:
        """A finished image into the work folder, then into the record."""
        if not self._ready:
            for entry in self.work.iterdir():
                if entry.name == LOCK:  # this process holds it
                    continue
                if self._stale and entry.is_dir():
                    shutil.rmtree(entry)
                elif self._stale or entry.name.endswith(".partial"):  # or an image a killed run was cutting off
                    entry.unlink()
            self._ready = True
        write_image(self.work / destination.name, image)
        self.done[destination.name] = self._origin(source)
        try:
            write_atomically(self.work / IMAGES_RECORD,
                             json.dumps({"settings": self.fingerprint, "done": self.done}).encode())
        except OSError as exc:
            raise OutputError(f"cannot write {self.work / IMAGES_RECORD}: {exc.strerror}") from None

    def place(self, complete: bool) -> None:
        """The finished images into the output folder; the work folder goes once the job is `complete`, or where
        this run made it and nothing was finished."""
        if not self.work.is_dir():
            return
        waiting = [name for name in self.done if (self.work / name).is_file()]
        if waiting:
            self.target.mkdir(exist_ok=True)
        for name in waiting:
            os.replace(self.work / name, self.target / name)
        if complete or (self._ready and not self.done):
            shutil.rmtree(self.work)


def _image_pairs(input_path: Path, output_path: Path) -> list[tuple[Path, Path]]:
    """(source, destination) for one image or a folder of them (same names out)."""
    if not input_path.exists():
        raise InputError(f"no such file or folder: {input_path}")
    if input_path.is_dir():
        pairs = [(p, output_path / p.name) for p in sorted(input_path.iterdir()) if p.is_file() and is_image_path(p)]
        if not pairs:
            raise InputError(f"no images in {input_path} ({', '.join(IMAGE_SUFFIXES)})")
        if output_path.resolve() == input_path.resolve():
            raise OutputError("the output folder is the input folder; the input would be overwritten")
        if output_path.exists() and not output_path.is_dir():
            raise OutputError(f"{output_path} is not a folder")
        return pairs
    if not is_image_path(input_path):
        raise InputError(f"{input_path} is not an image ({', '.join(IMAGE_SUFFIXES)}); "
                         "use `lumiere restore` with a video file for video")
    if output_path.resolve() == input_path.resolve():
        raise OutputError("the output is the input; it would be overwritten")
    if not is_image_path(output_path):
        raise OutputError(f"{output_path}: give an image file name (.png, .tiff, .jpg ...)")
    return [(input_path, output_path)]


def _some(names: list[str], shown: int = 3) -> str:
    """A list of names, cut short: 'a.png, b.png, c.png and 9 more'."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _render(work: StillWork, source: Path, destination: Path) -> Image:
    image = read_image(source)
    if image.alpha is not None and destination.suffix.lower() not in ALPHA_SUFFIXES:
        raise OutputError(f"{source} has an alpha channel; write it as .png or .tiff, not {destination.suffix}")
    return work(source.name, image)


def process_stills(input_path: Path, output_path: Path, work: StillWork, show_progress: bool = True,
                   overwrite: bool = False) -> tuple[list[Path], list[tuple[Path, str]], list[str]]:
    """One image to one file, or a folder of images to a folder (same names), in an existing folder (the caller
    makes it: `output.output_folder`); returns the files written, for a folder the images skipped with the reason,
    and notices. Existing outputs are replaced only with `overwrite`; an interrupted folder goes on where it
    stopped (see `FolderRecord`). In a folder an image that cannot be read or written is skipped and reported (as
    a batch of films is): the others are still worth having."""
    from tqdm import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    pairs = _image_pairs(input_path, output_path)
    check_output_folder(output_path.parent)
    if not input_path.is_dir():
        if output_path.exists() and not overwrite:
            raise OutputError(f"{output_path} exists; add $overwrite to replace it")
        work.prepare()
        write_image(output_path, _render(work, input_path, output_path))
        return [output_path], [], work.notices()
    fingerprint = work.fingerprint()
    folder = WorkFolder(output_path)  # a second run at this folder is refused, not interleaved
    try:
        record = FolderRecord(folder, output_path, fingerprint, overwrite)
        resumed = [destination for source, destination in pairs if record.is_done(source, destination)]
        existing = [destination.name for _, destination in pairs
                    if destination.exists() and destination not in resumed]
        if existing and not overwrite:
            raise OutputError(f"{len(existing)} of the images in {output_path} exist ({_some(existing)}); add "
                              "$overwrite to replace them")
        written, failed = list(resumed), []
        pending = [pair for pair in pairs if pair[1] not in resumed]
        work.prepare()
        for source, destination in tqdm(pending, unit="image", desc=work.label, disable=not show_progress):
            try:
                record.keep(source, destination, _render(work, source, destination))
            except (InputError, OutputError) as exc:
                failed.append((source, str(exc)))
                continue
            written.append(destination)
        record.place(complete=not failed)
    finally:
        folder.release()
    notices = work.notices()
    if resumed:
        notices.insert(0, f"{len(resumed)} of {len(pairs)} images were finished by an earlier run of this job")
    return written, failed, notices
