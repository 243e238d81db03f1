"""`lumiere web`: the jobs of `lumiere restore`, `upscale` and `colorize` in a local web page, for people who do
not use a terminal.

Gradio (the field's usual choice: Real-ESRGAN's, GFPGAN's and most restoration demos') gives the upload, the
before/after slider and video, the progress of the job's own progress bar and a queue that runs one job at a time
for the whole page. The page calls the Python API (`lumiere.api`), as the command line does.

Everything the page makes lives in WORK inside the first folder the server was started with: uploads, previews
and results, and beside each film's result the settings it was asked with, so that a job stopped by a killed
server is listed on the page and resumes where it stopped. An upload's copy there goes once no job needs it;
Gradio's own copy an hour after it came. Paths typed into the page must lie inside the server's folders.
"""

import contextlib
import contextvars
import filecmp
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import api
from .errors import InputError, LumiereError, OptionError, keyword, spelled
from .io.images import is_image_path, read_image
from .io.reader import VIDEO_SUFFIXES, open_source
from .jobs import preview_frames
from .output import EncodeRequest, is_finished
from .workfolder import kept_work

log = logging.getLogger(__name__)
Report = Callable[[str], None] | None  # hears what a job says before its frames start

WORK = "lumiere-web"
PREVIEW_SECONDS = 2.0
CHUNK_SECONDS = 10  # of film a chunk: what a killed server can lose at most
SIZES = {"x1": {"scale": 1.0}, "x2": {"scale": 2.0}, "x4": {"scale": 4.0}, "4K": {"to": "4k"}}
OPTIONS = api.film_options()
INTERPOLATION_LABELS = {"rife": "RIFE network: moving figures stay solid",
                        "flow": "Optical flow: faster, ghosts where it misses"}
CODECS = {"h264": "h264: plays everywhere", "h265": "h265: about half the size, for newer players",
          "ffv1": "ffv1: lossless, for further editing (large)"}
DEFAULT_CODEC = "h264"
MAX_UPLOAD = "2gb"  # larger films are read where they lie: their path typed into the page
UPLOADS_KEPT_SECONDS = 3600  # Gradio's copy of an upload: the page can run more jobs on it meanwhile
PROGRESS_SECONDS = 0.5  # how often the page hears how far the job is


LATER_SETTINGS = {"codec": DEFAULT_CODEC, "slowmo": 1.0, "interpolate": "rife"}


@dataclass(frozen=True)
class WebJob:
    """What the page asks for, as plain data: saved beside a film's result so the job can be resumed."""

    input: str
    size: str = "x2"
    look: str = "faithful"
    clean: bool = False  # the film preset: stabilize, deflicker, repair, degrain, regrain
    repair: bool = False
    colorize: bool = False
    references: tuple[str, ...] = field(default_factory=tuple)
    fps: float = 0.0
    codec: str = DEFAULT_CODEC  # a film's
    slowmo: float = 1.0
    interpolate: str = "rife"  # how in-between frames are drawn, for fps and slowmo

    def options(self) -> dict:
        """The film options of `lumiere.restore` this job means."""
        if self.size not in SIZES:
            raise OptionError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.codec not in CODECS:
            raise OptionError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        options = {**SIZES[self.size], "look": self.look}
        if self.repair:
            options["repair"] = 1.0
        if self.colorize:
            options |= {"colorize": True, "reference": tuple(Path(p) for p in self.references)}
        if self.fps:
            options["fps"] = float(self.fps)
        if self.slowmo != 1:
            options["slowmo"] = float(self.slowmo)
        if self.fps or self.slowmo != 1:
            options["interpolate"] = self.interpolate
        return options

    def name(self) -> str:
        """The result's name: the input's, and a digest of the settings (the same job, the same file). Settings the
        page added later are left out of the digest at their defaults, so that jobs saved before keep their
        names."""
        settings = asdict(self)
        for name, default in LATER_SETTINGS.items():
            if settings[name] == default:
                del settings[name]
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
        return f"{Path(self.input).stem}-{digest}"

    def uses(self) -> tuple[Path, ...]:
        """The files the job reads: its input and its colour references."""
        return Path(self.input), *map(Path, self.references)


class Workspace:
    """The server's folders: what the page may read, and WORK inside the first, where it writes."""

    def __init__(self, folders: list[Path]):
        if not folders:
            raise InputError("give at least one folder the page may use")
        self.folders = [Path(folder).resolve() for folder in folders]
        for folder in self.folders:
            if not folder.is_dir():
                raise InputError(f"no such folder: {folder}")
        self.work = self.folders[0] / WORK
        for part in ("uploads", "previews", "results"):
            (self.work / part).mkdir(parents=True, exist_ok=True)

    def check(self, path: str | Path) -> Path:
        """A typed path, refused unless it lies inside one of the server's folders."""
        try:
            resolved = Path(path).expanduser().resolve()
            exists = resolved.exists()
        except (ValueError, OSError, RuntimeError) as exc:  # a NUL byte, too long a name, a link loop, ~nobody
            reason = "it holds a NUL byte" if "null byte" in str(exc) else getattr(exc, "strerror", None) or exc
            raise InputError(f"cannot use the path {str(path)[:120]!r}: {reason}") from None
        if not any(resolved == folder or folder in resolved.parents for folder in self.folders):
            raise InputError(f"{path} is outside the folders this server was started with "
                             f"({', '.join(map(str, self.folders))})")
        if not exists:
            raise InputError(f"no such file or folder: {path}")
        return resolved

    def receive(self, upload: str | Path) -> Path:
        """An uploaded file, copied from Gradio's temporary folder into WORK/uploads (kept while a job needs it)."""
        upload = Path(upload)
        if not upload.is_file():
            raise InputError(f"the upload {upload.name} is no longer on the server (uploads are kept an hour); "
                             "drop it in again")
        target = self.work / "uploads" / upload.name
        if target.exists() and filecmp.cmp(target, upload, shallow=False):
            return target
        stem, number = target.stem, 1
        while target.exists():
            target = target.with_name(f"{stem}-{number}{target.suffix}")
            number += 1
        shutil.copyfile(upload, target)
        return target

    def let_go(self, paths: Iterable[Path]) -> None:
        """Remove the uploads among `paths` that no stopped job needs to resume."""
        needed = {path for job in self._saved() for path in job.uses()}
        for path in paths:
            if path.parent == self.work / "uploads" and path not in needed:
                path.unlink(missing_ok=True)

    def result(self, job: WebJob) -> Path:
        source = Path(job.input)
        if source.suffix.lower() in VIDEO_SUFFIXES:
            return self.work / "results" / f"{job.name()}{EncodeRequest(job.codec).suffix}"
        if source.is_dir():
            return self.work / "results" / job.name()
        return self.work / "results" / f"{job.name()}.png"

    def unfinished(self) -> dict[str, WebJob]:
        """Film jobs stopped before the end, by a description for the page."""
        jobs = {}
        for job in self._saved():
            output = self.result(job)
            kept = kept_work(output)
            if kept is not None and not is_finished(output):
                jobs[f"{Path(job.input).name} ({job.size}): {kept.finished} of {kept.chunks} chunks done"] = job
        return jobs

    def _saved(self) -> list[WebJob]:
        """The film jobs whose settings are saved: running, or stopped before the end. A file that is not one
        (edited by hand, cut short) is passed over."""
        jobs = []
        for saved in sorted((self.work / "results").glob("*.job.json")):
            try:
                data = json.loads(saved.read_text())
                jobs.append(WebJob(**{**data, "references": tuple(data.get("references", ()))}))
            except (OSError, ValueError, TypeError):
                log.warning("%s is not a saved job; passed over", saved)
        return jobs


def _middle_frame(path: Path, index: int) -> np.ndarray:
    for frame in open_source(path).frames(index):
        if frame.index == index:
            return frame.rgb
    raise InputError(f"{path} has no frame {index}")


def _to_8bit(rgb: np.ndarray) -> np.ndarray:
    return (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb


def _resized(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_CUBIC)


def _still(job: WebJob) -> np.ndarray:
    """A picture done as the job asks: enlarged, then coloured."""
    picture = read_image(Path(job.input)).rgb
    options = job.options()
    size = {key: options[key] for key in ("scale", "to") if key in options}
    if size.get("scale") != 1.0:
        picture = api.upscale(picture, look=job.look, quiet=True, report=None, **size)
    if job.colorize:
        picture = api.colorize(picture, reference=job.references, quiet=True, report=None)
    return picture


def preview(job: WebJob, workspace: Workspace, report: Report = None) -> tuple[np.ndarray, np.ndarray, Path | None]:
    """(before, after) for the slider: a picture, or the middle frame of a few seconds from a film's middle; and
    for a film, those seconds as a before | after video to play."""
    source = Path(job.input)
    if source.is_dir():  # a folder of pictures: the first one shows what the rest will get
        pictures = sorted(p for p in source.iterdir() if is_image_path(p))
        if not pictures:
            raise InputError(f"no pictures in {source}")
        source, job = pictures[0], replace(job, input=str(pictures[0]))
    if is_image_path(source):
        after = _still(job)
        return _resized(_to_8bit(read_image(source).rgb), after), _to_8bit(after), None
    clip = workspace.work / "previews" / f"{job.name()}.mp4"  # h264 whatever the codec: the browser plays it
    api.restore(source, clip, preset="film" if job.clean else None, preview=PREVIEW_SECONDS, overwrite=True,
                report=report, **job.options())
    info = open_source(source).info
    frames = preview_frames(info.frame_count, info.fps, PREVIEW_SECONDS)
    restored = open_source(clip).info.frame_count
    middle = len(frames) // 2
    after = _middle_frame(clip, min(restored - 1, middle * restored // len(frames)))
    before = _resized(_to_8bit(_middle_frame(source, frames.start + middle)), after)
    return before, _to_8bit(after), clip.with_name(f"{clip.stem}-compare.mp4")


def run(job: WebJob, workspace: Workspace, report: Report = None) -> Path:
    """The whole job. A film's settings are saved while it runs, so that a killed server's job can be resumed
    from the page; a film job that fails leaves none (the same job asked again still takes up its finished
    chunks)."""
    source, output = Path(job.input), workspace.result(job)
    if source.suffix.lower() in VIDEO_SUFFIXES:
        settings = output.with_name(f"{output.name}.job.json")
        settings.write_text(json.dumps(asdict(job)))
        try:
            if not is_finished(output):
                info = open_source(source).info
                api.restore(source, output, preset="film" if job.clean else None, encode=EncodeRequest(job.codec),
                            report=report, chunk_frames=max(1, round(CHUNK_SECONDS * info.fps)), **job.options())
        except Exception:
            settings.unlink()
            raise
        settings.unlink()
        return output
    if source.is_dir():
        api.upscale(source, output=output, overwrite=True, look=job.look, report=report,
                    **{k: v for k, v in job.options().items() if k in ("scale", "to")})
        if job.colorize:
            api.colorize(output, output=output.with_name(f"{output.name}-colour"), reference=job.references,
                         overwrite=True, report=report)
            return output.with_name(f"{output.name}-colour")
        return output
    from .io.images import Image, write_image

    write_image(output, Image(_still(job)))
    return output


def _latest_bar():
    """The progress bar made last of those alive: the job's."""
    from tqdm import tqdm

    with tqdm.get_lock():
        bars = [bar for bar in tqdm._instances if not bar.disable]  # noqa: SLF001 (tqdm's list of its live bars)
    return max(bars, key=lambda bar: bar.start_t, default=None)


@contextlib.contextmanager
def _following_progress(progress) -> Iterator[Callable[[str], None]]:
    """Show the job's progress bar on the page while the block runs, and give what the job says before its
    frames start (loading, the time to go) to the page too.

    The bar is moved by the thread that writes the frames, where Gradio's own following of tqdm bars (which
    reads the request from context variables) does not see it; so a thread of the request's context reads it.
    """
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(PROGRESS_SECONDS):
            bar = _latest_bar()
            if bar is not None and bar.total:
                rate, left = bar.format_dict["rate"], max(0.0, bar.total - bar.n)
                to_go = f", about {bar.format_interval(left / rate)} to go" if rate else ""
                progress(min(1.0, bar.n / bar.total), desc=f"{bar.desc}{to_go}")

    follower = threading.Thread(target=contextvars.copy_context().run, args=(follow,), name="lumiere-web-progress",
                                daemon=True)
    follower.start()
    try:
        yield lambda line: progress(0.0, desc=spelled(line, keyword))  # Gradio shows a line only with a level beside it
    finally:
        stop.set()
        follower.join()


def _in_words(exc: Exception) -> str:
    """A job's failure as one line for the page, as the command line would say it."""
    if isinstance(exc, LumiereError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller size"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}"
    log.exception("the page's job failed")  # the traceback on the server's terminal, for a report
    return f"internal error: {type(exc).__name__}: {exc} (the server's terminal shows where; please report it)"


def app(workspace: Workspace):
    """The page."""
    import gradio as gr

    # results and previews are served where they lie, not copied into Gradio's cache first
    gr.set_static_paths([workspace.work / "results", workspace.work / "previews"])

    def job_from(upload, typed, size, look, clean, repair, colorize, references, fps, codec, slowmo,
                 interpolate) -> WebJob:
        received: list[Path] = []
        try:
            if upload:
                received.append(workspace.receive(upload))
            elif typed and typed.strip():
                received.append(workspace.check(typed.strip()))
            else:
                raise InputError("drop a film or a picture in, or type the path of one on this computer")
            received += [workspace.receive(reference) for reference in references or ()]
        except BaseException:
            workspace.let_go(received)
            raise
        return WebJob(str(received[0]), size, look, bool(clean), bool(repair), bool(colorize),
                      tuple(map(str, received[1:])), float(fps or 0), codec, float(slowmo or 1), interpolate)

    @contextlib.contextmanager
    def page_job(progress, job_of: Callable[[], WebJob]) -> Iterator[tuple[WebJob, Callable[[str], None]]]:
        """A job from the page: its progress shown, its failure told in words, its uploads let go at the end."""
        job = None
        try:
            job = job_of()
            with _following_progress(progress) as report:
                yield job, report
        except Exception as exc:
            raise gr.Error(_in_words(exc), print_exception=False) from None
        finally:
            if job is not None:
                workspace.let_go(job.uses())

    def on_preview(*fields, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for progress)
        with page_job(progress, lambda: job_from(*fields)) as (job, report):
            before, after, video = preview(job, workspace, report)
        return ((before, after), gr.update(value=video and str(video), visible=video is not None),
                f"Preview of **{Path(job.input).name}**: drag the line to compare"
                + (", and play the two seconds before | after." if video else "."))

    def finished(output: Path):
        return str(_downloadable(output)), f"Done: **{output.name}**", gr.update(
            choices=list(workspace.unfinished()), value=None)

    def on_run(*fields, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for progress)
        with page_job(progress, lambda: job_from(*fields)) as (job, report):
            output = run(job, workspace, report)
        return finished(output)

    def chosen(choice) -> WebJob:
        job = workspace.unfinished().get(choice)
        if job is None:
            raise InputError("choose an unfinished job first")
        return job

    def on_resume(choice, progress=gr.Progress()):  # noqa: B008 (how Gradio asks for progress)
        with page_job(progress, lambda: chosen(choice)) as (job, report):
            output = run(job, workspace, report)
        return finished(output)

    with gr.Blocks(title="lumiere", delete_cache=(UPLOADS_KEPT_SECONDS // 6, UPLOADS_KEPT_SECONDS)) as page:
        gr.Markdown("# lumiere\nRestore old film and photographs: sharper, cleaned, coloured. Nothing leaves this "
                    "computer.")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=f"Film or picture (up to {MAX_UPLOAD.upper()}; a larger one: type its path "
                                       "below)", elem_id="upload", type="filepath")
                typed = gr.Textbox(label="…or a file or folder on this computer",
                                   placeholder=str(workspace.folders[0]), elem_id="typed")
                size = gr.Radio(list(SIZES), value="x2", label="Size", elem_id="size")
                look = gr.Radio(list(OPTIONS["look"].choices), value="faithful",
                                label="Look: faithful invents nothing, detailed draws texture")
                clean = gr.Checkbox(label="Clean the film: steady, no flicker, dust and scratches repaired, grain "
                                          "kept", elem_id="clean")
                repair = gr.Checkbox(label="Repair dust and scratches only", elem_id="repair")
                colorize = gr.Checkbox(label="Colorize", elem_id="colorize")
                references = gr.File(label="Colour references (optional): coloured frames or photos of the scenes",
                                     file_count="multiple", type="filepath")
                fps = gr.Number(label="Smooth motion to this many frames per second (0 keeps the film's)", value=0,
                                minimum=0, maximum=OPTIONS["fps"].bounds[1])
                slowmo = gr.Number(label="Slow motion: each moment this many times as long (1: none; the sound is "
                                         "left out)", value=1, minimum=1, maximum=OPTIONS["slowmo"].bounds[1],
                                    elem_id="slowmo")
                interpolate = gr.Radio([(INTERPOLATION_LABELS[choice], choice)
                                        for choice in OPTIONS["interpolate"].choices], value="rife",
                                       label="In-between frames drawn by", elem_id="interpolate")
                codec = gr.Radio([(label, name) for name, label in CODECS.items()], value=DEFAULT_CODEC,
                                 label="A film is saved as", elem_id="codec")
                with gr.Row():
                    preview_button = gr.Button("Preview", elem_id="preview")
                    run_button = gr.Button("Restore", variant="primary", elem_id="run")
            with gr.Column():
                compared = gr.Video(label="Before | after, as it plays", elem_id="compare", visible=False,
                                    autoplay=True, loop=True, interactive=False)
                slider = gr.ImageSlider(label="Before | after", elem_id="slider", type="numpy")
                status = gr.Markdown(elem_id="status")
                result = gr.File(label="Result", elem_id="result")
                with gr.Accordion("Unfinished jobs"):
                    unfinished = gr.Dropdown(list(workspace.unfinished()), label="Stopped before the end",
                                             elem_id="unfinished")
                    resume_button = gr.Button("Resume", elem_id="resume")
        fields = [upload, typed, size, look, clean, repair, colorize, references, fps, codec, slowmo, interpolate]
        # one job at a time for the whole page: each loads networks and takes every core
        one_at_a_time = {"concurrency_limit": 1, "concurrency_id": "job"}
        preview_button.click(on_preview, fields, [slider, compared, status], api_name="preview", **one_at_a_time)
        run_button.click(on_run, fields, [result, status, unfinished], api_name="restore", **one_at_a_time)
        resume_button.click(on_resume, [unfinished], [result, status, unfinished], api_name="resume",
                            **one_at_a_time)
        page.load(lambda: gr.update(choices=list(workspace.unfinished())), None, [unfinished])
    return page


def _downloadable(output: Path) -> Path:
    """A result the browser can download: a folder of pictures is zipped."""
    if not output.is_dir():
        return output
    return Path(shutil.make_archive(str(output), "zip", output))


def _check_port(host: str, port: int) -> None:
    """Refuse a port the server could not listen on, before anything is printed or started."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise OptionError(f"no address to listen on is named {host} ({exc.strerror or exc}); give another $host") \
            from None
    try:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: a closed one's is free
            probe.bind(address)
    except OSError as exc:
        raise OptionError(f"port {port} on {host} cannot be listened on ({exc.strerror or exc}); stop what holds "
                          "it or choose another $port") from None


def launch(workspace: Workspace, host: str, port: int, **options):
    """The page, served on `host`:`port` in threads of its own; `options` add to or replace Gradio's `launch`
    settings."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at run time
    import gradio as gr

    page = app(workspace)
    # system fonts: the default theme would have the browser fetch its fonts from Google
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    settings = {"server_name": host, "server_port": port, "allowed_paths": [str(f) for f in workspace.folders],
                "max_file_size": MAX_UPLOAD, "ssr_mode": False, "quiet": True, "footer_links": [], "theme": theme,
                "prevent_thread_lock": True}
    page.launch(**settings | options)
    return page


def serve(folders: list[Path], host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the web app until stopped."""
    workspace = Workspace(folders)
    _check_port(host, port)
    page = launch(workspace, host, port)
    print(f"lumiere web: open http://{host}:{port} (Ctrl-C stops the server; unfinished films resume from the page)",
          flush=True)
    page.block_thread()
