"""Multi-frame film upscaling: film-degraded Vid4 `calendar` at x4, and speed at 640x480 -> x4.

Quality: `film_quality.py`'s exact degradation of calendar (blur sigma 1.0, x4 bicubic, grain 0.04 new in each
frame, JPEG 75, gray; seed 1895), scored in Y-PSNR/SSIM with 4 px shaved, as `film_quality.py` scores it:
bicubic, the single-frame film-x4 (as `lumiere upscale --model film-x4` runs it), the multi-frame network made
from film-x4 before any training (it must score as film-x4 does: a check of the benchmark's own path), and each
`--video-model` (a `lumiere train video` result), which sees each frame's two neighbours on each side laid onto
it by DIS flow (`engine/multiframe.upscale_clip`). Speed: the first frames of `film/street-scene.mp4` (640x480)
through film-x4 and through each multi-frame network, flow included, in frames per second.

    .venv/bin/python benchmarks/video_quality.py --video-model runs/video-x4.safetensors [--speed-frames 4]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from film_quality import SEED, film_x4, load_calendar

from common import DATA, load_frames, print_table, require, save, shipped_upscalers
from lumiere.degradations import functional as Fd
from lumiere.engine.multiframe import upscale_clip
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.eval.metrics import psnr_y, ssim_y
from lumiere.models.loader import load_model, save_weights
from lumiere.models.multiframe import MultiFrameNet
from lumiere.ops import array_to_tensor

STREET_SCENE = DATA / "film" / "street-scene.mp4"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def video_runner(path: Path) -> ModelRunner:
    return ModelRunner(load_model(str(path), roles=("video",)), RunnerSettings("cpu", tile=0))


def frames_per_second(run, clip: torch.Tensor) -> float:
    run(clip[:1])  # the first call sets oneDNN's kernels up
    started = time.perf_counter()
    run(clip)
    return clip.shape[0] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video-model", type=Path, action="append", default=[],
                        help="a multi-frame x4 network (lumiere train video); repeatable")
    parser.add_argument("--speed-frames", type=int, default=4, help="640x480 frames timed per method (0: no timing)")
    args = parser.parse_args()

    single = shipped_upscalers(["film-x4"])
    with tempfile.TemporaryDirectory() as folder:
        untrained = Path(folder) / "film-x4-multiframe-untrained.safetensors"
        save_weights(MultiFrameNet.from_compact(load_model("film-x4").module), untrained, {})
        videos = {"film-x4 as multi-frame, untrained": video_runner(untrained)}
    videos.update({path.name: video_runner(path) for path in args.video_model})

    hr = load_calendar()
    lr = film_x4(hr, SEED)
    multi_frame = {name: (lambda x, runner=runner: upscale_clip(runner, x)) for name, runner in videos.items()}
    methods = {"bicubic": lambda x: Fd.resize(x, (x.shape[-2] * 4, x.shape[-1] * 4), "bicubic").clamp(0, 1),
               **single, **multi_frame}
    rows = []
    for name, method in methods.items():
        sr = method(lr)
        rows.append({"method": name, "psnr_y": round(psnr_y(sr, hr, 4).mean().item(), 2),
                     "ssim_y": round(ssim_y(sr, hr, 4).mean().item(), 4)})
    base = {row["method"]: row["psnr_y"] for row in rows}
    for row in rows:
        row["vs_bicubic_db"] = f"{row['psnr_y'] - base['bicubic']:+.2f}"
        if "film-x4" in base:
            row["vs_film_x4_db"] = f"{row['psnr_y'] - base['film-x4']:+.2f}"
    print(f"Vid4 calendar, film-degraded x4 ({hr.shape[0]} frames, {lr.shape[-1]}x{lr.shape[-2]} -> "
          f"{hr.shape[-1]}x{hr.shape[-2]})")
    print_table(rows, ["method", "psnr_y", "ssim_y", "vs_bicubic_db", "vs_film_x4_db"])

    speed_rows = []
    if args.speed_frames:
        pictures = load_frames(require(STREET_SCENE))[:args.speed_frames]
        clip = torch.stack([array_to_tensor(np.ascontiguousarray(picture)) for picture in pictures])
        trained = {path.name for path in args.video_model}  # the untrained one runs as fast as they do
        timed = {**single, **{name: run for name, run in multi_frame.items() if name in trained}}
        for name, method in timed.items():
            speed_rows.append({"method": name, "fps": round(frames_per_second(method, clip), 3)})
        if single:
            film_fps = speed_rows[0]["fps"]
            for row in speed_rows:
                row["time_vs_film_x4"] = f"{film_fps / row['fps']:.2f}x"
        print(f"\nspeed: {clip.shape[0]} frames {clip.shape[-1]}x{clip.shape[-2]} -> x4 on {cpu_name()}, "
              f"{torch.get_num_threads()} threads")
        print_table(speed_rows, ["method", "fps", "time_vs_film_x4"])
    save("video_quality", {"degradation": "film_quality.film_x4, seed %d" % SEED, "cpu": cpu_name(), "rows": rows,
                           "speed": speed_rows})


if __name__ == "__main__":
    main()
