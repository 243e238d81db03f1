"""The web app's workspace and jobs without a browser: what the page may read, where it writes, resuming; and the
page's own handlers through a Gradio server in this process, driven as the browser drives them."""

import os
import socket
import threading
import time

import av
import cv2
import numpy as np
import pytest

from lumiere import web
from lumiere.errors import InputError, OptionError
from lumiere.web import WebJob, Workspace, preview, run

from .conftest import run_cli, write_video


def test_paths_outside_the_servers_folders_are_refused(tmp_path):
    (tmp_path / "films").mkdir()
    workspace = Workspace([tmp_path / "films"])
    with pytest.raises(InputError, match="outside the folders this server was started with"):
        workspace.check(tmp_path)
    with pytest.raises(InputError, match="outside the folders"):
        workspace.check(tmp_path / "films" / ".." / "elsewhere.mp4")
    assert (tmp_path / "films" / "lumiere-web" / "results").is_dir()


@pytest.mark.parametrize("typed", ["films/reel\0.mp4", "\0", "films/" + "x" * 300 + ".mp4", "films/loop.mp4"])
def test_exception_a_typed_path_that_cannot_be_used(tmp_path, typed):
    (tmp_path / "films").mkdir()
    (tmp_path / "films" / "loop.mp4").symlink_to("loop.mp4")
    workspace = Workspace([tmp_path / "films"])
    with pytest.raises(InputError, match="cannot use the path"):
        workspace.check(str(tmp_path / typed))


@pytest.mark.slow
def test_a_folder_of_pictures_previews_its_first_and_runs_them_all(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((12, 16, 3), 100, np.uint8))
    workspace = Workspace([tmp_path])
    before, after, video = preview(WebJob(str(folder), size="x2"), workspace)
    assert before.shape == after.shape == (24, 32, 3) and video is None
    result = run(WebJob(str(folder), size="x2"), workspace)
    assert sorted(p.name for p in result.iterdir()) == ["a.png", "b.png"]


@pytest.mark.slow
def test_the_same_film_job_names_the_same_result(tmp_path):
    film = write_video(tmp_path / "reel.mp4", frames=2, size=(32, 24))
    workspace = Workspace([tmp_path])
    job = WebJob(str(film), size="x2")
    assert workspace.result(job) == workspace.result(WebJob(str(film), size="x2")) != \
        workspace.result(WebJob(str(film), size="x4"))
    written = run(job, workspace)
    assert written.is_file() and not list(written.parent.glob("*.job.json"))  # finished: nothing to resume
    assert workspace.unfinished() == {}


def test_a_saved_job_file_that_is_not_one_is_passed_over(tmp_path):
    workspace = Workspace([tmp_path])
    (workspace.work / "results" / "cut-short.mp4.job.json").write_text('{"input": "reel.mp4", "si')
    (workspace.work / "results" / "edited.mp4.job.json").write_text('{"film": "reel.mp4"}')
    assert workspace.unfinished() == {}


def test_a_film_preview_plays_before_and_after(tmp_path):
    film = write_video(tmp_path / "reel.mp4", frames=36, size=(64, 48), fps=12)
    before, after, video = preview(WebJob(str(film), size="x1"), Workspace([tmp_path]))
    assert before.shape == after.shape == (48, 64, 3)
    with av.open(str(video)) as played:
        stream = played.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 64, 48)
        assert sum(1 for _ in played.decode(stream)) == 24  # two seconds of the film


@pytest.mark.parametrize("codec,suffix,stored", [("h264", ".mp4", "h264"), ("h265", ".mp4", "hevc"),
                                                 ("ffv1", ".mkv", "ffv1")])
def test_a_film_is_written_in_the_codec_chosen(tmp_path, codec, suffix, stored):
    film = write_video(tmp_path / "reel.mp4", frames=4, size=(96, 64))  # h265 takes 64 px a side at least
    written = run(WebJob(str(film), size="x1", codec=codec), Workspace([tmp_path]))
    assert written.suffix == suffix
    with av.open(str(written)) as result:
        assert result.streams.video[0].codec_context.name == stored


def test_a_films_name_before_the_codec_choice_stays(tmp_path):
    """A job saved before the page offered codecs keeps its result's name, so that it still resumes."""
    assert WebJob("reel.mp4", size="x4").name() == "reel-9324c591"
    assert WebJob("reel.mp4", size="x4", codec="ffv1").name() != "reel-9324c591"
    assert WebJob("reel.mp4", size="x4", slowmo=2).name() != "reel-9324c591"


def test_slow_motion_and_the_interpolator_reach_restore():
    assert WebJob("reel.mp4", fps=60).options() == {**WebJob("reel.mp4").options(), "fps": 60.0,
                                                      "interpolate": "rife"}
    assert WebJob("reel.mp4", slowmo=4, interpolate="flow").options()["slowmo"] == 4.0
    assert "interpolate" not in WebJob("reel.mp4").options()


def test_the_pages_choices_are_the_stages_declarations():
    from lumiere import web
    from lumiere.stages.interpolate import InterpolateSettings
    from lumiere.stages.upscale import LOOKS

    assert web.OPTIONS["look"].choices == LOOKS
    declared = next(option for option in InterpolateSettings.options if option.name == "interpolate")
    assert tuple(web.INTERPOLATION_LABELS) == declared.choices


def test_exception_a_failed_film_job_leaves_nothing_to_resume(tmp_path, monkeypatch):
    film = write_video(tmp_path / "reel.mp4", frames=2, size=(32, 24))
    workspace = Workspace([tmp_path])

    def refused(*args, **kwargs):
        raise InputError("refused")

    monkeypatch.setattr(web.api, "restore", refused)
    with pytest.raises(InputError, match="refused"):
        run(WebJob(str(film)), workspace)
    assert not list((workspace.work / "results").glob("*.job.json")) and workspace.unfinished() == {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_exception_the_port_is_in_use(tmp_path):
    pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run_cli("web", "--port", port, "--folder", tmp_path)
    assert ran.returncode == 1 and "open http" not in ran.stdout
    assert ran.stderr.count("\n") == 1 and ran.stderr.startswith(f"lumiere: error: port {port} ")


def test_exception_the_host_names_no_address(tmp_path):
    with pytest.raises(OptionError, match=r"no address to listen on is named no\.such\.host\.invalid .*another host$"):
        web.serve([tmp_path], "no.such.host.invalid", _free_port())


# ---------------------------------------------------------------------------------- the page, served here

UPLOAD_LIMIT = 20_000  # bytes: a small limit, to see uploads over it refused


class Served:
    def __init__(self, workspace: Workspace, client):
        self.workspace, self.client = workspace, client

    def fields(self, upload=None, typed="", codec="h264") -> list:
        """What the page's form sends: upload, typed path, size, look, clean, repair, colorize, references, fps,
        codec, slow motion, how in-between frames are drawn."""
        return [upload, typed, "x2", "faithful", False, False, False, [], 0, codec, 1, "rife"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")
    client_module = pytest.importorskip("gradio_client")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    workspace = Workspace([tmp_path_factory.mktemp("served")])
    port = _free_port()
    page = web.launch(workspace, "127.0.0.1", port, max_file_size=UPLOAD_LIMIT, prevent_thread_lock=True)
    yield Served(workspace, client_module.Client(f"http://127.0.0.1:{port}/", verbose=False))
    page.close()


def _sleeper(kind: str, spans: list):
    def job(job, workspace, report=None):
        started = time.monotonic()
        time.sleep(1.0)
        spans.append((kind, started, time.monotonic()))
        return (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), None) if kind == "preview" else \
            workspace.work / "results"
    return job


@pytest.mark.slow
def test_two_jobs_from_the_page_run_one_after_the_other(served, monkeypatch, tmp_path):
    film = write_video(served.workspace.folders[0] / "two.mp4", frames=2, size=(32, 24))
    spans: list = []
    monkeypatch.setattr(web, "run", _sleeper("run", spans))
    monkeypatch.setattr(web, "preview", _sleeper("preview", spans))
    restoring = served.client.submit(*served.fields(typed=str(film)), api_name="/restore")
    time.sleep(0.3)
    previewing = served.client.submit(*served.fields(typed=str(film)), api_name="/preview")
    restoring.result(timeout=60), previewing.result(timeout=60)
    (first, _, first_end), (second, second_start, _) = sorted(spans, key=lambda span: span[1])
    assert (first, second) == ("run", "preview") and second_start >= first_end


def test_exception_an_unexpected_failure_reaches_the_page_in_words(served, monkeypatch):
    from gradio_client.exceptions import AppError

    film = write_video(served.workspace.folders[0] / "broken.mp4", frames=2, size=(32, 24))

    def broken(job, workspace, report=None):
        raise RuntimeError("the converter broke")

    monkeypatch.setattr(web, "run", broken)
    with pytest.raises(AppError, match="RuntimeError: the converter broke"):
        served.client.predict(*served.fields(typed=str(film)), api_name="/restore")


def test_the_page_follows_the_jobs_progress_to_the_end(served, monkeypatch):
    from tqdm import tqdm

    film = write_video(served.workspace.folders[0] / "progress.mp4", frames=2, size=(32, 24))

    def counted(job, workspace, report=None):
        # as the pipeline does it: the bar is made by the job, and moved by the thread that writes the frames
        bar = tqdm(total=10, desc="restore")
        writer = threading.Thread(target=lambda: [(time.sleep(0.15), bar.update(1)) for _ in range(10)])
        writer.start()
        writer.join()
        bar.close()
        return workspace.work / "results"

    monkeypatch.setattr(web, "run", counted)
    submitted = served.client.submit(*served.fields(typed=str(film)), api_name="/restore")
    seen = []
    while not submitted.done():
        for unit in submitted.status().progress_data or []:
            if unit.progress is not None:
                seen.append(unit.progress)
            elif unit.index is not None and unit.length:
                seen.append(unit.index / unit.length)
        time.sleep(0.05)
    submitted.result()
    assert any(0.2 <= fraction <= 0.8 for fraction in seen), seen
    assert seen == sorted(seen)


def _uploads(served) -> list:
    return sorted(p.name for p in (served.workspace.work / "uploads").iterdir())


def test_a_refused_upload_is_not_kept(served, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(10_000))
    with pytest.raises(AppError, match="not a video"):
        served.client.predict(*served.fields(upload=handle_file(str(junk))), api_name="/restore")
    assert _uploads(served) == []


def test_a_finished_uploads_copy_is_not_kept(served, monkeypatch, tmp_path):
    from gradio_client import handle_file

    film = write_video(tmp_path / "done.mp4", frames=2, size=(32, 24))
    monkeypatch.setattr(web, "run", lambda job, workspace, report=None: workspace.work / "results")
    served.client.predict(*served.fields(upload=handle_file(str(film))), api_name="/restore")
    assert _uploads(served) == []


def test_exception_an_upload_over_the_limit(served, tmp_path):
    from gradio_client import handle_file

    large = tmp_path / "large.mp4"
    large.write_bytes(os.urandom(UPLOAD_LIMIT * 2))
    with pytest.raises(Exception, match="maximum (file|allowed) size"):  # the client refuses it, as the page does
        served.client.predict(*served.fields(upload=handle_file(str(large))), api_name="/restore")
    assert _uploads(served) == []
