"""Training throughput on this machine's CPU for each shipped model's configuration (and film-x4 as SPAN).

Each configuration trains for 100 steps on ../shared/data/train with its recipe, as `lumiere train` does
(bf16 autocast where the CPU computes bf16 natively); samples/s are taken between steps 50 and 100, so
loading the pictures (and, for colorize, estimating the colour prior) is left out.

    .venv/bin/python benchmarks/train_speed.py [--only film-x4 ...] [--workers N]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import DATA, print_table, require, save
from lumiere.train.config import TrainConfig
from lumiere.train.loop import train

CONFIGS = {
    "sr-x2": dict(scale=2, recipe="bicubic", num_feat=48, num_conv=8, patch=40, batch=16),
    "sr-x4": dict(scale=4, recipe="bicubic", num_feat=48, num_conv=8, patch=32, batch=16),
    "film-x2": dict(scale=2, recipe="film", num_feat=64, num_conv=16, patch=48, batch=32, gray_probability=0.5),
    "film-x4": dict(scale=4, recipe="film", num_feat=64, num_conv=16, patch=48, batch=32, gray_probability=0.5),
    "film-x4-span": dict(scale=4, recipe="film", arch="span", num_feat=48, patch=48, batch=32, gray_probability=0.5),
    "film-clean": dict(task="restore", scale=1, recipe="film", num_feat=64, num_conv=16, patch=64, batch=32,
                       gray_probability=0.5),
    "colorize": dict(task="colorize", scale=1, recipe="film-luma", num_feat=32, patch=128, batch=16),
}
STEPS = 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--workers", type=int, default=0, help="data processes beside the training one")
    args = parser.parse_args()
    train_root = require(DATA / "train")
    data = [str(train_root / "t91"), str(train_root / "bsds500" / "train"), str(train_root / "wikimedia")]
    rows = []
    for name in args.only:
        with tempfile.TemporaryDirectory() as scratch:
            config = TrainConfig(data=data, steps=STEPS, checkpoint_every=STEPS, workers=args.workers, device="cpu",
                                 output=f"{scratch}/out.safetensors", run_dir=f"{scratch}/run", **CONFIGS[name])
            started = time.perf_counter()
            train(config, show_progress=False)
            wall = time.perf_counter() - started
            timed = {e["step"]: e["elapsed"] for e in map(json.loads, Path(f"{scratch}/run/log.jsonl").open())}
        steps_per_s = (STEPS - 50) / (timed[STEPS] - timed[50])
        net = (f"ColorNet {config.num_feat}" if config.task == "colorize"
               else f"SPAN {config.num_feat}" if config.arch == "span"
               else f"Compact {config.num_feat}/{config.num_conv}")
        rows.append({"model": name, "scale": config.scale, "net": net,
                     "batch": config.batch, "patch": config.patch, "steps_per_s": round(steps_per_s, 3),
                     "samples_per_s": round(steps_per_s * config.batch, 1), "wall_s": round(wall, 1)})
        print(f"{name}: {rows[-1]['samples_per_s']} samples/s", flush=True)
    print_table(rows, ["model", "scale", "net", "batch", "patch", "steps_per_s", "samples_per_s", "wall_s"])
    # a partial run keeps its own file, so the full table's stays whole
    name = "train_speed" if set(args.only) == set(CONFIGS) else "train_speed_" + "_".join(args.only)
    save(name, {"steps": STEPS, "workers": args.workers, "rows": rows})


if __name__ == "__main__":
    main()
