"""Shared fixtures: devices and dtypes to run over, tiny models, synthetic films, the shared data."""

import contextlib
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from lumiere.models.archs import build_compact
from lumiere.models.loader import save_weights

DATA = Path(os.environ.get("LUMIERE_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# Under pytest-xdist the workers share the cores: each takes its part of them, for itself and the programs its tests
# start, rather than every process spinning up threads for all of them.
THREADS = max(1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1))))
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
torch.set_num_threads(THREADS)



def pytest_collection_modifyitems(items: list) -> None:
    """The slow tests first, in their files' order: handed out first, the long ones do not leave one worker
    running alone at the end while the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _ordinary_scheduling():
    """Each test, and the programs it starts, at the ordinary time-sharing priority: a test process found raised to
    real-time (seen here on a worker) passes that to the browsers it starts, whose busy pages then starve the
    server they are waiting on."""
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def data_path(*parts: str) -> Path:
    """A path under the shared data, or skip the test with the reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set LUMIERE_DATA or place ../shared beside the repo)")
    return path


def smooth_pictures(count: int, side: int) -> torch.Tensor:
    """Pictures with the spatial correlation of real ones (random noise enlarged), in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(count, 3, side // 4, side // 4, generator=generator)
    return torch.nn.functional.interpolate(noise, size=(side, side), mode="bilinear", align_corners=False)


def smooth_images(folder: Path, count: int, side: int, detail: int) -> Path:
    """`count` smooth random colour pictures, `side` pixels square, enlarged from `detail`-pixel noise: training
    material small enough for a test."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        noise = rng.integers(0, 255, (detail, detail, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.resize(noise, (side, side), interpolation=cv2.INTER_CUBIC))
    return folder


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=_devices())
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[int, Path]:
    """Small random Compact networks (x1, x2, x4) saved as safetensors, as a user's model would be."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for scale in (1, 2, 4):
        torch.manual_seed(scale)
        model = build_compact(scale, num_feat=8, num_conv=2)
        path = folder / f"tiny-x{scale}.safetensors"
        save_weights(model, path, {})
        paths[scale] = path
    return paths


@pytest.fixture(scope="session")
def tiny_colorizer(tmp_path_factory) -> Path:
    """A small random colorization network saved as `lumiere train colorize` saves one."""
    from lumiere.models.colornet import ColorNet, ColorNetConfig

    torch.manual_seed(0)
    model = ColorNet(ColorNetConfig(width=4)).eval()
    path = tmp_path_factory.mktemp("models") / "tiny-colorize.safetensors"
    save_weights(model, path, {"lumiere.task": "colorize"})
    return path


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fps: int = 12,
                codec: str = "libx264", pix_fmt: str = "yuv420p", audio: str | None = None,
                subtitles: bool = False, seed: int = 0) -> Path:
    """A short moving test pattern, optionally with a sine tone (in `audio` codec) and a subtitle stream."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(0, 255, (height, width * 2, 3), dtype=np.uint8)
    base = np.ascontiguousarray(np.repeat(np.repeat(base[::4, ::4], 4, 0), 4, 1)[:height, :width * 2])
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if audio:
            sound = container.add_stream(audio, rate=48000)
            sound.layout = "stereo"
        if subtitles:
            subtitle = container.add_mux_stream("subrip", time_base=Fraction(1, 1000))
        for index in range(frames):
            shift = index * 2
            picture = np.ascontiguousarray(base[:, shift:shift + width])
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if subtitles:
            for index, text in enumerate([b"The train arrives.", b"Passengers step down."]):
                packet = av.Packet(text)
                packet.stream = subtitle
                packet.pts = packet.dts = index * 500
                packet.duration = 400
                container.mux(packet)
        if audio:
            sample_rate, seconds = 48000, frames / fps
            t = np.arange(int(sample_rate * seconds)) / sample_rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            step = sound.codec_context.frame_size or 1024
            for start in range(0, len(tone) - step + 1, step):
                block = np.stack([tone[start:start + step]] * 2)
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                frame.sample_rate = sample_rate
                frame.pts = start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


@pytest.fixture
def video_factory(tmp_path):
    def make(name: str = "clip.mp4", **kwargs) -> Path:
        return write_video(tmp_path / name, **kwargs)
    return make


def decode_all(path: Path) -> list[np.ndarray]:
    from lumiere.io.reader import open_source

    return [frame.rgb for frame in open_source(path).frames()]


def run_cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command line run in this process, as a shell would meet it: exit status, stdout and stderr apart.
    (A process of its own costs seconds of imports; `test_cli.run_process` is kept for what needs one.)"""
    from click.testing import CliRunner

    from lumiere.cli import main

    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(main, [str(arg) for arg in args], prog_name="lumiere")
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
