"""`lumiere web`: the jobs of `lumiere restore`, `upscale` and `colorize` in a local web page, for people who do
not use a terminal.

Gradio (the field's usual choice: Real-ESRGAN's, GFPGAN's and most restoration demos') gives the upload, the
before/after slider, progress from lumiere's own progress bars and a queue that runs one job at a time. The
page calls the Python API (`lumiere.api`), as the command line does.

Everything the page makes lives in WORK inside the first folder the server was started with: uploads, previews
and results, and beside each film's result the settings it was asked with, so that a job stopped by a closed
browser or a killed server is listed on the page and resumes where it stopped. Paths typed into the page must
lie inside the server's folders.
"""

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import api
from .errors import InputError, LumiereError
from .io.images import is_image_path, read_image
from .io.reader import VIDEO_SUFFIXES, open_source
from .job import kept_work
from .jobs import preview_frames
from .output import is_finished

WORK = "lumiere-web"
PREVIEW_SECONDS = 2.0
CHUNK_SECONDS = 10  # of film a chunk: what a closed browser or a killed server can lose at most
SIZES = {"x1": {"scale": 1.0}, "x2": {"scale": 2.0}, "x4": {"scale": 4.0}, "4K": {"to": "4k"}}
LOOKS = ("faithful", "detailed")


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

    def options(self) -> dict:
        """The film options of `lumiere.restore` this job means."""
        if self.size not in SIZES:
            raise InputError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        options = {**SIZES[self.size], "look": self.look}
        if self.repair:
            options["repair"] = 1.0
        if self.colorize:
            options |= {"colorize": True, "reference": tuple(Path(p) for p in self.references)}
        if self.fps:
            options["fps"] = float(self.fps)
        return options

    def name(self) -> str:
        """The result's name: the input's, and a digest of the settings (the same job, the same file)."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]
        return f"{Path(self.input).stem}-{digest}"


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
        resolved = Path(path).expanduser().resolve()
        if not any(resolved == folder or folder in resolved.parents for folder in self.folders):
            raise InputError(f"{path} is outside the folders this server was started with "
                             f"({', '.join(map(str, self.folders))})")
        if not resolved.exists():
            raise InputError(f"no such file or folder: {path}")
        return resolved

    def receive(self, upload: str | Path) -> Path:
        """An uploaded file, moved from Gradio's temporary folder into WORK/uploads (kept for resuming)."""
        upload = Path(upload)
        target = self.work / "uploads" / upload.name
        if target.exists() and _same_file(target, upload):
            return target
        stem, number = target.stem, 1
        while target.exists():
            target = target.with_name(f"{stem}-{number}{target.suffix}")
            number += 1
        shutil.copyfile(upload, target)
        return target

    def result(self, job: WebJob) -> Path:
        source = Path(job.input)
        if source.suffix.lower() in VIDEO_SUFFIXES:
            return self.work / "results" / f"{job.name()}.mp4"
        if source.is_dir():
            return self.work / "results" / job.name()
        return self.work / "results" / f"{job.name()}.png"

    def unfinished(self) -> dict[str, WebJob]:
        """Film jobs stopped before the end, by a description for the page."""
        jobs = {}
        for saved in sorted((self.work / "results").glob("*.job.json")):
            data = json.loads(saved.read_text())
            job = WebJob(**{**data, "references": tuple(data.get("references", ()))})
            output = self.result(job)
            kept = kept_work(output)
            if kept is not None and not is_finished(output):
                jobs[f"{Path(job.input).name} ({job.size}): {kept.finished} of {kept.chunks} chunks done"] = job
        return jobs


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


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


def preview(job: WebJob, workspace: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) for the slider: a picture, or the middle frame of a few seconds from a film's middle."""
    source = Path(job.input)
    if source.is_dir():  # a folder of pictures: the first one shows what the rest will get
        pictures = sorted(p for p in source.iterdir() if is_image_path(p))
        if not pictures:
            raise InputError(f"no pictures in {source}")
        source, job = pictures[0], replace(job, input=str(pictures[0]))
    if is_image_path(source):
        after = _still(job)
        return _resized(_to_8bit(read_image(source).rgb), after), _to_8bit(after)
    clip = workspace.work / "previews" / f"{job.name()}.mp4"
    api.restore(source, clip, preset="film" if job.clean else None, preview=PREVIEW_SECONDS, overwrite=True,
                report=None, **job.options())
    info = open_source(source).info
    frames = preview_frames(info.frame_count, info.fps, PREVIEW_SECONDS)
    restored = open_source(clip).info.frame_count
    middle = len(frames) // 2
    after = _middle_frame(clip, min(restored - 1, middle * restored // len(frames)))
    return _resized(_to_8bit(_middle_frame(source, frames.start + middle)), after), _to_8bit(after)


def run(job: WebJob, workspace: Workspace) -> Path:
    """The whole job; a film's settings are saved first, so that it can be resumed from the page."""
    source, output = Path(job.input), workspace.result(job)
    if source.suffix.lower() in VIDEO_SUFFIXES:
        settings = output.with_name(f"{output.name}.job.json")
        settings.write_text(json.dumps(asdict(job)))
        if is_finished(output):
            return output
        info = open_source(source).info
        api.restore(source, output, preset="film" if job.clean else None, report=None,
                    chunk_frames=max(1, round(CHUNK_SECONDS * info.fps)), **job.options())
        settings.unlink()
        return output
    if source.is_dir():
        api.upscale(source, output=output, overwrite=True, look=job.look, report=None,
                    **{k: v for k, v in job.options().items() if k in ("scale", "to")})
        if job.colorize:
            api.colorize(output, output=output.with_name(f"{output.name}-colour"), reference=job.references,
                         overwrite=True, report=None)
            return output.with_name(f"{output.name}-colour")
        return output
    from .io.images import Image, write_image

    write_image(output, Image(_still(job)))
    return output


def app(workspace: Workspace):
    """The page."""
    import gradio as gr

    def job_from(upload, typed, size, look, clean, repair, colorize, references, fps) -> WebJob:
        if upload:
            source = workspace.receive(upload)
        elif typed and typed.strip():
            source = workspace.check(typed.strip())
        else:
            raise gr.Error("Drop a film or a picture in, or type the path of one on this computer.")
        kept = tuple(str(workspace.receive(reference)) for reference in references or ())
        return WebJob(str(source), size, look, bool(clean), bool(repair), bool(colorize), kept, float(fps or 0))

    def on_preview(*fields, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (how Gradio asks for progress)
        try:
            job = job_from(*fields)
            progress(0, desc="preview: setting up")
            before, after = preview(job, workspace)
        except LumiereError as exc:
            raise gr.Error(str(exc)) from None
        return (before, after), f"Preview of **{Path(job.input).name}**: drag the line to compare."

    def on_run(*fields, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (how Gradio asks for progress)
        try:
            job = job_from(*fields)
            progress(0, desc="starting")
            output = run(job, workspace)
        except LumiereError as exc:
            raise gr.Error(str(exc)) from None
        return str(_downloadable(output)), f"Done: **{output.name}**", gr.update(choices=list(workspace.unfinished()))

    def on_resume(choice, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (how Gradio asks for progress)
        job = workspace.unfinished().get(choice)
        if job is None:
            raise gr.Error("Choose an unfinished job first.")
        try:
            output = run(job, workspace)
        except LumiereError as exc:
            raise gr.Error(str(exc)) from None
        return str(_downloadable(output)), f"Done: **{output.name}**", gr.update(choices=list(workspace.unfinished()),
                                                                                 value=None)

    with gr.Blocks(title="lumiere") as page:
        gr.Markdown("# lumiere\nRestore old film and photographs: sharper, cleaned, coloured. Nothing leaves this "
                    "computer.")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Film or picture", elem_id="upload", type="filepath")
                typed = gr.Textbox(label="…or a file or folder on this computer",
                                   placeholder=str(workspace.folders[0]), elem_id="typed")
                size = gr.Radio(list(SIZES), value="x2", label="Size", elem_id="size")
                look = gr.Radio(list(LOOKS), value="faithful", label="Look: faithful invents nothing, detailed draws "
                                                                     "texture")
                clean = gr.Checkbox(label="Clean the film: steady, no flicker, dust and scratches repaired, grain "
                                          "kept", elem_id="clean")
                repair = gr.Checkbox(label="Repair dust and scratches only", elem_id="repair")
                colorize = gr.Checkbox(label="Colorize", elem_id="colorize")
                references = gr.File(label="Colour references (optional): coloured frames or photos of the scenes",
                                     file_count="multiple", type="filepath")
                fps = gr.Number(label="Smooth motion to this many frames per second (0 keeps the film's)", value=0,
                                minimum=0, maximum=120)
                with gr.Row():
                    preview_button = gr.Button("Preview", elem_id="preview")
                    run_button = gr.Button("Restore", variant="primary", elem_id="run")
            with gr.Column():
                slider = gr.ImageSlider(label="Before | after", elem_id="slider", type="numpy")
                status = gr.Markdown(elem_id="status")
                result = gr.File(label="Result", elem_id="result")
                with gr.Accordion("Unfinished jobs"):
                    unfinished = gr.Dropdown(list(workspace.unfinished()), label="Stopped before the end",
                                             elem_id="unfinished")
                    resume_button = gr.Button("Resume", elem_id="resume")
        fields = [upload, typed, size, look, clean, repair, colorize, references, fps]
        preview_button.click(on_preview, fields, [slider, status])
        run_button.click(on_run, fields, [result, status, unfinished])
        resume_button.click(on_resume, [unfinished], [result, status, unfinished])
        page.load(lambda: gr.update(choices=list(workspace.unfinished())), None, [unfinished])
    page.queue(default_concurrency_limit=1)  # one job at a time per server; the others wait their turn
    return page


def _downloadable(output: Path) -> Path:
    """A result the browser can download: a folder of pictures is zipped."""
    if not output.is_dir():
        return output
    return Path(shutil.make_archive(str(output), "zip", output))


def serve(folders: list[Path], host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the web app until stopped."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at run time
    workspace = Workspace(folders)
    page = app(workspace)
    import gradio as gr

    # system fonts: the default theme would have the browser fetch its fonts from Google
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    print(f"lumiere web: open http://{host}:{port} (Ctrl-C stops the server; unfinished films resume from the page)",
          flush=True)
    page.launch(server_name=host, server_port=port, allowed_paths=[str(f) for f in workspace.folders],
                ssr_mode=False, quiet=True, footer_links=[], theme=theme)
