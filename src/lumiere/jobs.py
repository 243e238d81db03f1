"""The jobs: restore a film, upscale and colorize stills. `api` (the Python API, which the CLI and the web app
call) gives them their defaults."""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from pathlib import Path

import torch

from .compare import compare
from .degradations.functional import resize
from .engine.runner import Runners, RunnerSettings
from .errors import InputError, OutputError
from .io.color import ColorInfo
from .io.images import ALPHA_SUFFIXES, IMAGE_SUFFIXES, Image, is_gray, is_image_path, read_image, write_image
from .io.reader import Source, open_source
from .io.writer import plan_source_streams, remove_files_of_dead_processes, video_file
from .job import Job
from .manifest import files_record, settings_hash, write_atomically
from .models.loader import resolve_model_path
from .ops import array_to_tensor, tensor_to_array
from .output import (
    auto_chunk_frames,
    check_not_finished,
    check_output_folder,
    check_paths,
    format_duration,
    plan_output,
    work_folder,
)
from .plan import build_stages, plan_stages
from .stages.colorize import ColorizeSettings, ColorizeStage, References, colorizer
from .stages.settings import StageSettings
from .stages.upscale import UpscaleSettings, UpscaleStage, input_kind, upscale_stage

PREVIEW_PREFIX = ".lumiere-preview-"


def preview_frames(frame_count: int, fps: Fraction, seconds: float) -> range:
    """The frames a preview of `seconds` restores: that long from the middle of the film."""
    count = min(frame_count, max(1, round(seconds * fps)))
    start = (frame_count - count) // 2
    return range(start, start + count)


def _preview_clip(source: Source, seconds: float, folder: Path, show_progress: bool) -> Path:
    """The middle `seconds` of a film as a lossless file in `folder` (hidden), timestamps from zero."""
    from tqdm import tqdm

    info = source.info
    frames = preview_frames(info.frame_count, info.fps, seconds)
    start, count = frames.start, len(frames)
    remove_files_of_dead_processes(folder, f"{PREVIEW_PREFIX}{{pid}}.mkv")
    clip = folder / f"{PREVIEW_PREFIX}{os.getpid()}.mkv"
    encode = plan_output(clip, "ffv1", None, None, None, info.bit_depth).encode
    first_pts = None
    with (video_file(clip, encode, info.width, info.height, info.fps, info.time_base, info.color) as writer,
          tqdm(total=count, unit="frame", desc="preview clip", disable=not show_progress) as progress):
        for frame in source.frames(start):
            if frame.index >= start + count:
                break
            first_pts = frame.pts if first_pts is None else first_pts
            writer.write(frame.rgb, frame.pts - first_pts, frame.duration)
            progress.update(1)
    return clip


def _summary(label: str, title: str, info, job: Job, runners: Runners, seconds_per_frame: float) -> str:
    """One line of what a job will do: input, frames, sizes, stages, networks and how they run, time left."""
    frames = f"{info.frame_count} frames {info.width}x{info.height} -> {job.size[0]}x{job.size[1]}"
    if job.fps != info.fps:
        frames += f" at {float(job.fps):g} fps"
    stages = ", ".join(stage.name for stage in job.stages) or "no stage (a copy)"
    networks = "; ".join(runner.describe(max(info.width, info.height)) for runner in runners.loaded())
    left = job.frames_left()
    resumed = f"{info.frame_count - left} frames already done, " if left < info.frame_count else ""
    estimate = (f"{resumed}about {format_duration(seconds_per_frame * left)} to go "
                f"({seconds_per_frame:.2f} s a frame, timed on the first)")
    return f"{label} {title}: {frames}; {stages}; {networks or 'no network'}; {estimate}"


def restore(input_path: Path, output_path: Path, *settings: StageSettings, runner: RunnerSettings = RunnerSettings(),
            preview: float | None = None, codec: str | None = None, crf: int | None = None,
            preset: str | None = None, bit_depth: int | None = None, source_fps: Fraction | None = None,
            chunk_frames: int | None = None, batch: int = 1, restart: bool = False, overwrite: bool = False,
            ray: str | None = None, show_progress: bool = True, report: Callable[[str], None] | None = None,
            label: str = "restore", title: str | None = None) -> tuple[Path, list[str]]:
    """Restore a film through the stages of `settings` (in any order: they run in `plan.FILM_STAGES`'s); with
    `preview`, only that many seconds from its middle, plus a before/after video; with `ray` (a cluster address,
    or "auto"), its chunks are rendered as Ray tasks. A finished output is replaced only with `overwrite`; an
    unfinished job at the output resumes unless `restart`.

    `report` hears what is happening before the frames start (loading, then one line of what the job will do,
    with a time estimate from a first frame, which costs that frame twice); `label` names the progress bar and
    `title` the film in what `report` hears (default: its file name)."""
    if preview is not None:
        source = open_source(Path(input_path), source_fps)
        output = plan_output(Path(output_path), codec, crf, preset, bit_depth, source.info.bit_depth)
        check_paths(source.info.path, output, overwrite)
        if output.kind != "video":
            raise OutputError("$preview writes a video file; give $output a .mp4/.mkv/.mov name")
        comparison = output.path.with_name(f"{output.path.stem}-compare.mp4")
        if comparison.resolve() == source.info.path.resolve():
            raise OutputError(f"the preview's before | after video {comparison} would overwrite the input; give "
                              "$output another name")
        if not overwrite:
            check_not_finished(comparison)
        clip = _preview_clip(source, preview, output.path.parent, show_progress)
        try:
            path, notices = restore(clip, output_path, *settings, runner=runner, codec=codec, crf=crf,
                                    preset=preset, bit_depth=bit_depth, chunk_frames=chunk_frames, batch=batch,
                                    restart=True, overwrite=True, show_progress=show_progress, report=report,
                                    label=f"{label} preview",
                                    title=f"{source.info.path.name} ({preview:g} s from the middle)")
            compare(clip, path, comparison, "split", show_progress=show_progress)
        finally:
            clip.unlink(missing_ok=True)
        return path, [*notices, f"preview of {preview:g} s from the middle (no sound); before | after: {comparison}"]
    source = open_source(Path(input_path), source_fps)
    info = source.info
    output = plan_output(Path(output_path), codec, crf, preset, bit_depth, info.bit_depth)
    check_paths(info.path, output, overwrite)
    retiming = [s for s in settings if s.retimes]
    if retiming and output.kind != "video":
        raise OutputError(f"${retiming[-1].options[0].name} writes a video file; give $output a .mp4/.mkv/.mov name "
                          "(frames can be taken from it)")
    if ray is not None and output.kind != "video":
        raise OutputError("$ray writes a video file; give $output a .mp4/.mkv/.mov name")
    notices = []
    if output.kind == "video" and info.kind == "video":
        plan_source_streams(info.path, output.path.suffix)  # refuse an audio it cannot write before any work
    even = output.kind == "video" and not output.encode.is_rgb
    upscale = next((s for s in settings if isinstance(s, UpscaleSettings)), UpscaleSettings())
    out_size = upscale.wants_upscale((info.width, info.height), even) or (info.width, info.height)
    exact_size = upscale.wants_upscale((info.width, info.height), False) or (info.width, info.height)
    if out_size != exact_size:
        notices.append(f"the output is {out_size[0]}x{out_size[1]}, rounded up from {exact_size[0]}x{exact_size[1]}: "
                       f"{output.encode.codec} needs an even frame size (ffv1 keeps odd sizes)")
    if chunk_frames is None:
        chunk_frames = auto_chunk_frames(output, out_size)
    runners = Runners(runner)  # measuring and the stages share the networks: each loaded once
    if report is not None:
        report(f"loading the networks and measuring {title or info.path.name}")
    plan = plan_stages(source, settings, runner, even, runners)
    planned = plan.get(UpscaleSettings)
    if plan.film.out_size is not None and upscale.kind is None and planned.kind is not None:
        choice = planned.choice(plan.film.size, plan.film.out_size, video=True)
        notices.append(f"the film looks {'film-damaged' if planned.kind == 'film' else 'clean'}: enlarged by "
                       f"{choice} (--model or --look to choose)")
    colorize = plan.get(ColorizeSettings)
    if colorize is not None and not is_gray(next(source.frames()).rgb):
        notices.append("the film already has colour; its lightness alone was colorized")
    job = Job(source, build_stages(plan, runners), output, chunk_frames=chunk_frames, batch=batch, restart=restart,
              settings=settings_hash(source, output, plan.settings(), plan.files(), chunk_frames),
              show_progress=show_progress, color=ColorInfo.bt709() if colorize is not None else None, label=label)
    starting = None if report is None else lambda: report(
        _summary(label, title or info.path.name, info, job, runners, job.seconds_per_frame()))
    executor = None
    if ray is not None:
        from .distributed import run_on_ray

        executor = partial(run_on_ray, address=ray, plan=plan, play_fps=source_fps, show_progress=show_progress)
    return output.path, notices + job.run(executor, starting)


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
    out_size = settings.wants_upscale(image.size, even=False)
    if out_size is None:
        return image, None
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
            notices.append("lumiere chose by how film-damaged each image looks; --model or --look to choose")
        if self.coloured_inputs:
            notices.append(f"{len(self.coloured_inputs)} input(s) already had colour ({_some(self.coloured_inputs)}); "
                           "their lightness alone was colorized")
        return notices


IMAGES_RECORD = "images.json"


class FolderRecord:
    """A folder of images in progress, kept in the work folder beside the output folder (`output.work_folder`):
    the finished images wait there, named in a record with the settings' fingerprint and the input each came from,
    and move into the output folder together once every image is done. So an interrupted job goes on where it
    stopped when run again with the same settings, and an interrupted `overwrite` leaves the old images as they
    were; the work folder goes once everything is in place."""

    def __init__(self, target: Path, fingerprint: str, overwrite: bool):
        self.target, self.fingerprint = target, fingerprint
        self.work = work_folder(target)
        self.done: dict[str, list[int]] = {}
        self._stale = False  # the work folder holds another job's state, to be discarded before the first write
        self._ready = False  # the work folder is made and cleared of a killed run's unfinished images
        if not self.work.exists():
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
            if self._stale:
                shutil.rmtree(self.work)
            self.work.mkdir(exist_ok=True)
            for unfinished in self.work.glob(".*.partial"):  # a killed run's image, cut off as it was written
                unfinished.unlink()
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
    record = FolderRecord(output_path, work.fingerprint(), overwrite)
    resumed = [destination for source, destination in pairs if record.is_done(source, destination)]
    existing = [destination.name for _, destination in pairs if destination.exists() and destination not in resumed]
    if existing and not overwrite:
        raise OutputError(f"{len(existing)} of the images in {output_path} exist ({_some(existing)}); add $overwrite "
                          "to replace them")
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
    notices = work.notices()
    if resumed:
        notices.insert(0, f"{len(resumed)} of {len(pairs)} images were finished by an earlier run of this job")
    return written, failed, notices
