"""End-to-end restore throughput against the bare model, and memory against film length.

1. Throughput: `restore` of street-scene.mp4 (150 frames, 640x480) at x4 with sr-x4
   (or `--model`, `--scale`) vs its upscale stage alone on the same decoded frames
   (no I/O). The ratio says how well decoding and encoding hide behind inference. On a CPU, x264 shares
   the cores with the network: its time alone on the restored frames gives the best ratio those cores allow.
2. Memory: peak resident memory of `lumiere restore` in a fresh process for a
   150-frame and a 1500-frame film (320x240, x2; the same frames looped).

    .venv/bin/python benchmarks/restore_e2e.py [--part throughput|memory|both] [--preset medium]
        [--model video-x2 --scale 2]
"""

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from common import DATA, looped_film, print_table, require, restore_peak_memory, save
from lumiere._malloc import keep_freed_memory
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.io.color import ColorInfo
from lumiere.io.reader import FrameInfo, open_source
from lumiere.io.writer import EncodeSettings, video_file
from lumiere.jobs import restore
from lumiere.ops import array_to_tensor
from lumiere.stages.upscale import UpscalerChoice, UpscaleSettings, upscale_stage

FILM = DATA / "film" / "street-scene.mp4"


def bare_model_fps(model: str, scale: int, precision: str) -> float:
    """The upscale stage alone on the decoded frames (a multi-frame network's optical flow included)."""
    frames = [array_to_tensor(f.rgb) for f in open_source(FILM).frames()]
    size = (frames[0].shape[-1], frames[0].shape[-2])
    stage = upscale_stage(UpscalerChoice(model), Runners(RunnerSettings("cpu", precision)), size,
                          (size[0] * scale, size[1] * scale))
    items = [(FrameInfo(index, index, 1), frame) for index, frame in enumerate(frames)]
    with torch.inference_mode():
        for _ in stage.stream(iter(items[:3])):  # the first frames set oneDNN's kernels up
            pass
        start = time.perf_counter()
        for _ in stage.stream(iter(items)):
            pass
    return len(frames) / (time.perf_counter() - start)


def restore_fps(model: str, scale: int, preset: str, precision: str, folder: Path) -> tuple[float, float]:
    out = folder / "restored.mp4"
    start = time.perf_counter()
    options = UpscaleSettings(scale=scale, model=model)
    restore(FILM, out, options, runner=RunnerSettings("cpu", precision), preset=preset, show_progress=False,
            restart=True)
    seconds = time.perf_counter() - start
    return 150 / seconds, seconds


def encode_seconds_per_frame(restored: Path, preset: str, folder: Path, frames: int = 40) -> float:
    """x264's own time per frame on the restored film's first frames (decoded beforehand), with restore's
    settings: the share of the CPU that encoding takes whatever the pipeline does."""
    pictures = [frame.rgb for frame, _ in zip(open_source(restored).frames(), range(frames))]
    height, width = pictures[0].shape[:2]
    start = time.perf_counter()
    with video_file(folder / "encoded-alone.mp4", EncodeSettings("h264", crf=18, preset=preset), width, height,
                    Fraction(18), Fraction(1, 18), ColorInfo.bt709()) as writer:
        for index, picture in enumerate(pictures):
            writer.write(picture, index, 1)
    return (time.perf_counter() - start) / len(pictures)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["throughput", "memory", "both"], default="both")
    parser.add_argument("--preset", default="medium", help="x264 preset for the restore run")
    parser.add_argument("--precision", default="auto", help="auto (int8 for calibrated networks on CPUs), int8, "
                        "bf16 or fp32")
    parser.add_argument("--model", default="sr-x4", help="the network (video-x2: what restore enlarges a film with)")
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    require(FILM)
    keep_freed_memory()  # as the CLI does
    torch.set_num_threads(torch.get_num_threads())
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.part in ("throughput", "both"):
            bare = bare_model_fps(args.model, args.scale, args.precision)
            e2e, seconds = restore_fps(args.model, args.scale, args.preset, args.precision, folder)
            encode = encode_seconds_per_frame(folder / "restored.mp4", args.preset, folder)
            # on shared cores the network and x264 take turns: this is the ratio a pipeline without any cost of
            # its own would reach
            shared_cores_bound = 1 / (1 + bare * encode)
            results["throughput"] = {"input": f"street-scene.mp4, 150 frames 640x480 -> x{args.scale} with "
                                              f"{args.model}, h264 crf 18 preset {args.preset}, precision "
                                              f"{args.precision}",
                                     "bare_model_fps": round(bare, 3), "restore_fps": round(e2e, 3),
                                     "restore_seconds": round(seconds, 1), "ratio": round(e2e / bare, 3),
                                     "encode_alone_fps": round(1 / encode, 2),
                                     "shared_cores_bound": round(shared_cores_bound, 3),
                                     "of_the_bound": round(e2e / bare / shared_cores_bound, 3)}
            print_table([results["throughput"]], ["bare_model_fps", "restore_fps", "restore_seconds", "ratio",
                                                  "encode_alone_fps", "shared_cores_bound", "of_the_bound"])
        if args.part in ("memory", "both"):
            rows = []
            for frames in (150, 1500):
                film = looped_film(FILM, folder / f"film-{frames}.mp4", frames)
                megabytes, run_seconds = restore_peak_memory(film, folder / f"film-{frames}-x2.mp4", "--scale", "2")
                rows.append({"frames": frames, "peak_rss_mb": round(megabytes, 1), "seconds": round(run_seconds, 1)})
            rows[1]["vs_150_frames"] = f"{100 * (rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb'] - 1):+.1f}%"
            print()
            print_table(rows, ["frames", "peak_rss_mb", "seconds", "vs_150_frames"])
            results["memory"] = {"input": "320x240 h264 film (street-scene frames looped) -> x2", "rows": rows}
    name = "restore_e2e" if args.part == "both" else f"restore_e2e_{args.part}"
    if args.part == "throughput":
        name += f"_{args.preset}_{args.precision}" + ("" if args.model == "sr-x4" else f"_{args.model}")
    save(name, results)


if __name__ == "__main__":
    main()
