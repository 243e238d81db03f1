"""Upscaling speed on this machine: our x4 models vs Real-ESRGAN's through ncnn on the CPU.

Input: one 640x480 frame of street-scene.mp4, x4. Reports frames/s, achieved
GFLOP/s (convolution FLOPs counted exactly from the layers) and, as the ceiling,
what a single dense 64->64 3x3 convolution reaches here. The standard models are set against
realesr-animevideov3-x4; with --high, film-x4-high (RRDB) against realesrgan-x4plus (slow: one timed run).
Each network runs in fp32, in bf16 where the CPU computes it natively, and in int8 where it is calibrated.

    .venv/bin/python benchmarks/sr_speed.py [--repeats 5] [--high]

As on a CPU without AVX-512 (PyTorch's, OpenVINO's and the ncnn peer's kernels limited to AVX2 and FMA):

    ONEDNN_MAX_CPU_ISA=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2 .venv/bin/python benchmarks/sr_speed.py
"""

import argparse
import contextlib
import io
import os
import time
from pathlib import Path

import torch

from common import DATA, peer_upscaler, print_table, require, save
from lumiere.engine.int8 import openvino_available
from lumiere.engine.precision import cpu_has_native_bf16
from lumiere.engine.runner import ModelRunner, Runners, RunnerSettings
from lumiere.io.reader import open_source
from lumiere.models.loader import load_model
from lumiere.ops import array_to_tensor
from lumiere.stages.colorize import ColorizeSettings, ColorizeStage, colorizer

COLORIZER = "colorize"


def conv_flops(module: torch.nn.Module, height: int, width: int) -> int:
    """Multiply-adds x2 of every convolution for one (1, 3, height, width) input."""
    total = 0

    def hook(layer, inputs, output):
        nonlocal total
        out_elements = output.shape[1] * output.shape[2] * output.shape[3]
        total += 2 * out_elements * layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        module(torch.zeros(1, 3, height, width))
    for handle in handles:
        handle.remove()
    return total


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: one-time allocations and kernel selection
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def dense_conv_ceiling(repeats: int) -> float:
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, 480, 640).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 64 * 9 * 480 * 640
    with torch.inference_mode():
        seconds = timed(lambda: conv(x), repeats)
    return flops / seconds / 1e9


def precisions(loaded) -> list[str]:
    """fp32 always; bf16 where the CPU computes it natively and no instruction-set limit is set (emulated bf16
    is an order of magnitude slower); int8 for calibrated networks when OpenVINO is installed."""
    chosen = ["fp32"]
    if cpu_has_native_bf16() and not os.environ.get("ONEDNN_MAX_CPU_ISA"):
        chosen.append("bf16")
    if loaded.int8_ranges is not None and openvino_available():
        chosen.append("int8")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["sr-x4", "film-x4", "film-x4-detailed", "film-x4-fast"])
    parser.add_argument("--colorizers", nargs="+", default=[COLORIZER], help="colour networks whose stage is timed")
    parser.add_argument("--high", action="store_true", help="also film-x4-high against realesrgan-x4plus")
    args = parser.parse_args()
    frame = next(open_source(require(DATA / "film" / "street-scene.mp4")).frames()).rgb
    x = array_to_tensor(frame)[None]
    rows = []
    ceiling = dense_conv_ceiling(args.repeats)
    rows.append({"what": "dense 3x3 conv 64->64 (ceiling)", "s_per_frame": "", "fps": "",
                 "gflops_per_frame": "", "gflop_per_s": round(ceiling, 1), "params": ""})
    models = args.models + (["film-x4-high"] if args.high else [])
    for name in models:
        for precision in precisions(load_model(name)):
            loaded = load_model(name)
            flops = conv_flops(loaded.module, 480, 640)
            runner = ModelRunner(loaded, RunnerSettings(args.device, precision, tile=0))
            repeats = 1 if name == "film-x4-high" else args.repeats
            seconds = timed(lambda: runner(x), repeats)  # noqa: B023 (called before the loop moves on)
            convs = [m for m in loaded.module.modules() if isinstance(m, torch.nn.Conv2d)]
            rows.append({"what": f"lumiere {name} {precision} ({loaded.descriptor.architecture}, "
                                 f"{convs[0].out_channels}nf, {len(convs)} convolutions)", "model": name,
                         "precision": precision, "s_per_frame": round(seconds, 3), "fps": round(1 / seconds, 3),
                         "gflops_per_frame": round(flops / 1e9, 1), "gflop_per_s": round(flops / seconds / 1e9, 1),
                         "params": loaded.descriptor.parameters})
    for name in args.colorizers:
        for precision in precisions(load_model(name))[:2]:  # the colorizers carry no int8 calibration
            settings = ColorizeSettings(model=name)
            stage = ColorizeStage(colorizer(settings, Runners(RunnerSettings(args.device, precision))))
            with torch.inference_mode():
                seconds = timed(lambda: stage.process(x, [0]), args.repeats)  # noqa: B023 (called before the loop moves on)
            rows.append({"what": f"colour stage with {Path(name).stem} {precision} (the whole stage, 640x480)",
                         "model": name, "precision": precision, "s_per_frame": round(seconds, 3),
                         "fps": round(1 / seconds, 3)})
    peer = peer_upscaler()
    peer_row = None
    if peer is not None:
        from spandrel.architectures.Compact import Compact

        peer_flops = conv_flops(Compact(num_feat=64, num_conv=16, upscale=4), 480, 640)
        with contextlib.redirect_stdout(io.StringIO()):
            seconds = timed(lambda: peer(frame), max(2, args.repeats // 2))
        peer_row = {"what": "peer realesr-animevideov3-x4 (ncnn CPU, 64nf 16nc)", "s_per_frame": round(seconds, 3),
                    "fps": round(1 / seconds, 3), "gflops_per_frame": round(peer_flops / 1e9, 1),
                    "gflop_per_s": round(peer_flops / seconds / 1e9, 1), "params": 621424}
        rows.append(peer_row)
    high_peer = peer_upscaler("realesrgan-x4plus") if args.high else None
    if high_peer is not None:
        high_flops = conv_flops(load_model("film-x4-high").module, 480, 640)  # the same RRDB network as x4plus
        with contextlib.redirect_stdout(io.StringIO()):
            seconds = timed(lambda: high_peer(frame), 1)
        rows.append({"what": "peer realesrgan-x4plus (ncnn CPU, RRDB)", "s_per_frame": round(seconds, 3),
                     "fps": round(1 / seconds, 3), "gflops_per_frame": round(high_flops / 1e9, 1),
                     "gflop_per_s": round(high_flops / seconds / 1e9, 1), "params": 16697987})
    print_table(rows, ["what", "s_per_frame", "fps", "gflops_per_frame", "gflop_per_s", "params"])
    ours = [row for row in rows if "model" in row]
    summary = {"input": "640x480 street-scene frame, x4", "rows": rows, "ceiling_gflop_per_s": round(ceiling, 1)}
    if peer_row is not None:
        summary["speedup_vs_peer"] = {f"{row['model']} {row['precision']}": round(row["fps"] / peer_row["fps"], 2)
                                      for row in ours if row["model"] != COLORIZER}
        print("\nframes/s over the peer's (realesr-animevideov3-x4, ncnn): "
              + ", ".join(f"{what} {ratio}x" for what, ratio in summary["speedup_vs_peer"].items()))
    isa_limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    save("sr_speed" + (f"_{isa_limit.lower()}" if isa_limit else ""), summary)


if __name__ == "__main__":
    main()
