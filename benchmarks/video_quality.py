"""Multi-frame film upscaling: film-degraded and clean Vid4 `calendar` at x4, speed at 640x480 -> x4, and memory
against film length.

Film quality: `film_quality.py`'s exact degradation of calendar (blur sigma 1.0, x4 bicubic, grain 0.04 new in each
frame, JPEG 75, gray; seed 1895; part `film-x2`: the same at x2, blur sigma 0.5, for video-x2 against film-x2;
`film-x1`: at the same size, blur sigma 0.25, for the cleaner video-x1 against film-clean), scored in Y-PSNR/SSIM
with 4 px shaved, as `film_quality.py` scores it: bicubic, the single-frame film-x4 (as `lumiere upscale --model
film-x4` runs it), the multi-frame network made from film-x4 before any training (it must score as film-x4 does: a
check of the benchmark's own path), the shipped video-x4 and each `--video-model` (a `lumiere train video` result),
which see each frame's two neighbours on each side laid onto it by DIS flow, through the stage restore runs
(`VideoUpscaleStage`).
Damage part by part (`film-damage`): calendar blurred and shrunk as the film part is, with no damage, then with
its grain, its JPEG, and both: what each part of the damage costs each network, and what the published weights
gain with none (the most a BasicVSR can be asked to gain on the damaged clip).
Clean quality: calendar shrunk x4 with MATLAB-style (antialiased) bicubic, the classic video super-resolution
protocol (BI), scored in colour Y-PSNR the same way; sr-x4 is the single-frame network trained for this input.
Speed: the first frames of `film/street-scene.mp4` (640x480) through film-x4 and each multi-frame network, flow
included, in frames per second. Memory: peak resident memory of `lumiere restore --scale 4` (the faithful look:
video-x4) in a fresh process, a 150- and a 1,500-frame film (street-scene shrunk to 320x240 and looped).

    .venv/bin/python benchmarks/video_quality.py [--video-model runs/video-x4.safetensors] [--speed-frames 4]
        [--part film|film-x2|film-x1|film-damage|clean|speed|memory|recurrent] (repeatable; default all)
"""

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from film_quality import SEED, film_degraded, load_calendar

from common import (
    DATA,
    load_frames,
    looped_film,
    print_table,
    require,
    restore_peak_memory,
    save,
    shipped_upscalers,
    upscaler,
)
from lumiere.degradations import functional as Fd
from lumiere.eval.metrics import detail_ratio, psnr_y, ssim_y
from lumiere.models.loader import load_model, save_weights
from lumiere.models.multiframe import MultiFrameNet
from lumiere.ops import array_to_tensor

STREET_SCENE = DATA / "film" / "street-scene.mp4"
PARTS = ["film", "film-x2", "film-x1", "film-damage", "clean", "speed", "memory", "recurrent"]
# The recurrent network costs about 8.8 GFLOP an input pixel: its speed is timed on one 640x480 window of
# RECURRENT_FRAMES in fp32, and its precisions against each other on a smaller one; its memory against film length
# on a tiny film (what is held does not depend on the picture's size only: windows, not the film, are held).
RECURRENT_FRAMES = 4
RECURRENT_SMALL = (160, 120)
RECURRENT_FILM = (32, 24)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def frames_per_second(run, clip: torch.Tensor) -> float:
    run(clip[:1])  # the first call sets oneDNN's kernels up
    started = time.perf_counter()
    run(clip)
    return clip.shape[0] / (time.perf_counter() - started)


def scored(methods: dict, lr: torch.Tensor, hr: torch.Tensor, single: str) -> list[dict]:
    rows = []
    for name, method in methods.items():
        sr = method(lr)
        rows.append({"method": name, "psnr_y": round(psnr_y(sr, hr, 4).mean().item(), 2),
                     "ssim_y": round(ssim_y(sr, hr, 4).mean().item(), 4),
                     "detail": round(detail_ratio(sr, hr, 4).mean().item(), 3)})
        print(f"{name}: {rows[-1]['psnr_y']}", flush=True)
    base = {row["method"]: row["psnr_y"] for row in rows}
    for row in rows:
        row["vs_bicubic_db"] = f"{row['psnr_y'] - base['bicubic']:+.2f}"
        if single in base:
            row[f"vs_{single}_db"] = f"{row['psnr_y'] - base[single]:+.2f}"
    return rows


def bicubic(x: torch.Tensor, scale: int = 4) -> torch.Tensor:
    return Fd.resize(x, (x.shape[-2] * scale, x.shape[-1] * scale), "bicubic").clamp(0, 1)


def film_part(video_models: list[Path], scale: int) -> list[dict]:
    hr = load_calendar()
    lr = film_degraded(hr, SEED, scale)
    single = "film-clean" if scale == 1 else f"film-x{scale}"
    with tempfile.TemporaryDirectory() as folder:
        untrained = Path(folder) / f"{single}-multiframe-untrained.safetensors"
        save_weights(MultiFrameNet.from_compact(load_model(single).module), untrained, {})
        recurrent = ["basicvsr-blurred-x4", "basicvsr-clean-x4", "basicvsr-film-x4"] if scale == 4 else []
        videos = {**{name: upscaler(name, scale) for name in shipped_upscalers([f"video-x{scale}", *recurrent],
                                                                                scale)},
                  **{path.name: upscaler(str(path), scale) for path in video_models}}
        if scale == 4:  # the detailed look at --quality high, and the adversarial fine-tune it blends towards
            recurrent += ["--quality high --look detailed", "basicvsr-film-x4-detailed"]
            videos.update({"--quality high --look detailed": upscaler(look="detailed", quality="high", video=True),
                           **shipped_upscalers(["basicvsr-film-x4-detailed"])})
        # each frame alone, as at a cut every frame: what the network does with no neighbour to help
        alone = {f"{name}, every frame alone": (lambda x, run=run: torch.cat([run(frame[None]) for frame in x]))
                 for name, run in videos.items() if name not in recurrent and not name.startswith("restore")}
        stills = [single, "film-x4-high"] if scale == 4 else [single]  # film-x4-high: --quality high on stills
        methods = {"bicubic": lambda x: bicubic(x, scale), **shipped_upscalers(stills, scale),
                   **({"--look detailed": upscaler(look="detailed", scale=scale)} if scale > 1 else {}),
                   f"{single} as multi-frame, untrained": upscaler(str(untrained), scale), **videos, **alone}
        rows = scored(methods, lr, hr, single)
    print(f"Vid4 calendar, film-degraded x{scale} ({hr.shape[0]} frames, {lr.shape[-1]}x{lr.shape[-2]} -> "
          f"{hr.shape[-1]}x{hr.shape[-2]})")
    print_table(rows, ["method", "psnr_y", "ssim_y", "vs_bicubic_db", f"vs_{single}_db", "detail"])
    return rows


def damage_steps(hr: torch.Tensor) -> dict[str, torch.Tensor]:
    """Calendar at x4 with film_x4's damage added a part at a time (the same seed), the last all of it."""
    return {"blur and x4 only": film_degraded(hr, SEED, 4, grain=False, jpeg=False),
            "+ grain": film_degraded(hr, SEED, 4, jpeg=False), "+ JPEG 75": film_degraded(hr, SEED, 4, grain=False),
            "+ grain + JPEG 75 (the film part)": film_degraded(hr, SEED, 4)}


def damage_part() -> list[dict]:
    """Where the dB go: each network's gain over bicubic as film_x4's damage is added part by part. The published
    weights on calendar blurred and shrunk with no damage bound what a BasicVSR can gain on the damaged one."""
    hr = load_calendar()
    steps = damage_steps(hr)
    methods = shipped_upscalers(["video-x4", "basicvsr-blurred-x4", "basicvsr-clean-x4", "basicvsr-film-x4"])
    rows = []
    for damage, lr in steps.items():
        scores = {"bicubic": psnr_y(bicubic(lr), hr, 4).mean().item()}
        for name, method in methods.items():
            scores[name] = psnr_y(method(lr), hr, 4).mean().item()
        row = {"damage": damage, "bicubic": round(scores["bicubic"], 2),
               **{name: f"{score - scores['bicubic']:+.2f}" for name, score in scores.items() if name != "bicubic"}}
        rows.append(row)
        print(row, flush=True)
    print("Vid4 calendar x4, film_x4's damage part by part: bicubic Y-PSNR, each network's gain over it (dB)")
    print_table(rows, list(rows[0]))
    return rows


def whole_clip(name: str):
    """The recurrent network `name` over a whole clip in one pass, as the published code runs it: restore's
    windows (15 frames, 5 more read on each side) are measured against it."""
    from lumiere.engine.runner import ModelRunner, RunnerSettings

    runner = ModelRunner(load_model(name), RunnerSettings(tile=0))
    return lambda x: runner(x).clamp(0, 1)


def clean_part(video_models: list[Path]) -> list[dict]:
    hr = load_calendar()
    lr = Fd.quantize(Fd.resize(hr, (hr.shape[-2] // 4, hr.shape[-1] // 4), "bicubic").clamp(0, 1))
    methods = {"bicubic": bicubic, **shipped_upscalers(["sr-x4", "film-x4"]),
               "lumiere's choice for a film (faithful)": upscaler(video=True),
               **{name: upscaler(name) for name in shipped_upscalers(["video-x4", "basicvsr-clean-x4"])},
               **{path.name: upscaler(str(path)) for path in video_models}}
    methods["basicvsr-clean-x4, the whole clip in one pass"] = whole_clip("basicvsr-clean-x4")
    rows = scored(methods, lr, hr, "sr-x4")
    print(f"Vid4 calendar, clean bicubic x4 (BI; {hr.shape[0]} frames); BasicVSR++ publishes 27.77 dB on all of Vid4")
    print_table(rows, ["method", "psnr_y", "ssim_y", "vs_bicubic_db", "vs_sr-x4_db"])
    return rows


def speed_part(video_models: list[Path], frames: int) -> list[dict]:
    pictures = load_frames(require(STREET_SCENE))[:frames]
    clip = torch.stack([array_to_tensor(np.ascontiguousarray(picture)) for picture in pictures])
    rows = []
    for precision in ("auto", "fp32"):  # auto: bf16 where the CPU computes it natively
        names = ["film-x4", *shipped_upscalers(["video-x4"]), *map(str, video_models)]
        timed = {name: upscaler(name, precision=precision) for name in names}
        first = len(rows)
        rows += [{"method": Path(name).name, "precision": precision, "fps": round(frames_per_second(run, clip), 3)}
                 for name, run in timed.items()]
        for row in rows[first:]:
            row["time_vs_film_x4"] = f"{rows[first]['fps'] / row['fps']:.2f}x"
    print(f"speed: {clip.shape[0]} frames {clip.shape[-1]}x{clip.shape[-2]} -> x4 on {cpu_name()}, "
          f"{torch.get_num_threads()} threads")
    print_table(rows, ["method", "precision", "fps", "time_vs_film_x4"])
    return rows


def memory_part() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for frames in (150, 1500):
            film = looped_film(require(STREET_SCENE), Path(folder) / f"film{frames}.mp4", frames)
            megabytes, seconds = restore_peak_memory(film, Path(folder) / f"out{frames}.mp4", "--scale", "4")
            rows.append({"frames": frames, "peak_rss_mb": round(megabytes, 1), "seconds": round(seconds, 1)})
            print(rows[-1], flush=True)
    rows[1]["vs_150_frames"] = f"{100 * (rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb'] - 1):+.1f}%"
    print("memory: lumiere restore --scale 4 (video-x4), 320x240 street-scene looped")
    print_table(rows, ["frames", "peak_rss_mb", "seconds", "vs_150_frames"])
    return rows


def bf16_cast(name: str, clip: torch.Tensor) -> dict:
    """The recurrent network `name` cast to bf16 whole, which its descriptor does not allow restore to do: frames a
    second on `clip` and how far its output lies from fp32's (Y-PSNR)."""
    module = load_model(name).module.eval()
    with torch.inference_mode():
        reference = module(clip).clamp(0, 1)
        cast = copy.deepcopy(module).to(torch.bfloat16)
        fps = frames_per_second(lambda x: cast(x.bfloat16()).float(), clip)
        output = cast(clip.bfloat16()).float()
    return {"fps": round(fps, 4), "finite": bool(torch.isfinite(output).all()),
            "psnr_vs_fp32": round(psnr_y(output.clamp(0, 1), reference).mean().item(), 2)}


def recurrent_part() -> dict:
    """The recurrent BasicVSR (basicvsr-clean-x4: what restore enlarges clean films with): frames a second
    through SequenceUpscaleStage, the windows' overlap and the cut checks included, at 640x480 (fp32) and per
    precision at 160x120; peak memory of `lumiere restore --model basicvsr-clean-x4` on a 150- and a
    1,500-frame film."""
    from lumiere.engine.precision import cpu_has_native_bf16

    pictures = load_frames(require(STREET_SCENE))[:RECURRENT_FRAMES]
    clip = torch.stack([array_to_tensor(np.ascontiguousarray(picture)) for picture in pictures])
    small = Fd.resize(clip, RECURRENT_SMALL[::-1], "area")
    speed = []
    for size, frames, precisions in ((tuple(clip.shape[-1:-3:-1]), clip, ["fp32"]),
                                     (RECURRENT_SMALL, small, ["fp32", "bf16", "int8"])):
        for precision in precisions:
            row = {"input": f"{size[0]}x{size[1]}", "precision": precision}
            try:
                row["fps"] = round(frames_per_second(upscaler("basicvsr-clean-x4", precision=precision), frames), 4)
            except Exception as exc:  # a precision the network cannot run in is a finding
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            speed.append(row)
            print(row, flush=True)
    speed.append({"input": f"{RECURRENT_SMALL[0]}x{RECURRENT_SMALL[1]}", "precision": "bf16, cast whole (not served)",
                  **bf16_cast("basicvsr-clean-x4", small)})
    print(speed[-1], flush=True)
    print(f"basicvsr-clean-x4, {RECURRENT_FRAMES} frames a window, on {cpu_name()} ({torch.get_num_threads()} "
          f"threads; native bf16: {cpu_has_native_bf16()})")
    print_table(speed, ["input", "precision", "fps", "psnr_vs_fp32", "error"])
    memory = []
    with tempfile.TemporaryDirectory() as folder:
        for frames in (150, 1500):
            film = looped_film(require(STREET_SCENE), Path(folder) / f"film{frames}.mp4", frames, RECURRENT_FILM)
            megabytes, seconds = restore_peak_memory(film, Path(folder) / f"out{frames}.mp4", "--model",
                                                     "basicvsr-clean-x4")
            memory.append({"frames": frames, "peak_rss_mb": round(megabytes, 1), "seconds": round(seconds, 1)})
            print(memory[-1], flush=True)
    memory[1]["vs_150_frames"] = f"{100 * (memory[1]['peak_rss_mb'] / memory[0]['peak_rss_mb'] - 1):+.1f}%"
    print(f"memory: lumiere restore --model basicvsr-clean-x4, {RECURRENT_FILM[0]}x{RECURRENT_FILM[1]} street-scene "
          "looped")
    print_table(memory, ["frames", "peak_rss_mb", "seconds", "vs_150_frames"])
    return {"speed": speed, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video-model", type=Path, action="append", default=[],
                        help="also score this multi-frame x4 network (lumiere train video); repeatable")
    parser.add_argument("--speed-frames", type=int, default=4, help="640x480 frames timed per method")
    parser.add_argument("--part", choices=PARTS, action="append", help="what to measure (default: all)")
    args = parser.parse_args()
    parts = args.part or PARTS
    results = {"cpu": cpu_name(), "threads": torch.get_num_threads()}
    if "film" in parts:
        results["film"] = {"degradation": f"film_quality.film_x4, seed {SEED}", "rows": film_part(args.video_model, 4)}
    if "film-damage" in parts:
        results["film-damage"] = {"degradation": f"film_quality.film_x4 part by part, seed {SEED}",
                                  "rows": damage_part()}
    for scale in (2, 1):
        if f"film-x{scale}" in parts:
            results[f"film-x{scale}"] = {"degradation": f"film_quality.film_degraded at x{scale}, seed {SEED}",
                                         "rows": film_part([], scale)}
    if "clean" in parts:
        results["clean"] = {"degradation": "MATLAB-style bicubic x4 (BI)", "rows": clean_part(args.video_model),
                            "published": {"BasicVSR++, all of Vid4 (BI)": 27.77}}
    if "speed" in parts:
        results["speed"] = speed_part(args.video_model, args.speed_frames)
    if "memory" in parts:
        results["memory"] = memory_part()
    if "recurrent" in parts:
        results["recurrent"] = recurrent_part()
    save("video_quality" if parts == PARTS else "video_quality_" + "_".join(parts), results)


if __name__ == "__main__":
    main()
