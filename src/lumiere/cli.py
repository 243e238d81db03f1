"""The `lumiere` command line."""

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from .errors import LumiereError, spelled


def _interrupt_once(signum, frame):
    """Ctrl-C stops the job; a second Ctrl-C while the first one's clean-up runs must not break that clean-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


class LumiereGroup(click.Group):
    """Turns every expected failure into one line on stderr and a non-zero exit."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Usage errors (an unknown option, a bad value) as one `lumiere: error:` line and status 1, like every
        other error, instead of click's usage block and status 2."""
        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, _interrupt_once) if on_main_thread else None
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:  # `lumiere` alone, or a group without its command
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.ClickException as exc:
            message = "; ".join(line.strip() for line in exc.format_message().splitlines() if line.strip())
            context = getattr(exc, "ctx", None)
            hint = f" (see `{context.command_path} --help`)" if isinstance(exc, click.UsageError) and context else ""
            click.echo(f"lumiere: error: {message}{hint}", err=True)
            sys.exit(1)
        except click.exceptions.Abort:
            click.echo("lumiere: interrupted", err=True)
            sys.exit(130)
        finally:
            # after a Ctrl-C the process is on its way out: a second one stays ignored until it is gone (restored,
            # it would kill the exit midway)
            if previous is not None and signal.getsignal(signal.SIGINT) is _interrupt_once:
                signal.signal(signal.SIGINT, previous)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LumiereError as exc:
            message = exc.spelled(spell)
            hint = "" if "--restart" in message else resume_hint(ctx)  # the error has its own word on that
            click.echo(f"lumiere: error: {message}{hint}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(f"lumiere: interrupted{resume_hint(ctx)}", err=True)
            sys.exit(130)
        except MemoryError:
            click.echo(f"lumiere: error: out of memory; try a smaller --tile{resume_hint(ctx)}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # the reader went away (`lumiere models | head`): nothing left to tell anyone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except OSError as exc:
            if os.environ.get("LUMIERE_DEBUG"):
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"lumiere: error: {exc.strerror or exc}{where}{resume_hint(ctx)}", err=True)
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("LUMIERE_DEBUG"):
                raise
            click.echo(f"lumiere: internal error: {type(exc).__name__}: {exc} "
                       "(set LUMIERE_DEBUG=1 for the traceback, and please report it)", err=True)
            sys.exit(2)


@click.group(cls=LumiereGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lumiere")
def main():
    """Restore old film: upscale, repair and colorize scans with neural networks.

    \b
    Start with:
      lumiere restore film.mp4 -o film-4k.mp4 --to 4k
      lumiere compare film.mp4 film-4k.mp4 -o before-after.mp4
      lumiere web                      (the same in a page in your browser)
    """
    logging.basicConfig(format="lumiere: %(message)s", level=logging.WARNING)
    from ._malloc import keep_freed_memory

    keep_freed_memory()


JOB_OUTPUT = "lumiere.job_output"  # ctx.meta key: the output of the film or folder job being made


def resume_hint(ctx: click.Context) -> str:
    """After a failed or interrupted film or folder job, how to go on from what it kept, or how to start over."""
    from .output import work_folder
    from .stills import kept_images
    from .workfolder import kept_work

    target = ctx.meta.get(JOB_OUTPUT)
    if target is None:
        return ""
    kept = kept_work(target)
    if kept is not None:
        return f"; {kept}: run the same command again to resume, or add --restart to start over"
    images = kept_images(target)
    if images:
        return (f"; {images} finished image(s) are kept in {work_folder(Path(target))}: run the same command again "
                "to go on")
    return ""


def _say(line: str) -> None:
    click.echo(f"lumiere: {spelled(line, spell)}", err=True)


def spell(option: str) -> str:
    """An option's name as this command line spells it."""
    return "-o" if option == "output" else "--" + option.replace("_", "-")


# Short spellings people bring from Real-ESRGAN's tools (-s 4, -n MODEL) for stage options.
SHORT_NAMES = {"scale": "-s", "model": "-n"}


def _accepted_values(param: click.Parameter) -> tuple[str, ...]:
    """The values an option takes where they are a known list."""
    if isinstance(param.type, click.Choice):
        return tuple(map(str, param.type.choices))
    if param.name == "encoder_preset":  # free text, checked against the codec once it is known
        from .io.writer import CODECS

        return tuple(dict.fromkeys(preset for spec in CODECS.values() for preset in spec.presets))
    return ()


class Choice(click.Choice):
    """A choice whose refusal names the option of the same command that takes the value, where one does:
    `--preset slow` is answered with `--encoder-preset slow`."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            if ctx is None:
                raise
            for other in ctx.command.get_params(ctx):
                if other is param or not isinstance(other, click.Option):
                    continue
                if str(value).lower() in (accepted.lower() for accepted in _accepted_values(other)):
                    name = max(other.opts, key=len)
                    self.fail(f"{value!r} is not one of {', '.join(map(str, self.choices))}; did you mean "
                              f"`{name} {value}`?", param, ctx)
            raise


def _click_option(option) -> click.Option:
    """A stage's declared option as a click option of the same name, type, default and help."""
    kind = option.kind
    names = [spell(option.name), *([SHORT_NAMES[option.name]] if option.name in SHORT_NAMES else [])]
    if kind is bool:
        return click.Option(names, is_flag=True, help=option.help)
    # choices and bounds are the library's to check (`stages/settings.checked`): it names every bad value at once
    value_type = click.Path(path_type=Path) if kind is Path else kind
    metavar = option.metavar or ("[" + "|".join(option.choices) + "]" if option.choices else None)
    bare = {"is_flag": False, "flag_value": option.bare} if option.bare is not None else {}
    return click.Option(names, type=value_type, default=option.default, multiple=option.many,
                        show_default=option.default is not None, metavar=metavar,
                        help=spelled(option.help, spell), **bare)


class StageOptionsCommand(click.Command):
    """A command whose stage options are made from the stages' own declarations (`stages/settings.py`), after
    its `-o`, on first use: they import the stages, and so PyTorch, which `lumiere --help` need not wait for."""

    def __init__(self, *args, stage_options, **kwargs):
        super().__init__(*args, **kwargs)
        self._stage_options = stage_options
        self._added = False

    def get_params(self, ctx):
        if not self._added:
            at = next(k for k, param in enumerate(self.params) if param.name == "output") + 1
            self.params[at:at] = [_click_option(option) for option in self._stage_options()]
            self._added = True
        return super().get_params(ctx)


def _every_stage_option():
    from .plan import stage_options

    return stage_options().values()


def _upscale_stage_options():
    from .stages.colorize import ColorizeSettings
    from .stages.upscale import UpscaleSettings

    return (*UpscaleSettings.options, *ColorizeSettings.options)


def _colorize_stage_options():
    from .stages.colorize import ColorizeSettings

    return [option for option in ColorizeSettings.options if option.name != "colorize"]


# io/writer.py's CODECS and IMAGE_CODECS, and engine/precision.py's PRECISIONS, named here so the command line
# starts without importing PyAV or PyTorch
CODEC_CHOICES = ["h264", "h265", "av1", "ffv1", "prores", "h264-nvenc", "h265-nvenc", "png", "tiff"]
PRECISION_CHOICES = ["auto", "fp32", "fp16", "bf16", "int8"]


def _runner_options(function, tile: bool = True):
    """How every network of the command runs (`tile` False: the command's networks see whole pictures)."""
    options = [
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
        click.option("--precision", type=Choice(PRECISION_CHOICES), default="auto",
                     show_default=True, help="auto: fp16/bf16 on GPUs where the model allows; on CPUs int8 for "
                                             "lumiere's calibrated networks, else bf16 where the CPU computes it "
                                             "natively, else fp32."),
        click.option("--fp32", is_flag=True, expose_value=False, callback=_remember_fp32,
                     help="Same as --precision fp32."),
        click.option("--tile", type=click.IntRange(0), default=None,
                     help="Tile side in input pixels (0: never tile; default: from free memory)."),
    ][:4 if tile else 3]
    for option in reversed(options):
        function = option(function)
    return function


def _whole_picture_runner_options(function):
    return _runner_options(function, tile=False)


def batch_films(inputs: tuple[Path, ...]) -> list[Path] | None:
    """The films of a batch (several inputs, or a folder holding video files), or None for one film."""
    from .io.reader import VIDEO_SUFFIXES

    if len(inputs) == 1:
        folder = Path(inputs[0])
        if not folder.is_dir():
            return None
        videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        return videos or None  # a folder of images is one film, its frames
    return [Path(p) for p in inputs]


def batch_targets(films: list[Path], folder: Path, codec: str | None) -> list[tuple[Path, Path]]:
    """Each film's output in the batch's folder: its own name, in the codec's usual container."""
    from .output import EncodeRequest

    suffix = EncodeRequest(codec).suffix or ".mp4"
    if folder.suffix:
        raise LumiereError(f"several films go into a folder; -o {folder} looks like a file")
    names = [film.stem if film.is_file() else film.name for film in films]
    if len(set(names)) < len(names):
        raise LumiereError("two films of the batch have the same name; their outputs would collide")
    targets = [(film, folder / f"{name}{suffix}") for film, name in zip(films, names, strict=True)]
    overwritten = [film for film, target in targets if target.resolve() == film.resolve()]
    if overwritten:
        raise LumiereError(f"-o {folder} would overwrite the batch's own films ({overwritten[0].name} ...); "
                           "give another folder")
    folder.mkdir(parents=True, exist_ok=True)
    return targets


def _inputs(options: tuple[Path, ...], arguments: tuple[Path, ...]) -> tuple[Path, ...]:
    """The inputs given as -i and as arguments; at least one."""
    inputs = (*options, *arguments)
    if not inputs:
        raise click.UsageError("give an input: IN, or -i IN")
    return inputs


def _input_and_references(inputs: tuple[Path, ...], references: tuple[Path, ...]) -> tuple[Path, tuple[Path, ...]]:
    """IN, and the references: `--reference a.png b.png` leaves b.png among the arguments after IN."""
    if len(inputs) > 1 and not references:
        raise LumiereError(f"one input expected, got {len(inputs)}: {', '.join(map(str, inputs))}")
    return inputs[0], (*references, *inputs[1:])


FP32 = "lumiere.fp32"  # ctx.meta key: --fp32 was given


def _remember_fp32(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta[FP32] = value


def _precision(precision: str) -> str:
    """--precision, or fp32 where --fp32 was given."""
    if click.get_current_context().meta.get(FP32):
        if precision not in ("auto", "fp32"):
            raise click.UsageError(f"--fp32 and --precision {precision} contradict each other; give one")
        return "fp32"
    return precision


@main.command(cls=StageOptionsCommand, stage_options=_every_stage_option)
@click.argument("inputs", metavar="IN...", nargs=-1, type=click.Path(path_type=Path))
@click.option("-i", "--input", "input_options", multiple=True, type=click.Path(path_type=Path),
              help="An input, as an alternative to IN (repeat for several).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Video file (.mp4 .mkv .mov .webm), a folder for frames, or a pattern like out/f_%05d.png "
                   "(default: NAME-lumiere.mp4 beside the input).")
@click.option("--overwrite", is_flag=True, help="Replace a finished output (without it, lumiere refuses).")
@_runner_options
@click.option("--codec", type=Choice(CODEC_CHOICES), default=None,
              help="Video codec (default h264; h264-nvenc/h265-nvenc on an NVIDIA GPU's encoder), or png/tiff for "
                   "an image sequence.")
@click.option("--crf", type=int, default=None,
              help="Quality for h264/h265/av1 (and the nvenc codecs' cq): lower is better (default 18/20/30; 19/21).")
@click.option("--encoder-preset", default=None,
              help="Encoder speed preset (x264/x265: ultrafast..veryslow; av1: 0..13; nvenc: p1..p7; prores: proxy, "
                   "lt, standard, hq).")
@click.option("--bit-depth", type=Choice(["8", "10", "16"]), default=None,
              help="Output bit depth (10 for h265/av1/prores; 16 for ffv1); default follows the input.")
@click.option("--source-fps", type=float, default=None,
              help="The rate the film was shot at: plays an image sequence (default 24) or re-times a silent video "
                   "(hand-cranked film stored at the wrong speed).")
@click.option("--chunk-frames", type=click.IntRange(1), default=None,
              help="Frames per chunk: the unit of progress saved and resumed (default 240, fewer for large "
                   "lossless frames so a chunk stays under 512 MB).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Frames per network call.")
@click.option("--restart", is_flag=True, help="Discard an unfinished earlier run of this job instead of resuming it.")
@click.option("--preset", "film_preset", type=Choice(["film"]), default=None,
              help="film: stabilize, deflicker, repair and degrain before upscaling, regrain after (add "
                   "--colorize, --fps as wanted; a strength given for a step wins).")
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
              help="Render chunks as Ray tasks on a cluster (auto: the cluster this machine is in, else a local "
                   "one); the output is joined here.")
@click.option("--preview", type=click.FloatRange(0.1), default=None, metavar="SECONDS",
              help="Restore only this many seconds from the middle, and write OUT-compare.mp4 (before | after) "
                   "beside OUT: tune the settings before committing to hours.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def restore(inputs, input_options, output, overwrite, device, precision, tile, codec, crf, encoder_preset, bit_depth,
            source_fps, chunk_frames, batch, restart, film_preset, ray_address, preview, quiet, **values):
    """Restore a film (video file, or folder of frames) into OUT; or several films into the folder OUT.

    \b
    Examples:
      lumiere restore film.mp4 -o film-x4.mp4 --scale 4
      lumiere restore reel1.mp4 reel2.mp4 -o restored/ --preset film   # or a folder of video files
      lumiere restore film.mp4 -o film-4k.mkv --to 4k --codec h265 --bit-depth 10
      lumiere restore scans/ -o restored/ --scale 2 --source-fps 16
      lumiere restore film.mp4 -o film-4k.mp4 --to 4k --colorize

    Audio and subtitles are copied unchanged when the output container can
    hold them (re-encoded to AAC otherwise). An interrupted run resumes when the
    same command is given again. Without --scale, --height or --to the film is
    enlarged x2, or by a --model's own factor (1 for a same-size model).
    """
    from .api import film_target
    from .api import restore as run_restore
    from .output import EncodeRequest, is_finished

    encode = EncodeRequest(codec, crf, encoder_preset, int(bit_depth) if bit_depth else None)

    def one(input_path: Path, output_path: Path | None) -> None:
        click.get_current_context().meta[JOB_OUTPUT] = film_target(input_path, output_path, encode)
        path = run_restore(input_path, output_path, preset=film_preset, device=device, precision=_precision(precision),
                           tile=tile, preview=preview, ray=ray_address, encode=encode, source_fps=source_fps,
                           chunk_frames=chunk_frames, batch=batch, restart=restart, overwrite=overwrite, quiet=quiet,
                           report=_say, **values)
        click.echo(f"wrote {path}")

    inputs = _inputs(input_options, inputs)
    films = batch_films(inputs)
    if films is None:
        one(inputs[0], output)
        return
    if output is None:
        raise LumiereError("several films go into a folder: give one as $output")
    failed = []
    for film_path, target in batch_targets(films, output, codec):
        if is_finished(target) and not overwrite:
            click.echo(f"skipping {film_path}: {target} is finished")
            continue
        try:
            one(film_path, target)
        except LumiereError as exc:  # one bad film does not stop the others
            click.echo(f"lumiere: error: {film_path}: {exc.spelled(spell)}"
                       f"{resume_hint(click.get_current_context())}", err=True)
            failed.append(film_path)
    if failed:
        raise LumiereError(f"{len(failed)} of {len(films)} films failed: {', '.join(str(f) for f in failed)}")


@main.command(cls=StageOptionsCommand, stage_options=_colorize_stage_options)
@click.argument("inputs", metavar="IN", nargs=-1, type=click.Path(path_type=Path))
@click.option("-i", "--input", "input_options", multiple=True, type=click.Path(path_type=Path),
              help="The input, as an alternative to IN.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Image file, folder (for a folder of images), or video file / frame folder for a film "
                   "(default: NAME-lumiere beside the input).")
@click.option("--overwrite", is_flag=True, help="Replace finished outputs (without it, lumiere refuses).")
@_whole_picture_runner_options
@click.option("--codec", type=Choice(CODEC_CHOICES), default=None,
              help="Video codec for a film (default h264).")
@click.option("--crf", type=int, default=None, help="Quality for h264/h265/av1: lower is better.")
@click.option("--source-fps", type=float, default=None, help="Frame rate of an image-sequence input (default 24).")
@click.option("--chunk-frames", type=click.IntRange(1), default=None,
              help="Frames per chunk: the unit of progress saved and resumed (default 240, fewer for large "
                   "lossless frames).")
@click.option("--restart", is_flag=True, help="Discard an unfinished earlier run of this job instead of resuming it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def colorize(inputs, input_options, output, overwrite, device, precision, codec, crf, source_fps, chunk_frames,
             restart, quiet,
             **values):
    """Colorize a black-and-white photo, a folder of photos, or a film.

    \b
    Examples:
      lumiere colorize photo.png -o photo-colour.png
      lumiere colorize photos/ -o coloured/
      lumiere colorize film.mp4 -o film-colour.mp4 --reference frame-120.png --reference frame-480.png

    A film's colour is carried from frame to frame along optical flow, so it does not flicker, and starts
    afresh at each new shot. References are followed by content; one that is a frame of the film is laid
    onto that frame. A colour input is reduced to its lightness first. In a
    folder of photos, one that cannot be read or written is skipped and named,
    the others are written, and the command exits with status 1.
    """
    from .api import colorize as run_colorize
    from .api import colorize_target
    from .output import EncodeRequest

    encode = EncodeRequest(codec, crf)
    input_path, references = _input_and_references(_inputs(input_options, inputs), values.pop("reference"))
    target, photos = colorize_target(input_path, output, encode, source_fps)
    click.get_current_context().meta[JOB_OUTPUT] = target
    written = run_colorize(input_path, output=output, reference=references, device=device,
                           precision=_precision(precision), encode=encode, source_fps=source_fps,
                           chunk_frames=chunk_frames, restart=restart, overwrite=overwrite, quiet=quiet,
                           report=_say, **values)
    click.echo(f"wrote {written}")


@main.command(cls=StageOptionsCommand, stage_options=_upscale_stage_options)
@click.argument("inputs", metavar="IN", nargs=-1, type=click.Path(path_type=Path))
@click.option("-i", "--input", "input_options", multiple=True, type=click.Path(path_type=Path),
              help="The input, as an alternative to IN.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Image file, or a folder when IN is a folder (default: NAME-lumiere beside the input).")
@click.option("--overwrite", is_flag=True, help="Replace finished outputs (without it, lumiere refuses).")
@_runner_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def upscale(inputs, input_options, output, overwrite, device, precision, tile, quiet, **values):
    """Upscale a still image, or every image in a folder (same names out); with --colorize, colour it too.

    \b
    Examples:
      lumiere upscale photo.png -o photo-x4.png --scale 4
      lumiere upscale photo.jpg --colorize --saturation 1.2
      lumiere upscale scans/ -o scans-x2/ --scale 2

    Without --scale, --height or --to an image is enlarged x4, or by a --model's
    own factor. 16-bit images stay 16-bit; an alpha channel is carried along (resampled).
    With --colorize the enlarged image is coloured as `lumiere colorize` does.
    In a folder, an image that cannot be read or written is skipped and named,
    the others are written, and the command exits with status 1; an interrupted
    folder goes on where it stopped when the same command is given again.
    """
    from .api import upscale as run_upscale
    from .output import default_output

    input_path, references = _input_and_references(_inputs(input_options, inputs), values.pop("reference"))
    if input_path.is_dir():
        click.get_current_context().meta[JOB_OUTPUT] = output or default_output(input_path, "")
    written = run_upscale(input_path, output=output, reference=references, device=device,
                          precision=_precision(precision), tile=tile, overwrite=overwrite, quiet=quiet, report=_say,
                          **values)
    click.echo(f"wrote {written}")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every machine on the network may use it).")
@click.option("--folder", "folders", multiple=True, type=click.Path(path_type=Path),
              help="A folder the page may read films from by path (repeat; default: the current folder). Uploads "
                   "and results go into lumiere-web/ inside the first.")
def web(port, host, folders):
    """A local web page for restoring films and pictures: drop a file in, preview, restore, download.

    
    Example: lumiere web --folder ~/films    then open http://127.0.0.1:7860

    Needs the web extra: pip install 'lumiere[web]'.
    """
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise LumiereError("the web app needs Gradio: pip install 'lumiere[web]'") from None
    from .web import serve

    serve(list(folders) or [Path.cwd()], host, port)


@main.command()
@click.argument("before", type=click.Path(path_type=Path))
@click.argument("after", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="A video (.mp4 ...) of the whole clip, or an image (.png) of one frame.")
@click.option("--mode", type=Choice(["split", "side"]), default="split", show_default=True,
              help="split: left half before, right half after; side: the two next to each other.")
@click.option("--frame", type=click.IntRange(0), default=None, help="Frame for an image comparison (default: middle).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def compare(before, after, output, mode, frame, quiet):
    """Before/after comparison of an input and its restoration."""
    from .compare import compare as run_compare

    run_compare(before, after, output, mode, frame, show_progress=not quiet)
    click.echo(f"wrote {output}")


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Image, folder (for a folder of images) or video file.")
@click.option("--recipe", type=Choice(["film-look", "film", "bicubic"]), default="film-look", show_default=True,
              help="film-look: everything an old print shows; film: what the networks learn to undo; "
                   "bicubic: the classic SR protocol.")
@click.option("--scale", type=click.IntRange(1, 4), default=1, show_default=True, help="Also shrink by this factor.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def degrade(input_path, output, recipe, scale, seed, quiet):
    """Make clean material look like old film (to see what the networks are trained to undo).

    \b
    Examples:
      lumiere degrade photo.jpg -o old.png
      lumiere degrade clip.mp4 -o old-clip.mp4 --recipe film-look --seed 3

    Random choices are made once per clip (scratches persist, grain and dust change every frame).
    """
    from .degrade import degrade as run_degrade

    run_degrade(input_path, output, recipe, scale, seed, show_progress=not quiet)
    click.echo(f"wrote {output}")


@main.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
    """List shipped models and the user's own (in $LUMIERE_MODELS or ~/.local/share/lumiere/models).

    \b
    lumiere models                          the list
    lumiere models import x4plus.param      an ncnn model (Real-ESRGAN, Upscayl) into the user folder
    """
    if ctx.invoked_subcommand is None:
        _list_models()


@models.command("import")
@click.argument("param_file", metavar="FILE.param", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="The name --model takes it by (default: FILE's name).")
def import_model(param_file, name):
    """Import an ncnn model (FILE.param and the FILE.bin beside it) as a safetensors file in the user models
    folder, usable by name with --model.

    Real-ESRGAN's Compact (animevideov3) and RRDBNet (x4plus) graphs are recognised; the import is checked by
    running the ncnn graph itself against the converted network.
    """
    from .models.loader import user_model_dir, user_models
    from .models.ncnn import import_ncnn

    filename = f"{Path(name).stem if name else Path(param_file).stem}.safetensors"
    target = user_model_dir() / filename
    if target.exists():
        raise LumiereError(f"{target} exists; give another --name or remove it first")
    imported = import_ncnn(param_file, target)
    click.echo(f"imported {param_file}: {imported.architecture} x{imported.scale}, "
               f"{imported.parameters / 1e6:.2f}M parameters -> {target}")
    if imported.trailing_resize:
        mode, factor = imported.trailing_resize
        click.echo(f"lumiere: note: this ncnn graph is an x{imported.scale} network followed by a {mode} "
                   f"x{factor:g} resize; the network alone was imported (lumiere resizes to any --scale itself)",
                   err=True)
    click.echo(f"use it with: --model {next(name for name, path in user_models().items() if path == target)}")


def _list_models() -> None:
    from .models.loader import load_model, user_model_dir, user_models
    from .models.shipped import SHIPPED

    def describe(name: str) -> tuple[str, str, str]:
        d = load_model(name).descriptor
        job = {"upscale": f"x{d.scale}", "restore": f"x{d.scale}", "video": f"x{d.scale} film"}.get(d.role, d.role)
        return job, d.architecture, f"{d.parameters / 1e3:.0f}k"

    rows = []
    for shipped in SHIPPED:
        if shipped.path.is_file():
            rows.append((shipped.name, *describe(shipped.name), shipped.summary))
        else:
            rows.append((shipped.name, "-", "-", "-", "missing from this install"))
    for name, path in user_models().items():
        try:
            rows.append((name, *describe(str(path)), f"user model ({path.name})"))
        except LumiereError as exc:
            rows.append((name, "-", "-", "-", f"cannot load: {exc}"))
    widths = [max(len(row[i]) for row in rows + [("name", "job", "architecture", "params", "")])
              for i in range(4)]
    header = ("name", "job", "architecture", "params", "about")
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4])
    click.echo(f"\nuser models folder: {user_model_dir()}")


@main.command()
@click.option("--input", "input_path", type=click.Path(path_type=Path), default=None,
              help="Film to restore (default: ../shared/data/film/street-scene.mp4, else a film lumiere makes).")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True)
@click.option("--scale", type=float, default=4.0, show_default=True)
def demo(input_path, output_dir, scale):
    """Restore a real old film and write a before/after comparison: the README's first command."""
    from .compare import compare as run_compare
    from .demo import SHARED_FILM, synthesize_film
    from .jobs import restore as run_restore
    from .stages.upscale import UpscaleSettings

    output_dir.mkdir(parents=True, exist_ok=True)
    if input_path is None:
        if SHARED_FILM.is_file():
            input_path = SHARED_FILM
        else:
            click.echo(f"{SHARED_FILM} is not here; making a short degraded film from a photo instead")
            input_path = synthesize_film(output_dir / "synthetic-old-film.mp4")
    restored = output_dir / f"{input_path.stem}-x{scale:g}.mp4"
    click.echo(f"restoring {input_path} -> {restored}")
    run_restore(input_path, restored, UpscaleSettings(scale=scale, kind="film"), restart=True, overwrite=True,
                comparison=output_dir / "before-after.mp4", report=_say)
    run_compare(input_path, restored, output_dir / "before-after.png", "side")
    click.echo(f"done: open {restored}, {output_dir / 'before-after.mp4'} and {output_dir / 'before-after.png'}")


@main.group()
def train():
    """Train or fine-tune a model on clean images (pairs are made by degrading them)."""


def _train_options(function):
    """The flags every `lumiere train` command takes: the training settings `train.config.TrainConfig` declares
    for the command line, then --config and --resume."""
    from .train.config import command_line_settings

    options = [click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            default=None, help="YAML training config (as written to RUN_DIR/config.yaml); flags "
                                               "given on the command line override it.")]
    for name, kind, cli in command_line_settings():
        if cli["choices"]:
            value_type = Choice(list(cli["choices"]))
        elif cli["path"]:
            value_type = click.Path()
        elif kind is int:
            value_type = click.IntRange(cli["low"], cli["high"])
        elif kind is float and (cli["low"] is not None or cli["high"] is not None):
            value_type = click.FloatRange(cli["low"], cli["high"])
        else:
            value_type = kind
        flags = [cli["short"]] if cli["short"] else []
        flags.append("--" + (cli["name"] or name).replace("_", "-"))
        options.append(click.option(*flags, name, type=value_type, default=cli["given"], multiple=cli["many"],
                                    show_default=cli["given"] not in (None, ()), help=cli["help"] or None))
    options.append(click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last "
                                                               "checkpoint."))
    for option in reversed(options):
        function = option(function)
    return function


def _run_training(ctx: click.Context, task: str, scale: int, **flags) -> None:
    from click.core import ParameterSource

    from .train.config import TrainConfig
    from .train.loop import train as run_training
    from .train.tasks import training_config

    config_file, resume = flags.pop("config_file"), flags.pop("resume")
    values = TrainConfig.values_in(config_file) if config_file else {}
    given = {name for name in flags if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    for name, value in flags.items():
        if name in given or name not in values:
            values[name] = list(value) if isinstance(value, tuple) else value
    if ctx.get_parameter_source("scale") != ParameterSource.COMMANDLINE and "scale" in values:
        scale = values["scale"]  # a config file's scale, where the command line gave none
    config = training_config(task, {**values, "scale": scale})
    result = run_training(config, resume=resume)
    click.echo(f"wrote {config.output}: {result['steps']} steps in {result['seconds'] / 60:.1f} min "
               f"({result['samples_per_s']:.1f} samples/s)"
               + (f", validation PSNR-Y {result['psnr']:.2f} dB" if "psnr" in result else ""))


@train.command("upscale")
@click.option("--scale", type=click.IntRange(2, 4), default=4, show_default=True)
@_train_options
@click.pass_context
def train_upscale(ctx, scale, **flags):
    """Train an upscaler that also removes film damage.

    \b
    From scratch:  lumiere train upscale --data FRAMES/ --val HELD_OUT/ --scale 4 -o mine.safetensors
    Fine-tune:     lumiere train upscale --data MY_FILM.mp4 --init film-x4 --steps 2000 -o mine.safetensors
    Faster:        lumiere train upscale --data FRAMES/ --init film-x4 --narrow-to 48 -o narrow.safetensors

    Inputs are made on the fly by degrading random crops of --data with --recipe.
    """
    _run_training(ctx, "upscale", scale, **flags)


@train.command("restore")
@_train_options
@click.pass_context
def train_restore(ctx, **flags):
    """Train a same-size (x1) cleaner: grain, dust, scratches, blocking and blur removed.

    \b
    Example: lumiere train restore --data FRAMES/ --patch 64 --steps 20000 -o clean.safetensors
    """
    _run_training(ctx, "restore", 1, **flags)


@train.command("colorize")
@_train_options
@click.pass_context
def train_colorize(ctx, **flags):
    """Train a colorization network: gray (film-like) lightness in, the picture's colours out.

    Pairs come from colour pictures: their lightness, faded, toned and grained like old film, is the input;
    their own colour is the target. --patch is the side of a training crop (a multiple of 16; the crop shows
    35-100% of a picture, resized).

    Example: lumiere train colorize --data PHOTOS/ --val HELD_OUT/ --patch 128 --steps 20000 -o colour.safetensors
    """
    _run_training(ctx, "colorize", 1, **flags)


@train.command("detect")
@_train_options
@click.pass_context
def train_detect(ctx, **flags):
    """Train the film-damage detector that tells `upscale` and `restore` which upscaler suits an input.

    Half of each batch is degraded like old film (--recipe is ignored: recipe film), half like a clean
    photograph (recipe bicubic), at x2 and x4 on alternate steps. --patch is the input side (a multiple of 8).

    Example: lumiere train detect --data PHOTOS/ --val HELD_OUT/ --patch 64 --steps 3000 -o detect.safetensors
    """
    _run_training(ctx, "detect", 1, **flags)


@train.command("repair")
@_train_options
@click.pass_context
def train_repair(ctx, **flags):
    """Train a dust-and-scratch network: five frames in, the middle one's damage found and filled.

    Clips are cut from still pictures along a random camera path, given film grain and flicker, then dust,
    dirt and line scratches; the network learns where the damage is and what it hides. --patch is the side of
    a training crop (a multiple of 4).

    Example: lumiere train repair --data PHOTOS/ --val HELD_OUT/ --patch 96 --steps 10000 -o repair.safetensors
    """
    _run_training(ctx, "repair", 1, **flags)


@train.command("video")
@click.option("--scale", type=click.IntRange(1, 4), default=4, show_default=True,
              help="1: a film cleaner, same size (--init film-clean).")
@_train_options
@click.pass_context
def train_video(ctx, scale, **flags):
    """Train a multi-frame film upscaler (or cleaner, at --scale 1): each frame enlarged from it and two
    neighbours on each side, laid onto it along DIS optical flow.

    Five-frame clips are cut from still pictures along a random camera path, each frame given new grain and dust,
    blur, the lost resolution and compression; the neighbours are aligned on the degraded frames exactly as in a
    film. --patch is the side of the network's input crop. --init film-x4 starts from that single-frame network
    (the multi-frame one computes the same until it learns what the neighbours add).

    Example: lumiere train video --data PHOTOS/ --val HELD_OUT/ --init film-x4 --lr 2e-4 -o video.safetensors
    """
    _run_training(ctx, "video", scale, **flags)


@train.command("calibrate")
@click.argument("model")
@click.option("--data", "data", multiple=True, type=click.Path(), required=True,
              help="Folder, image or video of clean material like the network's training data; repeat for several.")
@click.option("--recipe", type=Choice(["film", "bicubic"]), default=None,
              help="How the network's inputs are degraded, for a file lumiere did not train (an imported one).")
def train_calibrate(model, data, recipe):
    """Measure and store a network's int8 calibration, for its fastest CPU path (lumiere train does this itself).

    \b
    Example: lumiere train calibrate mine.safetensors --data FRAMES/
             lumiere train calibrate realesr-animevideov3-x4.safetensors --data FRAMES/ --recipe film

    Upscalers, cleaners and video upscalers in .safetensors files; a file lumiere trained records its recipe.
    """
    from .train.calibrate import calibrate_file

    click.echo(f"wrote {calibrate_file(model, list(data), recipe)}")


@train.command("export")
@click.option("--run-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def train_export(run_dir, output):
    """Write the EMA weights of a run's last checkpoint, also while it is still training."""
    from .train.loop import export_checkpoint

    step = export_checkpoint(run_dir, output)
    click.echo(f"wrote {output} (step {step})")
