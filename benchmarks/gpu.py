"""Everything GPU-related in one call: the first thing to run when a GPU is lent (issue 18).

1. Inference: frames/s of every shipped network at its job: each upscaler 640x480 -> x2/x4 and to 4K
   (3840x2160 from 1920x1080 for x2 networks, from 960x540 for x4), the cleaner at 1080p, the colorizer, the
   damage detector and the repair network at their working sizes; in the precision `auto` picks (fp16/bf16)
   and in fp32; batch 1 and 4 for the upscalers at 640x480.
2. End to end: `restore` of street-scene.mp4 (150 frames 640x480) to 4K with the x4 film network, against the
   bare network's frames/s on the same frames; encoded by x264, and by NVENC where the machine has one.
   The Compact x2 network to 4K again under `torch.compile` (default, and "reduce-overhead": CUDA graphs),
   to decide by measurement whether the runner should compile.
3. Training: samples/s of film-x4's configuration (Compact 64/16, x4, patch 48, batch 32, film recipe) on the
   device, crops cut and degradation parameters drawn by `--workers` processes, the degradations computed on
   the device (`degradations/batched.py`).

4. The tests that run on every device (`device` fixture) run on this one: the GPU paths CI cannot run (the
   pipeline's copy stream, the runner, the batched degradations, the networks).

One JSON: benchmarks/results/gpu.json (gpu_quick.json for `--quick`). Timing stops starting new measurements
once `--budget` seconds have passed, so the whole call fits a lent machine's minutes; what was skipped is
listed. `--device cpu --quick` is a dry run of the same code on tiny sizes (seconds; tested in CI).

    .venv/bin/python benchmarks/gpu.py [--device cuda] [--budget 420] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import DATA, print_table, save
from lumiere.engine.runner import ModelRunner, RunnerSettings
from lumiere.jobs import restore
from lumiere.models.loader import load_model
from lumiere.models.shipped import SHIPPED
from lumiere.models.transnet import HEIGHT as TRANSNET_HEIGHT
from lumiere.models.transnet import WIDTH as TRANSNET_WIDTH
from lumiere.models.transnet import WINDOW as TRANSNET_WINDOW
from lumiere.output import EncodeRequest
from lumiere.stages.upscale import SEQUENCE_WINDOW, UpscaleSettings
from lumiere.train.config import TrainConfig
from lumiere.train.loop import train

FILM = DATA / "film" / "street-scene.mp4"
TRAIN = DATA / "train"
QUICK_MAX = 10_000_000  # parameters: a dry run leaves the RRDB-size network out, it only checks the code runs
FILM_X4_TRAINING = dict(scale=4, recipe="film", num_feat=64, num_conv=16, patch=48, batch=32, gray_probability=0.5)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def frames_per_second(run, batch: int, device: torch.device, repeats: int) -> float:
    run()  # warm-up: kernels chosen, memory pooled
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    synchronize(device)
    return repeats * batch / (time.perf_counter() - start)


def network_kind(name: str) -> tuple[str, str, int]:
    """What decides how a shipped network is timed: its architecture, role and scale."""
    descriptor = load_model(name).descriptor
    return descriptor.architecture, descriptor.role, descriptor.scale


def jobs_of(name: str, quick: bool) -> list[tuple[str, int, int, int]]:
    """(job, width, height, batch) to time a shipped network at (a dry run: an eighth of each side)."""
    descriptor = load_model(name).descriptor
    shrink = 8 if quick else 1
    small = (640 // shrink, 480 // shrink)
    if descriptor.role == "shots":  # a pass over 100 frames at 48x27, answering for 50
        return [(f"{TRANSNET_WINDOW} frames at {TRANSNET_WIDTH}x{TRANSNET_HEIGHT}", TRANSNET_WIDTH, TRANSNET_HEIGHT,
                 TRANSNET_WINDOW)]
    if descriptor.role == "interpolate":  # one in-between frame from two
        return [(f"{small[0]}x{small[1]} in-between", *small, 1),
                (f"{1920 // shrink}x{1080 // shrink} in-between", 1920 // shrink, 1080 // shrink, 1)]
    if descriptor.sequence:  # a batch is one shot's frames: restore's window of them, a few in a dry run
        frames = 3 if quick else SEQUENCE_WINDOW
        to_4k = (3840 // descriptor.scale // shrink, 2160 // descriptor.scale // shrink)
        return [(f"{small[0]}x{small[1]} x{descriptor.scale}, {frames} frames at once", *small, frames),
                (f"{to_4k[0]}x{to_4k[1]} x{descriptor.scale} (to 4K), {frames} frames at once", *to_4k, frames)]
    if descriptor.role in ("upscale", "video"):  # video: the network alone; its optical flow runs on the CPU
        to_4k = (3840 // descriptor.scale // shrink, 2160 // descriptor.scale // shrink)
        return [(f"{small[0]}x{small[1]} x{descriptor.scale}", *small, 1),
                (f"{small[0]}x{small[1]} x{descriptor.scale}, batch 4", *small, 4),
                (f"{to_4k[0]}x{to_4k[1]} x{descriptor.scale} (to 4K)", *to_4k, 1)]
    if descriptor.role == "restore":
        return [(f"{1920 // shrink}x{1080 // shrink} x1", 1920 // shrink, 1080 // shrink, 1)]
    return [(f"{small[0]}x{small[1]} ({descriptor.role})", *small, 1)]


def time_network(name: str, job: tuple[str, int, int, int], precision: str, device: torch.device,
                 repeats: int) -> dict:
    label, width, height, batch = job
    runner = ModelRunner(load_model(name), RunnerSettings(str(device), precision, tile=0))
    descriptor = runner.descriptor
    multiple = descriptor.size_multiple
    x = torch.rand(batch, descriptor.input_channels, height // multiple * multiple, width // multiple * multiple)
    if device.type == "cuda":
        x = x.pin_memory()
    if descriptor.role in ("upscale", "restore", "video"):
        def run():
            return runner(x)
    elif descriptor.role == "shots":  # a batch is the frames of one pass
        x = x.clamp(0, 1)

        def run():
            return runner.run(lambda network, frames: network(frames), x)
    else:  # colorize, repair, detect, interpolate: their own forward on a whole picture
        def run():
            return runner.run(lambda network, picture: network(picture), x)
    fps = frames_per_second(run, batch, device, repeats)
    dtype = str(runner.dtype).removeprefix("torch.")
    return {"network": name, "job": label, "precision": dtype, "frames_per_s": round(fps, 2)}


def time_compiled(name: str, job: tuple[str, int, int, int], mode: str | None, device: torch.device,
                  repeats: int) -> dict:
    """Like `time_network`, the network under `torch.compile` (`mode` None: eager, for the same-run baseline)."""
    label, width, height, batch = job
    runner = ModelRunner(load_model(name), RunnerSettings(str(device), tile=0))
    if mode is not None:
        runner.picture_network = torch.compile(runner.module, mode=mode, dynamic=False)
    x = torch.rand(batch, 3, height, width)
    start = time.perf_counter()
    try:
        runner(x)  # compiles
        compile_seconds = time.perf_counter() - start
        fps = frames_per_second(lambda: runner(x), batch, device, repeats)
    except Exception as exc:  # a compiler missing or failing here is a finding, not the end of the script
        return {"network": name, "job": label, "compile": mode or "eager", "error": f"{type(exc).__name__}: {exc}"}
    return {"network": name, "job": label, "compile": mode or "eager", "frames_per_s": round(fps, 2),
            "first_call_s": round(compile_seconds, 1)}


def device_tests(device: torch.device) -> dict:
    """The device-parametrized tests, on `device` only."""
    folders = ["tests/test_pipeline.py", "tests/engine", "tests/degradations", "tests/models"]
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", device.type,
                               *folders], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                              text=True, timeout=240)
    except subprocess.TimeoutExpired:
        return {"tests": folders, "result": "stopped after 240 s"}
    lines = done.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {"tests": folders, "result": lines[-1] if lines else done.stderr[-500:], "failures": failures}


def film_corner(folder: Path, frames: int, size: tuple[int, int]) -> Path:
    """The first `frames` frames of the street film, its top-left `size` (width, height): a dry run's film."""
    from lumiere.io.reader import open_source
    from lumiere.io.writer import EncodeSettings, write_clip

    return write_clip(open_source(FILM), folder / "street-corner.mkv", EncodeSettings("ffv1"), range(frames), size)


def end_to_end(device: torch.device, quick: bool, folder: Path) -> dict:
    """`restore` of the street film to 4K (quick: 5 frames of a 160x120 corner of it, x2) against the bare network
    on its frames, with x264 and, where the machine has one, NVIDIA's hardware encoder."""
    from lumiere.errors import OutputError
    from lumiere.io.reader import open_source
    from lumiere.io.writer import EncodeSettings
    from lumiere.ops import array_to_tensor

    model = "film-x2" if quick else "film-x4"
    settings = (UpscaleSettings(scale=2, kind="film", model=model) if quick
                else UpscaleSettings(to="4k", kind="film", model=model))
    film = film_corner(folder, 5, (160, 120)) if quick else FILM
    pictures = [array_to_tensor(frame.rgb)[None] for frame in open_source(film).frames()]
    runner = ModelRunner(load_model(model), RunnerSettings(str(device)))
    bare = frames_per_second(lambda: [runner(p) for p in pictures], len(pictures), device, 1)
    result = {"input": f"street-scene.mp4 {'5 frames of 160x120, x2' if quick else 'whole, to 4K (2880x2160)'} "
                       f"with {model}", "bare_model_frames_per_s": round(bare, 2)}
    for codec in ("h264", "h264-nvenc"):
        try:
            EncodeSettings(codec).validate(".mp4")
        except OutputError as exc:
            result[f"{codec}_skipped"] = str(exc)
            continue
        output = folder / f"street-4k-{codec}.mp4"
        start = time.perf_counter()
        restore(film, output, settings, runner=RunnerSettings(str(device)), encode=EncodeRequest(codec),
                show_progress=False, restart=True, overwrite=True)
        seconds = time.perf_counter() - start
        e2e = open_source(output).info.frame_count / seconds
        result[codec] = {"restore_frames_per_s": round(e2e, 2), "restore_seconds": round(seconds, 1),
                         "ratio": round(e2e / bare, 3)}
    return result


def training_speed(device: torch.device, quick: bool, workers: int, folder: Path) -> dict:
    steps = 4 if quick else 300
    data = [str(TRAIN / "t91")] if quick else [str(TRAIN / "t91"), str(TRAIN / "bsds500" / "train"),
                                               str(TRAIN / "wikimedia")]
    config = TrainConfig(data=data, steps=steps, checkpoint_every=steps, workers=workers, device=str(device),
                         output=str(folder / "out.safetensors"), run_dir=str(folder / "run"),
                         **({**FILM_X4_TRAINING, "batch": 4, "patch": 16} if quick else FILM_X4_TRAINING))
    train(config, show_progress=False)
    elapsed = {entry["step"]: entry["elapsed"] for entry in map(json.loads, (folder / "run" / "log.jsonl").open())
               if "elapsed" in entry}
    first = 100  # the steps before it (data workers starting, warm-up) are left out; a dry run has too few
    samples_per_s = ((steps - first) * config.batch / (elapsed[steps] - elapsed[first]) if first in elapsed
                     else steps * config.batch / elapsed[steps])
    where = "on the device" if device.type != "cpu" else "on the CPU"  # what degrade_on "auto" chooses
    return {"config": f"film-x4: Compact 64/16 x4, patch {config.patch}, batch {config.batch}, film recipe "
                      f"degraded {where}, {workers} data workers", "steps": steps,
            "samples_per_s": round(samples_per_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds after which no new timing starts")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a dry run of the script")
    parser.add_argument("--workers", type=int, default=max(0, (os.cpu_count() or 1) - 2))
    parser.add_argument("--output", type=Path, default=None, help="write the JSON here instead of results/")
    args = parser.parse_args()
    device = torch.device(args.device)
    started = time.perf_counter()
    repeats = 1 if args.quick else 10
    rows, skipped = [], []

    def in_budget(what: str) -> bool:
        if time.perf_counter() - started < args.budget:
            return True
        skipped.append(what)
        return False

    networks = [shipped.name for shipped in SHIPPED if shipped.path.is_file()
                and not (args.quick and load_model(shipped.name).descriptor.parameters > QUICK_MAX)]
    if args.quick:  # a dry run checks the code of each kind of network once
        networks = list({network_kind(name): name for name in reversed(networks)}.values())

    def time_all(precision: str) -> None:
        for name in networks:
            for job in jobs_of(name, args.quick)[:1 if args.quick else None]:
                if in_budget(f"{name} {job[0]} {precision}"):
                    rows.append(time_network(name, job, precision, device, repeats))

    # the figures the issue asks for first, fp32 (the fallback) last: a budget cut loses the least wanted
    time_all("auto")
    result = {"device": str(device), "name": torch.cuda.get_device_name(device) if device.type == "cuda" else
              "cpu", "quick": args.quick, "inference": rows}
    compact_x2 = "film-x2"
    to_4k = [job for job in jobs_of(compact_x2, args.quick) if "4K" in job[0]][0]
    # on a CPU, compiling needs a C++ compiler and minutes: the dry run times the eager baseline only
    modes = (None, "default", "reduce-overhead") if device.type == "cuda" else (None,)
    result["compiled"] = [time_compiled(compact_x2, to_4k, mode, device, repeats) for mode in modes
                          if in_budget(f"{compact_x2} compiled {mode}")]
    print(json.dumps(result["compiled"], indent=1))
    if device.type == "cuda":
        if in_budget("device tests"):
            result["device_tests"] = device_tests(device)
            print(f"device tests: {result['device_tests']['result']}")
    with tempfile.TemporaryDirectory() as scratch:
        if in_budget("end to end") and FILM.exists():
            result["end_to_end"] = end_to_end(device, args.quick, Path(scratch))
            print(json.dumps(result["end_to_end"], indent=1))
        if in_budget("training") and TRAIN.exists():
            result["training"] = training_speed(device, args.quick, 0 if args.quick else args.workers,
                                                Path(scratch))
            print(f"training: {result['training']['samples_per_s']} samples/s")
    if not args.quick:
        time_all("fp32")
    print_table(rows, ["network", "job", "precision", "frames_per_s"])
    result["skipped_over_budget"] = skipped
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=1))
    else:
        save("gpu_quick" if args.quick else "gpu", result)


if __name__ == "__main__":
    main()
