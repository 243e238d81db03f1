"""Train the shipped film models side by side on one GPU, inside a fixed time budget.

Every job first runs a short probe, all at once, to measure the steps per second they reach together
on this machine; each real run then gets the --steps that fit into what is left of the budget, so its
learning-rate schedule ends on time. A run still going at the deadline is stopped and its last
checkpoint exported. The run directories (config, log, curve; checkpoints stay behind, they are large)
are packed into OUT/runs.tar beside the weights.

    python scripts/train_film_weights.py --data ../shared/data/train --val ../shared/data/train/bsds500/test \\
        --minutes 7 --out runs/gpu [--only film-x4-span film-x4 ...]
"""

import argparse
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

JOBS = {
    "film-x4": ["upscale", "--scale", "4", "--num-feat", "64", "--num-conv", "16", "--patch", "48", "--batch", "32",
                "--workers", "6"],
    "film-x2": ["upscale", "--scale", "2", "--num-feat", "64", "--num-conv", "16", "--patch", "48", "--batch", "32",
                "--workers", "12"],
    "film-x4-deep": ["upscale", "--scale", "4", "--num-feat", "64", "--num-conv", "32", "--patch", "48",
                     "--batch", "32", "--workers", "4"],
    "film-x4-span": ["upscale", "--scale", "4", "--arch", "span", "--num-feat", "48", "--patch", "48", "--batch",
                     "32", "--workers", "6"],
    "film-clean": ["restore", "--num-feat", "64", "--num-conv", "16", "--patch", "64", "--batch", "32",
                   "--workers", "4"],
}
PROBE_STEPS = 150
SETUP_SECONDS = 20  # loading the pictures and the first validation, before the first step


def common_flags(data: Path, val: Path) -> list[str]:
    return ["--data", str(data / "t91"), "--data", str(data / "bsds500" / "train"), "--data", str(data / "wikimedia"),
            "--val", str(val), "--recipe", "film", "--gray", "0.5", "--lr", "5e-4", "--val-every", "2000",
            "--seed", "0"]


def launch(name: str, flags: list[str], steps: int, run_dir: Path, output: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "lumiere", "train", *flags, "--steps", str(steps), "--run-dir", str(run_dir),
               "-o", str(output)]
    print(f"{name}: {' '.join(command[2:])}", flush=True)
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)


def steps_per_second(run_dir: Path) -> float:
    entries = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    timed = [e for e in entries if "elapsed" in e]
    first, last = timed[0], timed[-1]
    return (last["step"] - first["step"]) / (last["elapsed"] - first["elapsed"])


def wait_all(processes: dict[str, subprocess.Popen], deadline: float) -> set[str]:
    """Wait until all end or the deadline passes; returns the names of runs stopped at the deadline."""
    while any(p.poll() is None for p in processes.values()) and time.monotonic() < deadline:
        time.sleep(2)
    stopped = set()
    for name, process in processes.items():
        if process.poll() is None:
            process.terminate()
            process.wait()
            stopped.add(name)
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="folder holding t91, bsds500/train, wikimedia")
    parser.add_argument("--val", type=Path, required=True, help="validation images (the first 10 are used)")
    parser.add_argument("--minutes", type=float, required=True, help="budget for everything, probe included")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=["film-x4-span"], choices=list(JOBS))
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("runs") / "gpu-work"
    work.mkdir(parents=True, exist_ok=True)
    flags = {name: JOBS[name] + common_flags(args.data, args.val) for name in args.only}

    probes = {name: launch(name, flags[name], PROBE_STEPS, work / f"probe-{name}", work / f"probe-{name}.safetensors",
                           work / f"probe-{name}.txt") for name in args.only}
    failed = [name for name, p in probes.items() if p.wait() != 0]
    if failed:
        for name in failed:
            print((work / f"probe-{name}.txt").read_text()[-3000:])
        sys.exit(f"probe failed: {', '.join(failed)}")
    rates = {name: steps_per_second(work / f"probe-{name}") for name in args.only}
    left = deadline - time.monotonic() - SETUP_SECONDS
    steps = {name: max(500, int(rate * left * 0.9) // 500 * 500) for name, rate in rates.items()}
    print(f"probe: {json.dumps({n: round(r, 1) for n, r in rates.items()})} steps/s together; "
          f"{left:.0f} s left -> steps {json.dumps(steps)}", flush=True)

    runs = {name: launch(name, flags[name], steps[name], work / name, args.out / f"{name}.safetensors",
                         work / f"{name}.txt") for name in args.only}
    stopped = wait_all(runs, deadline + 30)
    with tarfile.open(args.out / "runs.tar", "w") as tar:
        for name in args.only:
            run_dir = work / name
            if name in stopped:
                subprocess.run([sys.executable, "-m", "lumiere", "train", "export", "--run-dir", str(run_dir),
                                "-o", str(args.out / f"{name}.safetensors")], check=False)
            (run_dir / "stdout.txt").write_bytes((work / f"{name}.txt").read_bytes())
            tar.add(run_dir, arcname=name, filter=lambda info: None if info.name.endswith(".pt") else info)
            entries = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
            final = next((e for e in reversed(entries) if "psnr" in e), {})
            last = next((e for e in reversed(entries) if "elapsed" in e), {})
            print(f"{name}: {'stopped at deadline, ' if name in stopped else ''}step {last.get('step')}, "
                  f"{last.get('elapsed')} s, {last.get('samples_per_s')} samples/s, validation {final}", flush=True)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
