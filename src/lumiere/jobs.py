"""The film job: restore a film, or a preview of its middle, planned once and then run (`stills` is the job for
pictures). `api` (the Python API, which the CLI and the web app call) gives it its defaults."""

import os
import shutil
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from functools import partial
from pathlib import Path

from .compare import compare
from .engine.precision import select_device
from .engine.runner import Runners, RunnerSettings
from .errors import OutputError
from .io.color import ColorInfo
from .io.images import is_gray
from .io.reader import Source, open_source
from .io.writer import plan_source_streams, remove_files_of_dead_processes, write_clip
from .job import Job
from .manifest import settings_hash
from .output import (
    EncodeRequest,
    auto_chunk_frames,
    check_not_finished,
    check_paths,
    format_duration,
    plan_output,
)
from .plan import build_stages, plan_stages
from .progress import Progress
from .stages.colorize import ColorizeSettings
from .stages.settings import StageSettings
from .stages.upscale import UpscaleSettings
from .workfolder import WorkFolder

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
    remove_files_of_dead_processes(folder, f"{PREVIEW_PREFIX}{{pid}}.mkv")
    clip = folder / f"{PREVIEW_PREFIX}{os.getpid()}.mkv"
    encode = plan_output(clip, EncodeRequest("ffv1"), info.bit_depth).encode
    return write_clip(source, clip, encode, preview_frames(info.frame_count, info.fps, seconds), from_zero=True)


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
            preview: float | None = None, encode: EncodeRequest | None = None, source_fps: Fraction | None = None,
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
    runner, encode = runner or RunnerSettings(), encode or EncodeRequest()
    if preview is not None:
        return _preview(Path(input_path), Path(output_path), settings, preview, runner=runner, encode=encode,
                        source_fps=source_fps, chunk_frames=chunk_frames, batch=batch, overwrite=overwrite,
                        show_progress=show_progress, report=report, label=label)
    source = open_source(Path(input_path), source_fps)
    return _restore(source, Path(output_path), settings, runner=runner, encode=encode, chunk_frames=chunk_frames,
                    batch=batch, restart=restart, overwrite=overwrite, ray=ray, source_fps=source_fps,
                    show_progress=show_progress, report=report, label=label, comparison=comparison)


def _preview(input_path: Path, output_path: Path, settings: Iterable[StageSettings], seconds: float, *,
             runner: RunnerSettings, encode: EncodeRequest, source_fps, chunk_frames, batch, overwrite,
             show_progress, report, label) -> tuple[Path, list[str]]:
    """`seconds` from the middle of a film restored into `output_path`, and a before | after video of them
    beside it (OUT-compare.mp4)."""
    source = open_source(input_path, source_fps)
    output = plan_output(output_path, encode, source.info.bit_depth)
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
        path, notices = _restore(open_source(clip), output_path, settings, runner=runner, encode=encode,
                                 chunk_frames=chunk_frames, batch=batch, restart=True, overwrite=True, ray=None,
                                 source_fps=None,
                                 show_progress=show_progress, report=report,
                                 label=f"{label} preview", title=f"{source.info.path.name} ({seconds:g} s from the "
                                                                 "middle)", comparison=comparison)
    finally:
        clip.unlink(missing_ok=True)
    return path, [*notices, f"preview of {seconds:g} s from the middle (no sound); before | after: {comparison}"]


def _restore(source: Source, output_path: Path, settings: Iterable[StageSettings], *, runner: RunnerSettings,
             encode: EncodeRequest, chunk_frames, batch, restart, overwrite, ray, source_fps, show_progress, report,
             label, title: str | None = None, comparison: Path | None = None) -> tuple[Path, list[str]]:
    """The film job: checked, planned once, then run; with `comparison`, a before | after video of the input and
    the result is written there after it, on the same bar."""
    info = source.info
    output = plan_output(output_path, encode, info.bit_depth)
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
    work = WorkFolder(output.target)  # before the slow part: a second run at this output is refused at once
    try:
        if not overwrite:  # a run that held the output while it was checked may have finished it since
            check_not_finished(output.target, work_folder_is_new=work.made)
        runners = Runners(runner)  # measuring and the stages share the networks: each loaded once
        if report is not None:
            report(f"loading the networks and measuring {title or info.path.name}")
        plan = plan_stages(source, settings, runner, even, runners)
        out_size = plan.film.out_size or plan.film.size
        if plan.asked_size not in (None, out_size):
            notices.append(f"the output is {out_size[0]}x{out_size[1]}, rounded up from {plan.asked_size[0]}x"
                           f"{plan.asked_size[1]}: {output.encode.codec} needs an even frame size (ffv1 keeps odd "
                           "sizes)")
        chunk_frames = chunk_frames or auto_chunk_frames(output, out_size)
        upscale = plan.get(UpscaleSettings)
        if upscale is not None and upscale.measured_kind is not None:
            notices.append(f"the film looks {'film-damaged' if upscale.measured_kind == 'film' else 'clean'}: "
                           f"enlarged by {upscale.chosen} ($model or $look to choose)")
        if (report is not None and upscale is not None and upscale.quality == "high" and upscale.chosen is not None
                and select_device(runner.device).type == "cpu"):
            report(f"note: the high-quality network ({upscale.chosen}) is made for GPUs: on this CPU it runs many "
                   "times slower than the standard one (the time to go follows its first frames)")
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
