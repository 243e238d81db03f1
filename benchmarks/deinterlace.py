"""Deinterlacing: how much of the progressive picture `--deinterlace` gets back from a clip interlaced here.

Two progressive sources: the first 60 frames of `street-scene.mp4` (640x480, a still camera, people walking),
and a 640x480 window panning over `kodim23.png` (5 px right and 1 px down a frame: motion in every part of the
picture). Interlaced frame k weaves the top field (even lines) of progressive frame 2k with the bottom field of
2k + 1, as a camera or telecine shooting fields a field apart; with top field first, the truth for frame k is
progressive frame 2k, the top field's moment. Mean Y-PSNR (BT.601, levels of 255) against it for: the woven
frames as they are (no deinterlacing), a plain line-doubling of the top field, and the deinterlace stage
(bwdif). The street clip is also written as a lossless FFV1 film whose stream says top field first, and
restored by the CLI with its default `--deinterlace auto`, end to end.

    .venv/bin/python benchmarks/deinterlace.py
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from common import DATA, ROOT, print_table, require, save
from lumiere.io.reader import FrameInfo, open_source
from lumiere.ops import BT601, array_to_tensor, tensor_to_array
from lumiere.stages.deinterlace import DeinterlaceStage

FRAMES = 60
SIZE = (640, 480)
PAN = (5, 1)  # pixels a frame, right and down
TFF = 2  # FFmpeg's AV_FIELD_TT


def street() -> list[np.ndarray]:
    return [frame.rgb for frame in open_source(require(DATA / "film" / "street-scene.mp4")).frames()][:FRAMES]


def kodak_pan() -> list[np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(require(DATA / "color" / "kodak" / "kodim23.png"))), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)  # room for 60 steps
    width, height = SIZE
    return [np.ascontiguousarray(photo[PAN[1] * k:PAN[1] * k + height, PAN[0] * k:PAN[0] * k + width])
            for k in range(FRAMES)]


def interlace(progressive: list[np.ndarray]) -> list[np.ndarray]:
    woven = []
    for top, bottom in zip(progressive[0::2], progressive[1::2], strict=True):
        frame = top.copy()
        frame[1::2] = bottom[1::2]
        woven.append(frame)
    return woven


def line_doubled(frame: np.ndarray) -> np.ndarray:
    return np.repeat(frame[0::2], 2, axis=0)


def deinterlaced(woven: list[np.ndarray]) -> list[np.ndarray]:
    items = ((FrameInfo(k, k, 1), array_to_tensor(frame)) for k, frame in enumerate(woven))
    return [tensor_to_array(image) for _, image in DeinterlaceStage("tff").stream(items)]


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    def y(rgb):
        return rgb.astype(np.float64) @ np.float64(BT601)
    return float(10 * np.log10(255 ** 2 / np.mean((y(a) - y(b)) ** 2)))


def mean_psnr(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return round(float(np.mean([y_psnr(a, b) for a, b in zip(frames, truth, strict=True)])), 2)


def write_interlaced(path: Path, woven: list[np.ndarray]) -> Path:
    """Lossless FFV1 in Matroska, the stream marked top field first (as a DVD's MPEG-2 would be)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = woven[0].shape[1], woven[0].shape[0], "bgr0"
        stream.codec_context.field_order = TFF
        for index, pixels in enumerate(woven):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cli_restore(woven: list[np.ndarray]) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        src, out = write_interlaced(Path(folder) / "interlaced.mkv", woven), Path(folder) / "restored.mkv"
        assert open_source(src).info.field_order == "tff"
        subprocess.run([sys.executable, "-m", "lumiere", "restore", str(src), "-o", str(out), "--scale", "1",
                        "--codec", "ffv1", "-q"], check=True, cwd=ROOT)
        return [frame.rgb for frame in open_source(out).frames()]


def main():
    rows = []
    torch.set_num_threads(2)
    for name, progressive in (("street-scene.mp4, frames 0-59", street()), ("kodim23 pan, 5+1 px/frame",
                                                                           kodak_pan())):
        woven, truth = interlace(progressive), progressive[0::2]
        row = {"clip": name, "frames": len(woven), "woven (none)": mean_psnr(woven, truth),
               "line doubling": mean_psnr([line_doubled(frame) for frame in woven], truth),
               "--deinterlace on (bwdif)": mean_psnr(deinterlaced(woven), truth)}
        if name.startswith("street"):
            row["CLI, auto"] = mean_psnr(cli_restore(woven), truth)
        rows.append(row)
    columns = ["clip", "frames", "woven (none)", "line doubling", "--deinterlace on (bwdif)", "CLI, auto"]
    print_table(rows, columns)
    save("deinterlace", {"metric": "mean Y-PSNR (BT.601, dB) against the top field's progressive frame",
                         "rows": rows})


if __name__ == "__main__":
    main()
