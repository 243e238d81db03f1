"""Colorizing film: colour steadiness, following reference frames, and speed.

Steadiness: all 150 frames of street-scene.mp4 colorized twice, by the temporal stage (colour carried along
optical flow) and frame by frame (the same network, nothing carried). For each pair of consecutive frames,
the regions that do not move are the pixels where the DIS optical flow (640x480, OpenCV's medium preset) of
the film after lumiere's deflicker is under 0.5 px and the lightness, after matching the two frames' mean and
spread, changed by under 3 L* units; the figures are the mean a*b* distance between the two output frames
there, and the same change as CIEDE2000 with the lightness held (the film's own changes of lightness do not
count), averaged over all pairs. The stage itself sees the film as it is, flicker and all.

References: a-bomb_blast_effects_part.mp4 colorized with its four hand-coloured reference frames. Each reference
is matched to a frame of the clip; at that index the output's mean CIEDE2000 to the reference is reported, the
reference first laid onto the frame's pixel grid (the references are framed a little differently: scaled by
about 0.99 x 0.94 and shifted 10 px, which an affine ECC registration finds) and scored where it covers.
That the colour holds between references is shown by the same steadiness figure over the whole clip, and by
the mean CIEDE2000 of every frame to the reference nearest before it, over regions that do not move between
the two (flow under 1 px, lightness within 3 units).

Speed: seconds per frame of the temporal stage on a 640x480 and a 3840x2880 frame (the street film's frames,
resized), after two warm-up frames, on this machine's CPU, in fp32 and (where the CPU computes it natively) bf16;
then the network alone at the work size, in the same precisions and in int8 as OpenVINO runs it, with how far
int8 moves the colour: whether int8 would be worth serving the colorizer in.

Share: the colour stage's share of a default `lumiere restore street-scene.mp4 --colorize` job (x2, every
default), from the wall time of that job and of the same job without --colorize, each in a fresh process.

    .venv/bin/python benchmarks/colorize_video.py [--part steadiness|references|speed|share|all] [--model NAME|FILE]
"""

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from common import DATA, load_frames, luma_u8, print_table, require, restore_peak_memory, save, still_mask
from lumiere.cielab import lightness, rgb_to_lab
from lumiere.degradations.functional import resize
from lumiere.engine.int8 import Int8Network, conv_input_ranges, openvino_available
from lumiere.engine.precision import cpu_has_native_bf16
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import ciede2000
from lumiere.io.images import read_image
from lumiere.io.reader import FrameInfo
from lumiere.ops import array_to_tensor, tensor_to_array
from lumiere.stages.colorize import (
    Colorizer,
    ColorizeSettings,
    ColorizeStage,
    References,
    colorizer,
    decoded_colour,
    register_affine,
    warp_affine,
    work_lightness,
)
from lumiere.stages.deflicker import DeflickerStage


def colorize(frames: list[np.ndarray], stage: ColorizeStage) -> list[torch.Tensor]:
    """The frames through the stage as one stream, as a job runs it."""
    items = ((FrameInfo(i, i), array_to_tensor(rgb)) for i, rgb in enumerate(frames))
    with torch.inference_mode():
        return [image for _, image in stage.stream(items)]


def chroma_change(outputs: list[torch.Tensor], masks: list[np.ndarray]) -> tuple[float, float]:
    """Mean change of colour between consecutive outputs where nothing moved: a*b* distance, and CIEDE2000 with
    the lightness held (the first frame's for both), so the film's own lightness changes do not count."""
    distances, ciede = [], []
    for t, mask in enumerate(masks, start=1):
        if not mask.any():
            continue
        lab0 = rgb_to_lab(outputs[t - 1][None])
        lab1 = rgb_to_lab(outputs[t][None])
        distances.append(float(torch.linalg.vector_norm(lab1[0, 1:] - lab0[0, 1:], dim=0).numpy()[mask].mean()))
        held = torch.cat([lab0[:, :1], lab1[:, 1:]], dim=1)
        ciede.append(float(ciede2000(held, lab0)[0].numpy()[mask].mean()))
    return float(np.mean(distances)), float(np.mean(ciede))


def deflickered_lumas(frames: list[np.ndarray]) -> list[np.ndarray]:
    """uint8 lightness of the frames after lumiere's deflicker: flicker must not hide a region that moved."""
    items = ((FrameInfo(i, i), array_to_tensor(rgb)) for i, rgb in enumerate(frames))
    with torch.inference_mode():
        return [luma_u8(tensor_to_array(image)) for _, image in DeflickerStage().stream(items)]


def steadiness(model: str) -> list[dict]:
    frames = load_frames(require(DATA / "film" / "street-scene.mp4"))
    lumas = deflickered_lumas(frames)
    masks = [still_mask(lumas[t - 1], lumas[t], 0.5) for t in range(1, len(frames))]
    colours = colorizer(ColorizeSettings(model=model), Runners(RunnerSettings("cpu")))
    rows = []
    for method, stage in (("frame by frame", ColorizeStage(colours, temporal=False)),
                          ("lumiere (temporal)", ColorizeStage(colours))):
        distance, ciede = chroma_change(colorize(frames, stage), masks)
        rows.append({"clip": "street-scene (150 frames)", "method": method, "chroma_change": round(distance, 3),
                     "ciede2000_change": round(ciede, 3),
                     "still_share": round(float(np.mean([m.mean() for m in masks])), 3)})
    rows[1]["vs_frame_by_frame"] = f"{100 * rows[1]['chroma_change'] / rows[0]['chroma_change']:.1f}%"
    return rows


def registered_reference(reference: np.ndarray, frame: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The reference laid onto the frame's pixel grid (affine, by ECC: the hand-coloured frames are framed a
    little differently from the clip), and the pixels it covers, 4 px in from its edges."""
    height, width = frame.shape[:2]
    reference = cv2.resize(reference, (width, height), interpolation=cv2.INTER_CUBIC)
    warp = register_affine(luma_u8(frame), luma_u8(reference))
    laid = warp_affine(reference, warp)
    inside = cv2.erode(warp_affine(np.ones((height, width), np.uint8), warp), np.ones((9, 9), np.uint8)) > 0
    return array_to_tensor(laid)[None], inside


def references(model: str) -> tuple[list[dict], dict]:
    clip = require(DATA / "film" / "a-bomb_blast_effects_part.mp4")
    paths = tuple(sorted(require(DATA / "film" / "a-bomb_references").glob("*.png")))
    frames = load_frames(clip)
    settings = ColorizeSettings(model=model, references=paths)
    colours = colorizer(settings, Runners(RunnerSettings("cpu")))
    refs = References(colours, paths)
    size = colours.work_size(frames[0].shape[1], frames[0].shape[0])
    keyframes = refs.locate((i, work_lightness(rgb, size)) for i, rgb in enumerate(frames)).keyframes
    outputs = colorize(frames, ColorizeStage(colours, references=refs))
    plain = colorize(frames, ColorizeStage(colours))
    rows = []
    for index, k in sorted(keyframes.items()):
        reference, inside = registered_reference(read_image(paths[k]).rgb, frames[index])
        ref_lab = rgb_to_lab(reference)

        def score(output, ref_lab=ref_lab, inside=inside):
            return round(float(ciede2000(rgb_to_lab(output[None]), ref_lab)[0].numpy()[inside].mean()), 2)
        rows.append({"reference": paths[k].name, "frame": index, "ciede2000_with_references": score(outputs[index]),
                     "ciede2000_without": score(plain[index]), "compared_share": round(float(inside.mean()), 3)})
    lumas = [luma_u8(rgb) for rgb in frames]
    masks = [still_mask(lumas[t - 1], lumas[t], 0.5) for t in range(1, len(frames))]
    holding = []
    ordered = sorted(keyframes)
    for t in range(len(frames)):
        before = [k for k in ordered if k <= t]
        if not before or before[-1] == t:
            continue
        k = before[-1]
        mask = still_mask(lumas[k], lumas[t], 1.0)
        if mask.mean() > 0.05:
            difference = ciede2000(rgb_to_lab(outputs[t][None]), rgb_to_lab(outputs[k][None]))[0].numpy()
            holding.append(float(difference[mask].mean()))
    summary = {"keyframes": {paths[k].name: i for i, k in keyframes.items()},
               "chroma_change_with_references": round(chroma_change(outputs, masks)[0], 3),
               "chroma_change_frame_by_frame": round(chroma_change(
                   colorize(frames, ColorizeStage(colours, temporal=False)), masks)[0], 3),
               "ciede2000_to_last_reference_frame_still_regions": round(float(np.mean(holding)), 2),
               "frames_scored_for_holding": len(holding)}
    return rows, summary


def speed(model: str) -> list[dict]:
    """Seconds a frame of the colour stage, then of its network alone, in each precision."""
    frame = array_to_tensor(load_frames(require(DATA / "film" / "street-scene.mp4"))[0])[None]
    # bf16 only where the CPU computes it: elsewhere oneDNN emulates it, many times slower than fp32
    precisions = ["fp32"] + (["bf16"] if cpu_has_native_bf16() else [])
    rows = []
    for precision in precisions:
        for width, height in [(640, 480), (3840, 2880)]:
            big = F.interpolate(frame, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
            stage = ColorizeStage(colorizer(ColorizeSettings(model=model), Runners(RunnerSettings("cpu", precision))))
            with torch.inference_mode():
                for i in range(2):
                    stage.process(big, [i])
                started = time.perf_counter()
                for i in range(2, 7):
                    stage.process(big, [i])
            seconds = (time.perf_counter() - started) / 5
            rows.append({"part": "colour stage", "precision": precision, "frame": f"{width}x{height}",
                         "s_per_frame": round(seconds, 3), "fps": round(1 / seconds, 2)})
    return rows + network_speed(model, precisions)


def network_speed(model: str, precisions: list[str]) -> list[dict]:
    """The network alone on the work-size lightness of a 640x480 frame: each precision the runner offers, and
    int8 as `engine/int8.py` would run it (calibrated on the film's first frames), with how far its colour moves
    from fp32's (mean a*b* distance after decoding)."""
    frames = load_frames(require(DATA / "film" / "street-scene.mp4"))[:12]
    runners = {precision: colorizer(ColorizeSettings(model=model), Runners(RunnerSettings("cpu", precision))).runner
               for precision in precisions}
    colour = Colorizer(ColorizeSettings(model=model), runners["fp32"])
    width, height = colour.work_size(640, 480)
    lumas = [resize(lightness(array_to_tensor(f)[None]), (height, width), "area") / 100 for f in frames]
    module = colour.runner.module
    networks = {precision: (lambda x, runner=runner: runner.run(lambda network, y: network(y), x))
                for precision, runner in runners.items()}
    if openvino_available():
        # traced at the work size: the encoder's TensorFlow padding and the decoder's upsampling become constants
        networks["int8"] = Int8Network(module, conv_input_ranges(module, lumas[:8]), 1, example=lumas[0])
    rows = []
    with torch.inference_mode():
        reference = [decoded_colour(module, module(x), colour.settings, colour.gain) for x in lumas[2:]]
        for precision, network in networks.items():
            for x in lumas[:2]:
                network(x)
            started = time.perf_counter()
            logits = [network(x) for x in lumas[2:]]
            seconds = (time.perf_counter() - started) / len(logits)
            moved = np.mean([(decoded_colour(module, y, colour.settings, colour.gain) - ab).norm(dim=1).mean().item()
                             for y, ab in zip(logits, reference, strict=True)])
            rows.append({"part": f"network alone at {width}x{height}", "precision": precision, "frame": "640x480",
                         "s_per_frame": round(seconds, 4), "fps": round(1 / seconds, 1),
                         "ab_change_vs_fp32": round(float(moved), 3)})
    return rows


def colour_share(model: str) -> dict:
    film = require(DATA / "film" / "street-scene.mp4")
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, options in [("without", []), ("with", ["--colorize", "--color-model", model])]:
            _, seconds[label] = restore_peak_memory(film, Path(folder) / f"{label}.mp4", *options)
    return {"job_s_without_colour": round(seconds["without"], 1), "job_s_with_colour": round(seconds["with"], 1),
            "colour_share": round((seconds["with"] - seconds["without"]) / seconds["with"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["steadiness", "references", "speed", "share", "all"], default="all")
    parser.add_argument("--model", default=ColorizeSettings().model, help="the colorizer: a name or a file")
    args = parser.parse_args()
    result: dict = {"threads": torch.get_num_threads(), "model": args.model}
    if args.part in ("steadiness", "all"):
        result["steadiness"] = steadiness(args.model)
        print_table(result["steadiness"], ["clip", "method", "chroma_change", "ciede2000_change", "still_share",
                                          "vs_frame_by_frame"])
        print()
    if args.part in ("references", "all"):
        rows, summary = references(args.model)
        result["references"], result["references_summary"] = rows, summary
        print_table(rows, ["reference", "frame", "ciede2000_with_references", "ciede2000_without", "compared_share"])
        for key, value in summary.items():
            print(f"{key}: {value}")
        print()
    if args.part in ("speed", "all"):
        result["speed"] = speed(args.model)
        print_table(result["speed"], ["part", "precision", "frame", "s_per_frame", "fps", "ab_change_vs_fp32"])
    if args.part in ("share", "all"):
        result["share"] = colour_share(args.model)
        print_table([result["share"]], ["job_s_without_colour", "job_s_with_colour", "colour_share"])
    save(f"colorize_video_{args.part}", result)


if __name__ == "__main__":
    main()
