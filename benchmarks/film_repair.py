"""The film-repair stages on Vid4 `calendar` (31 frames, 720x576), damage synthesized here with a fixed seed.

deflicker: per-frame gain 1 ± 15% and offset ± 7.5% (lumiere's Flicker at amplitude 0.15). Reported: the mean
  absolute change of mean luma from frame to frame (the clean clip's own change is listed), and Y-PSNR to the
  clean frames.
repair: dust and dirt (lumiere's Dust: 6 new specks a frame, radius 1-4 px, living 1-3 frames) and one whole
  vertical line scratch through the clip; then, on their own, brief broken scratches (8 in the 31 frames, each
  for 1-2 frames, in dashes, half of them over part of the height, half with a fringe). Y-PSNR to the clean
  frames (of the frames with damage), and the share of the damage taken away. On the clean clip: the share
  of pixels the stage changes by more than 2 levels (of 255).
interpolate: every other frame dropped and rebuilt from its neighbours; Y-PSNR of the rebuilt frames, against
  repeating the previous frame and averaging the two neighbours.
stabilize: gate weave added as an independent random shift of each frame, uniform in ±4 px on each axis.
  Each frame's offset from the clean frame is measured by phase correlation; jitter is the RMS change of that
  offset from one frame to the next, over sqrt 2 (the shake a viewer sees), and the RMS of the offset about
  its mean is listed too (slow residual drift).
speed: frames/s of each stage on 640x480 frames (street-scene.mp4), on this machine's CPU; repair also on clean
  frames (calendar, resized), where it finds nothing and skips its network.

    .venv/bin/python benchmarks/film_repair.py [--part deflicker|repair|interpolate|stabilize|speed|all]
"""

import argparse
import time
from fractions import Fraction

import cv2
import numpy as np
import torch

from common import DATA, print_table, require, save
from lumiere.degradations.transforms import Dust, Flicker, LineScratches
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import psnr_y
from lumiere.io.images import read_image
from lumiere.io.reader import FrameInfo, open_source
from lumiere.ops import array_to_tensor, luma
from lumiere.stages.deflicker import DeflickerStage
from lumiere.stages.interpolate import FlowPair, InterpolateStage, interpolate
from lumiere.stages.repair import RepairSettings, repair_stage
from lumiere.stages.stabilize import StabilizeStage, shift_between

SEED = 1896


def load_calendar() -> torch.Tensor:
    folder = require(DATA / "bench" / "vsr" / "Vid4" / "calendar")
    return torch.stack([array_to_tensor(read_image(p).rgb) for p in sorted(folder.glob("*.png"))])


def run_stage(stage, clip: torch.Tensor) -> torch.Tensor:
    items = ((FrameInfo(i, i, 1), clip[i]) for i in range(clip.shape[0]))
    with torch.inference_mode():
        return torch.stack([image for _, image in stage.stream(items)])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return psnr_y(a, b).mean().item()


def mean_luma_change(clip: torch.Tensor) -> float:
    means = luma(clip).mean(dim=(1, 2, 3))
    return (means[1:] - means[:-1]).abs().mean().item()


def deflicker_part(clean: torch.Tensor) -> list[dict]:
    flickered = Flicker(amplitude=(0.15, 0.15))(clean, torch.Generator().manual_seed(SEED)).clamp(0, 1)
    restored = run_stage(DeflickerStage(), flickered)
    rows = [{"clip": name, "mean_luma_change": round(mean_luma_change(clip), 5),
             "psnr_y": "" if name == "clean" else round(psnr(clip, clean), 2)}
            for name, clip in [("clean", clean), ("flickered", flickered), ("deflickered", restored)]]
    drop = 1 - rows[2]["mean_luma_change"] / rows[1]["mean_luma_change"]
    rows[2]["change_drop"] = f"{100 * drop:.1f}%"
    rows[2]["psnr_gain_db"] = f"{rows[2]['psnr_y'] - rows[1]['psnr_y']:+.2f}"
    return rows


def damage_removed(damaged: torch.Tensor, repaired: torch.Tensor, clean: torch.Tensor) -> str:
    """Share of the damage (summed absolute difference from the clean frames) that repair took away."""
    return f"{100 * (1 - (repaired - clean).abs().sum().item() / (damaged - clean).abs().sum().item()):.1f}%"


def repair_part(clean: torch.Tensor) -> list[dict]:
    generator = torch.Generator().manual_seed(SEED)
    damaged = Dust(per_frame=(6.0, 6.0), radius=(1.0, 4.0))(clean, generator)
    damaged = LineScratches(count=(1, 1), broken=0.0, partial=0.0, halo=0.0)(damaged, generator).clamp(0, 1)
    brief = LineScratches(count=(8, 8), lifetime=(1, 2), broken=1.0, partial=0.5, halo=0.5)(
        clean, torch.Generator().manual_seed(SEED + 1)).clamp(0, 1)
    stage = repair_stage(RepairSettings(), Runners(RunnerSettings("cpu")))
    rows = []
    for name, clip in [("dust + scratch", damaged), ("brief broken scratches", brief)]:
        repaired = run_stage(stage, clip)
        hit = (clip - clean).flatten(1).abs().amax(dim=1) > 0  # frames with damage (a clean one scores infinity)
        before, after = psnr(clip[hit], clean[hit]), psnr(repaired[hit], clean[hit])
        rows += [{"clip": f"{name} ({int(hit.sum())} frames)", "psnr_y": round(before, 2)},
                 {"clip": "  repaired", "psnr_y": round(after, 2), "psnr_gain_db": f"{after - before:+.2f}",
                  "damage_removed": damage_removed(clip, repaired, clean)}]
    untouched = run_stage(stage, clean)
    changed = ((untouched - clean).abs() * 255 > 2).any(dim=1).float().mean().item()
    rows.append({"clip": "clean, through repair", "psnr_y": round(psnr(untouched, clean), 2),
                 "pixels_changed_over_2_levels": f"{100 * changed:.3f}%"})
    return rows


def interpolate_part(clean: torch.Tensor) -> list[dict]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rebuilt, repeated, averaged, truth = [], [], [], []
    for i in range(1, clean.shape[0] - 1, 2):
        before, after = clean[i - 1], clean[i + 1]
        with torch.inference_mode():
            rebuilt.append(interpolate(before, after, 0.5, FlowPair(dis, before, after)))
        repeated.append(before)
        averaged.append((before + after) / 2)
        truth.append(clean[i])
    truth_clip = torch.stack(truth)
    rows = [{"method": name, "psnr_y": round(psnr(torch.stack(frames), truth_clip), 2)}
            for name, frames in [("repeat previous frame", repeated), ("average of neighbours", averaged),
                                 ("lumiere (motion-compensated)", rebuilt)]]
    rows[2]["vs_repeat_db"] = f"{rows[2]['psnr_y'] - rows[0]['psnr_y']:+.2f}"
    rows[2]["vs_average_db"] = f"{rows[2]['psnr_y'] - rows[1]['psnr_y']:+.2f}"
    return rows


def offsets(clip: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """(N, 2) shift of each frame's picture from the reference frame's, by phase correlation."""
    return np.stack([shift_between(reference[i], clip[i]) for i in range(clip.shape[0])])


def jitter(offset: np.ndarray) -> float:
    """Frame-to-frame shake: RMS length of the change of offset between consecutive frames, over sqrt 2
    (so i.i.d. offsets of spread s give about s per axis)."""
    return float(np.sqrt((np.linalg.norm(np.diff(offset, axis=0), axis=1) ** 2).mean() / 2))


def stabilize_part(clean: torch.Tensor) -> list[dict]:
    generator = torch.Generator().manual_seed(SEED)
    weave = (torch.rand(clean.shape[0], 2, generator=generator) * 2 - 1) * 4  # i.i.d. per frame, +-4 px
    shaky = torch.stack([torch.from_numpy(cv2.warpAffine(
        frame.permute(1, 2, 0).numpy(), np.float32([[1, 0, dx], [0, 1, dy]]), frame.shape[:0:-1],
        flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)).permute(2, 0, 1)
        for frame, (dx, dy) in zip(clean, weave.tolist(), strict=True)]).clamp(0, 1)
    steady = run_stage(StabilizeStage(), shaky)
    rows = []
    for name, clip in [("weave added", shaky), ("stabilized", steady)]:
        offset = offsets(clip, clean)
        rows.append({"clip": name, "jitter_px_rms": round(jitter(offset), 3),
                     "offset_from_clean_px_rms": round(float(np.sqrt(((offset - offset.mean(0)) ** 2).sum(1).mean())),
                                                       3)})
    return rows


def speed_part(clean: torch.Tensor) -> list[dict]:
    frames = [frame.rgb for frame, _ in zip(open_source(require(DATA / "film" / "street-scene.mp4")).frames(),
                                            range(40))]
    clip = torch.stack([array_to_tensor(rgb) for rgb in frames])
    stages = {"stabilize": StabilizeStage(), "deflicker": DeflickerStage(),
              "repair": repair_stage(RepairSettings(), Runners(RunnerSettings("cpu"))),
              "interpolate 18 -> 24 fps": InterpolateStage(Fraction(24), Fraction(1, 18))}
    # frames where nothing is found skip the network: time the stage on clean frames too
    clean_640 = torch.nn.functional.interpolate(clean, size=(480, 640), mode="area")
    rows = []
    for name, stage, clip in [*((name, stage, clip) for name, stage in stages.items()),
                              ("repair, clean frames (calendar at 640x480)", stages["repair"], clean_640)]:
        items = ((FrameInfo(i, i, 1), clip[i]) for i in range(clip.shape[0]))
        started = time.perf_counter()
        with torch.inference_mode():
            produced = sum(1 for _ in stage.stream(items))
        seconds = time.perf_counter() - started
        rows.append({"stage": name, "input_frames": clip.shape[0], "output_frames": produced,
                     "input_fps": round(clip.shape[0] / seconds, 2),
                     "s_per_input_frame": round(seconds / clip.shape[0], 3)})
    return rows


PARTS = {"deflicker": deflicker_part, "repair": repair_part, "interpolate": interpolate_part,
         "stabilize": stabilize_part, "speed": speed_part}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    args = parser.parse_args()
    clean = load_calendar()
    result = {}
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            rows = part(clean)
            result[name] = rows
            print(f"\n{name}")
            print_table(rows, list(dict.fromkeys(key for row in rows for key in row)))
    save(f"film_repair_{args.part}", result)


if __name__ == "__main__":
    main()
