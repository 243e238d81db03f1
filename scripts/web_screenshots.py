"""Screenshots of `lumiere web` on the real street film for docs/: the start page, a preview with its before | after
video and slider, and a finished job. Needs the web and test extras and Debian's chromium.

    .venv/bin/python scripts/web_screenshots.py [--film ../shared/data/film/street-scene.mp4]
"""

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent.parent / "docs"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--film", type=Path, default=Path("../shared/data/film/street-scene.mp4"))
    args = parser.parse_args()
    film = args.film.resolve()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as work:
        # the page may read the film's folder; its uploads and results go to a temporary folder, listed first
        server = subprocess.Popen([sys.executable, "-m", "lumiere", "web", "--port", str(port), "--folder", work,
                                   "--folder", str(film.parent)])
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(300):
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.3)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.locator("#typed textarea").fill(str(film))
                page.screenshot(path=str(DOCS / "web-start.png"), full_page=True)
                page.click("#preview")
                page.locator("#status").get_by_text("drag the line to compare").wait_for(timeout=600_000)
                # the two seconds before | after, held at their middle for the picture
                page.wait_for_function("document.querySelector('#compare video')?.readyState >= 2", timeout=60_000)
                page.evaluate("(video => { video.pause(); video.currentTime = video.duration / 2; })"
                              "(document.querySelector('#compare video'))")
                page.wait_for_timeout(500)
                page.screenshot(path=str(DOCS / "web-preview.png"), full_page=True)
                page.click("#run")
                page.locator("#result a[download]").first.wait_for(timeout=1_800_000)
                page.screenshot(path=str(DOCS / "web-finished.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(f"wrote {', '.join(str(DOCS / f'web-{name}.png') for name in ('start', 'preview', 'finished'))}")


if __name__ == "__main__":
    main()
