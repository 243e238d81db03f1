"""Does invented texture boil? Frame-to-frame change of x4 output where the scene stands still.

A detailed upscaler draws texture the input only hints at; if it draws it differently on every frame, a still
wall shimmers. On `street-scene.mp4` (frames 48-60, a 160x120 region around the shutters and the wall), each
method upscales every frame x4; the flow between consecutive input frames (DIS), scaled x4, warps each output
onto the next, and the mean absolute difference of their lightness (levels of 255) is taken where the input
did not move (flow under 0.5 px and lightness within 3% after matching exposure). bicubic shows how much the
source itself changes there (its grain and compression noise); a method below it calms the source, above it
adds its own shimmer. The multi-frame video-x4 (what restore's faithful look enlarges a film with) and the
recurrent basicvsr-clean-x4 (clean films), basicvsr-film-x4 (damaged films at --quality high) and its detailed
look (`--quality high --look detailed`: blended towards basicvsr-film-x4-detailed) get the frames as one clip,
each seeing its neighbours.

    .venv/bin/python benchmarks/temporal_steadiness.py [--no-peer] [--model CANDIDATE.safetensors ...]
"""

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from common import (
    DATA,
    DIS,
    luma_u8,
    peer_tensor_upscalers,
    print_table,
    require,
    save,
    shipped_upscalers,
    still_mask,
    upscaler,
)
from lumiere.degradations.functional import resize
from lumiere.io.reader import open_source
from lumiere.ops import array_to_tensor, tensor_to_array

FRAMES = range(48, 61)
REGION = (120, 20, 160, 120)  # left, top, width, height in source pixels
MARGIN = 16  # upscaled around the region and cut away, so no method sees an artificial border
SCALE = 4


def source_patches() -> list[np.ndarray]:
    film = require(DATA / "film" / "street-scene.mp4")
    left, top, width, height = REGION
    return [np.ascontiguousarray(f.rgb[top - MARGIN:top + height + MARGIN, left - MARGIN:left + width + MARGIN])
            for f in open_source(film).frames() if f.index in FRAMES]


def shimmer(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> float:
    """Mean |output_t+1 - output_t warped along the input's flow| over the still pixels of all frame pairs,
    levels of 255 (the camera shakes on some pairs, leaving few still pixels there)."""
    total, count = 0.0, 0
    for before, after, out_before, out_after in zip(inputs, inputs[1:], outputs, outputs[1:]):
        y0, y1 = luma_u8(before), luma_u8(after)
        still = still_mask(y0, y1, 0.5)
        flow = DIS.calc(y1, y0, None)
        big_flow = cv2.resize(flow, (out_after.shape[1], out_after.shape[0]), interpolation=cv2.INTER_LINEAR) * SCALE
        grid_x, grid_y = np.meshgrid(np.arange(out_after.shape[1], dtype=np.float32),
                                     np.arange(out_after.shape[0], dtype=np.float32))
        warped = cv2.remap(luma_u8(out_before).astype(np.float32), grid_x + big_flow[..., 0],
                           grid_y + big_flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        big_still = cv2.resize(still.astype(np.uint8), (out_after.shape[1], out_after.shape[0]),
                               interpolation=cv2.INTER_NEAREST) > 0
        cut = MARGIN * SCALE
        difference = np.abs(warped - luma_u8(out_after).astype(np.float32))[cut:-cut, cut:-cut]
        still_difference = difference[big_still[cut:-cut, cut:-cut]]
        total, count = total + float(still_difference.sum()), count + still_difference.size
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-peer", action="store_true", help="skip Real-ESRGAN through ncnn (slow on CPU)")
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="also score this x4 model file (single-frame or recurrent)")
    args = parser.parse_args()
    methods = {"bicubic": lambda x: resize(x, (x.shape[-2] * SCALE, x.shape[-1] * SCALE), "bicubic").clamp(0, 1)}
    methods.update(shipped_upscalers(["film-x4", "film-x4-high"]))  # film-x4-high: --quality high on stills
    clips = {"video-x4 (restore's faithful look)": upscaler("video-x4"),
             "basicvsr-clean-x4 (clean films)": upscaler("basicvsr-clean-x4"),
             "basicvsr-film-x4 (--quality high)": upscaler("basicvsr-film-x4"),
             "--quality high --look detailed": upscaler(look="detailed", quality="high", video=True),
             **{path.stem: upscaler(str(path)) for path in args.model}}  # a single-frame file takes them in turn
    methods["--strength 0.5"] = upscaler(strength=0.5)
    methods["--look detailed"] = upscaler(look="detailed")
    methods.update(shipped_upscalers(["film-x4-detailed"]))
    if not args.no_peer:
        methods.update(peer_tensor_upscalers())
    inputs = source_patches()
    clip = torch.stack([array_to_tensor(p) for p in inputs])
    rows = []
    for name, method in {**methods, **clips}.items():
        with torch.inference_mode():
            if name in clips:
                outputs = [tensor_to_array(frame) for frame in method(clip)]
            else:
                outputs = [tensor_to_array(method(frame[None])[0]) for frame in clip]
        rows.append({"method": name, "shimmer_levels": round(shimmer(outputs, inputs), 3)})
        print(f"{name}: {rows[-1]['shimmer_levels']}", flush=True)
    print_table(rows, ["method", "shimmer_levels"])
    save("temporal_steadiness", {"frames": [FRAMES.start, FRAMES.stop - 1], "region": REGION, "rows": rows})


if __name__ == "__main__":
    main()
