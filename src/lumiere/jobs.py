"""The jobs: restore a film, upscale and colorize stills. `api` (the Python API, which the CLI and the web app
call) gives them their defaults."""

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from functools import partial
from pathlib import Path

import torch

from .compare import compare
from .degradations.functional import resize
from .engine.precision import select_device
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
from .progress import Progress
from .stages.colorize import ColorizeSettings, ColorizeStage, References, colorizer
from .stages.settings import StageSettings
from .stages.upscale import UpscaleSettings, UpscaleStage, input_kind, upscale_stage
from .workfolder import LOCK, WorkFolder

PREVIEW_PREFIX = ".lumiere-preview-"


def preview_frames(frame_count: int, fps: Fraction, seconds: float) -> range:
    """The frames a preview of `seconds` restores: that long from the middle of the film."""
    count = min(frame_count, max(1, round(seconds * fps)))
    start = (frame_count - count) // 2
    return range(start, start + count)


def _preview_clip(source: Source, seconds: float, folder: Path) -> Path:
    """The middle `seconds` of a film as a lossless file in `folder` (hidden), timestamps from zero: a copy of a
    few seconds, too quick for a bar of its own beside the job's."""
    info = source.info
    frames = preview_frames(info.frame_count, info.fps, seconds)
    start, count = frames.start, len(frames)
    remove_files_of_dead_processes(folder, f"{PREVIEW_PREFIX}{{pid}}.mkv")
    clip = folder / f"{PREVIEW_PREFIX}{os.getpid()}.mkv"
    encode = plan_output(clip, "ffv1", None, None, None, info.bit_depth).encode
    first_pts = None
    with video_file(clip, encode, info.width, info.height, info.fps, info.time_base, info.color) as writer:
        for frame in source.frames(start):
            if frame.index >= start + count:
                break
            first_pts = frame.pts if first_pts is None else first_pts
            writer.write(frame.rgb, frame.pts - first_pts, frame.duration)
    return clip


def _summary(label: str, title: str, source: Source, job: Job, runners: Runners, seconds_left: float) -> str:
    """One line of what a job will do: input, frames, sizes, stages, networks and how they run, time to go."""
    info = source.info
    frames = f"{info.frame_count} frames {info.width}x{info.height} -> {job.size[0]}x{job.size[1]}"
    if job.fps != info.fps or job.time_stretch != 1:
        made_up = 1 - float(info.fps) / (float(job.fps) * job.time_stretch)
        slow = f", {job.time_stretch:g}x slow motion" if job.time_stretch != 1 else ""
        frames += f" at {float(job.fps):g} fps{slow}"
        if made_up > 0:
            frames += f" ({made_up:.0%} of the frames made up between the film's own)"
    stages = ", ".join(dict.fromkeys(stage.name for stage in job.stages))
    if source.retimed:
        stages = ", ".join(filter(None, [f"re-timed to play at {float(info.fps):g} fps", stages]))
    networks = "; ".join(runner.describe(max(info.width, info.height)) for runner in runners.loaded())
    left = job.frames_left()
    resumed = f"{info.frame_count - left} frames already done, " if left < info.frame_count else ""
    estimate = f"{resumed}about {format_duration(seconds_left)} to go (timed on its first frames)"
    return f"{label} {title}: {frames}; {stages or 'no stage (a copy)'}; {networks or 'no network'}; {estimate}"


def _time_to_go(job: Job, comparison_of: Path | None) -> tuple[float, float]:
    """Seconds a film frame costs, and a compared frame where a comparison with `comparison_of` follows: the job's
    first frames rendered as the job will render them, then compared, and timed."""
    scratch = job.work.path / f"time-to-go{job.output.encode.spec.chunk_suffix if job.output.kind == 'video' else ''}"
    compared = job.work.path / "time-to-go-compare.mp4"
    try:
        per_frame = job.time_frames(scratch)
        per_compared = 0.0
        if comparison_of is not None:
            started = time.perf_counter()
            compare(comparison_of, scratch, compared, "split", show_progress=False)
            per_compared = (time.perf_counter() - started) / max(1, open_source(scratch).info.frame_count)
    finally:
        for path in (scratch, compared):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return per_frame, per_compared


def restore(input_path: Path, output_path: Path, *settings: StageSettings, runner: RunnerSettings | None = None,
            preview: float | None = None, codec: str | None = None, crf: int | None = None,
            preset: str | None = None, bit_depth: int | None = None, source_fps: Fraction | None = None,
            chunk_frames: int | None = None, batch: int = 1, restart: bool = False, overwrite: bool = False,
            ray: str | None = None, comparison: Path | None = None, show_progress: bool = True,
            report: Callable[[str], None] | None = None, label: str = "restore") -> tuple[Path, list[str]]:
    """Restore a film through the stages of `settings` (in any order: they run in `plan.FILM_STAGES`'s); with
    `preview`, only that many seconds from its middle, plus a before/after video; with `ray` (a cluster address,
    or "auto"), its chunks are rendered as Ray tasks; with `comparison`, a before | after video of the film and
    the result is written there after it, as part of the job. A finished output is replaced only with
    `overwrite`; an unfinished job at the output resumes unless `restart`.

    `report` hears what is happening before the frames start (loading, then one line of what the job will do,
    with the time to go, timed on its first frames); `label` names the progress bar."""
    runner = runner or RunnerSettings()
    if preview is not None:
        return _preview(Path(input_path), Path(output_path), settings, preview, runner=runner, codec=codec, crf=crf,
                        preset=preset, bit_depth=bit_depth, source_fps=source_fps, chunk_frames=chunk_frames,
                        batch=batch, overwrite=overwrite, show_progress=show_progress, report=report, label=label)
    source = open_source(Path(input_path), source_fps)
    return _restore(source, Path(output_path), settings, runner=runner, codec=codec, crf=crf, preset=preset,
                    bit_depth=bit_depth, chunk_frames=chunk_frames, batch=batch, restart=restart,
                    overwrite=overwrite, ray=ray, source_fps=source_fps, show_progress=show_progress, report=report,
                    label=label, comparison=comparison)


def _preview(input_path: Path, output_path: Path, settings: Iterable[StageSettings], seconds: float, *,
             runner: RunnerSettings, codec, crf, preset, bit_depth, source_fps, chunk_frames, batch, overwrite,
             show_progress, report, label) -> tuple[Path, list[str]]:
    """`seconds` from the middle of a film restored into `output_path`, and a before | after video of them
    beside it (OUT-compare.mp4)."""
    source = open_source(input_path, source_fps)
    output = plan_output(output_path, codec, crf, preset, bit_depth, source.info.bit_depth)
    check_paths(source.info.path, output, overwrite)
    if output.kind != "video":
        raise OutputError("$preview writes a video file; give $output a .mp4/.mkv/.mov name")
    comparison = output.path.with_name(f"{output.path.stem}-compare.mp4")
    if comparison.resolve() == source.info.path.resolve():
        raise OutputError(f"the preview's before | after video {comparison} would overwrite the input; give "
                          "$output another name")
    if not overwrite:
        check_not_finished(comparison)
    clip = _preview_clip(source, seconds, output.path.parent)
    try:
        path, notices = _restore(open_source(clip), output_path, settings, runner=runner, codec=codec, crf=crf,
                                 preset=preset, bit_depth=bit_depth, chunk_frames=chunk_frames, batch=batch,
                                 restart=True, overwrite=True, ray=None, source_fps=None,
                                 show_progress=show_progress, report=report,
                                 label=f"{label} preview", title=f"{source.info.path.name} ({seconds:g} s from the "
                                                                 "middle)", comparison=comparison)
    finally:
        clip.unlink(missing_ok=True)
    return path, [*notices, f"preview of {seconds:g} s from the middle (no sound); before | after: {comparison}"]


def _restore(source: Source, output_path: Path, settings: Iterable[StageSettings], *, runner: RunnerSettings, codec,
             crf, preset, bit_depth, chunk_frames, batch, restart, overwrite, ray, source_fps, show_progress, report,
             label, title: str | None = None, comparison: Path | None = None) -> tuple[Path, list[str]]:
    """The film job: checked, planned once, then run; with `comparison`, a before | after video of the input and
    the result is written there after it, on the same bar."""
    info = source.info
    output = plan_output(output_path, codec, crf, preset, bit_depth, info.bit_depth)
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
    work = WorkFolder(output.target)  # before the slow part: a second run at this output is refused at once
    try:
        if not overwrite:  # a run that held the output while it was checked may have finished it since
            check_not_finished(output.target, work_folder_is_new=work.made)
        runners = Runners(runner)  # measuring and the stages share the networks: each loaded once
        if report is not None:
            if upscale.quality == "high" and select_device(runner.device).type == "cpu":
                report("note: the high-quality network is RRDB-size, made for GPUs: on this CPU it runs about 25x "
                       "slower than the standard one (the time to go follows its first frames)")
            report(f"loading the networks and measuring {title or info.path.name}")
        plan = plan_stages(source, settings, runner, even, runners)
        out_size = plan.film.out_size or plan.film.size
        exact_size = upscale.wants_upscale(plan.film.size, even=False) or plan.film.size
        if out_size != exact_size:
            notices.append(f"the output is {out_size[0]}x{out_size[1]}, rounded up from {exact_size[0]}x"
                           f"{exact_size[1]}: {output.encode.codec} needs an even frame size (ffv1 keeps odd sizes)")
        chunk_frames = chunk_frames or auto_chunk_frames(output, out_size)
        planned = plan.get(UpscaleSettings)
        if plan.film.out_size is not None and upscale.kind is None and planned.kind is not None:
            choice = planned.choice(plan.film.size, plan.film.out_size, video=True)
            notices.append(f"the film looks {'film-damaged' if planned.kind == 'film' else 'clean'}: enlarged by "
                           f"{choice} ($model or $look to choose)")
        colorize = plan.get(ColorizeSettings)
        if colorize is not None and not is_gray(next(source.frames()).rgb):
            notices.append("the film already has colour; its lightness alone was colorized")
        job = Job(source, build_stages(plan, runners), output, chunk_frames=chunk_frames, batch=batch,
                  restart=restart, work=work, settings=settings_hash(source, output, plan.settings(), plan.files(),
                                                                     chunk_frames),
                  color=ColorInfo.bt709() if colorize is not None else None)
    except BaseException:
        work.release()
        raise
    compared_frames = round(info.frame_count * job.fps / info.fps) if comparison is not None else 0
    bars: list[Progress] = []
    frame_compared: list[Callable[[], None] | None] = [None]

    def starting() -> Progress | None:
        """The time to go said, and the job's bar: a compared frame weighs what it costs next to a film frame."""
        if not show_progress and report is None:
            return None
        per_frame, per_compared = _time_to_go(job, info.path if comparison is not None else None)
        if report is not None:
            seconds = per_frame * job.frames_left() + per_compared * compared_frames
            report(_summary(label, title or info.path.name, source, job, runners, seconds))
        weight = per_compared / per_frame if per_frame > 0 else 0.0
        progress = Progress(label, info.frame_count + weight * compared_frames, job.done_frames(), show_progress)
        bars.append(progress)
        if comparison is not None:
            frame_compared[0] = lambda: progress.advance(weight)
        return progress

    executor = None
    if ray is not None:
        from .distributed import run_on_ray

        executor = partial(run_on_ray, address=ray, plan=plan, play_fps=source_fps)
    try:
        notices += job.run(executor, starting)
        if comparison is not None:
            compare(info.path, output.path, comparison, "split", show_progress=show_progress and not bars,
                    frame_done=frame_compared[0])
        for progress in bars:
            progress.complete()
    finally:
        for progress in bars:
            progress.close()
    return output.path, notices


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
    """A folder of images in progress, kept in the work folder beside the output folder (`output.work_folder`,
    locked by this process's `WorkFolder`): the finished images wait there, named in a record with the settings'
    fingerprint and the input each came from, and move into the output folder together once every image is done. So an
    interrupted job goes on where it stopped when run again with the same settings, and an interrupted `overwrite`
    leaves the old images as they were; the work folder goes once everything is in place."""

    def __init__(self, target: Path, fingerprint: str, overwrite: bool):
        self.target, self.fingerprint = target, fingerprint
        self.work = work_folder(target)
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
    work_folder_lock = WorkFolder(output_path)  # a second run at this folder is refused, not interleaved
    try:
        record = FolderRecord(output_path, fingerprint, overwrite)
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
        work_folder_lock.release()
    notices = work.notices()
    if resumed:
        notices.insert(0, f"{len(resumed)} of {len(pairs)} images were finished by an earlier run of this job")
    return written, failed, notices
