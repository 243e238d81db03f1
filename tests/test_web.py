"""`lumiere web` in a real headless browser: Debian's chromium driven by Playwright (no browser is downloaded)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import decode_all, write_video

pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y "
                                                          "chromium)")
# as the machine's closed network wants it: no background connections, no first-run, no sandbox as root
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = os.environ.get("LUMIERE_WEB_SCREENSHOTS")  # a folder: keep the pages seen (docs/web-*.png)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, folder: Path):
        self.folder, self.port = folder, _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = None

    def start(self) -> "Server":
        self.process = subprocess.Popen([sys.executable, "-m", "lumiere", "web", "--port", str(self.port),
                                         "--folder", str(self.folder)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped: {self.process.stdout.read()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the server did not answer within 90 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "films")
    running.folder.mkdir()
    yield running.start()
    running.kill()


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"web-{name}.png"), full_page=True)


def _upload(page, path: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#upload").get_by_text(path.name).first.wait_for(timeout=30_000)


def _download(page, tmp_path: Path) -> Path:
    link = page.locator("#result a[download]").first
    link.wait_for(timeout=240_000)
    with page.expect_download() as download:
        link.click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    return target


@pytest.mark.slow
def test_upload_preview_restore_and_download(server, browser, tmp_path):
    clip = write_video(tmp_path / "street.mp4", frames=24, size=(64, 48))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(server.url)
    _upload(page, clip)
    _shot(page, "start")
    page.click("#preview")
    page.locator("#status").get_by_text("drag the line to compare").wait_for(timeout=240_000)
    assert page.locator("#slider img").count() == 2
    # the two seconds before | after play in the page (the clip: 24 frames at 12 fps)
    page.wait_for_function("document.querySelector('#compare video')?.duration > 1.9", timeout=30_000)
    assert page.evaluate("document.querySelector('#compare video').error") is None
    _shot(page, "preview")
    page.get_by_label("x4").check()
    page.click("#run")
    downloaded = _download(page, tmp_path)
    _shot(page, "finished")
    frames = decode_all(downloaded)
    assert len(frames) == 24 and frames[0].shape == (192, 256, 3)


@pytest.mark.slow
def test_a_path_outside_the_servers_folders_is_refused(server, browser):
    page = browser.new_page()
    page.goto(server.url)
    page.locator("#typed textarea").fill("/etc/hostname")
    page.click("#run")
    page.get_by_text("is outside the folders this server was started with").first.wait_for(timeout=60_000)


@pytest.mark.slow
def test_a_film_stopped_by_a_killed_server_resumes_from_the_page(server, browser, tmp_path):
    clip = write_video(server.folder / "reel.mp4", frames=40, size=(96, 72), fps=2)  # 10 s chunks: 20 frames
    page = browser.new_page(accept_downloads=True)
    page.goto(server.url)
    page.locator("#typed textarea").fill(str(clip))
    page.get_by_label("Clean the film").check()
    page.click("#run")
    manifest, deadline = None, time.monotonic() + 240
    while time.monotonic() < deadline:
        manifest = next((server.folder / "lumiere-web" / "results").glob(".*.lumiere/manifest.json"), None)
        if manifest is not None and '"sha256"' in manifest.read_text():
            break
        time.sleep(0.1)
    assert manifest is not None, "no chunk was finished"
    page.close()  # an open page reloads itself when its server comes back, racing the visit below
    server.kill()
    server.start()
    page = browser.new_page(accept_downloads=True)
    page.goto(server.url)
    page.locator("#unfinished input").click()
    page.get_by_role("option", name="reel.mp4 (x2): 1 of 2 chunks done").click()
    page.click("#resume")
    frames = decode_all(_download(page, tmp_path))
    assert len(frames) == 40 and frames[0].shape == (144, 192, 3)
