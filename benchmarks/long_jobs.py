"""Long jobs: resuming after kill -9, Ray on this machine, and memory against film length.

kill: `restore street-scene.mp4 --scale 1 --stabilize --deflicker --repair --codec ffv1 --chunk-frames 15`
  (10 chunks). Run once uninterrupted; run again and SIGKILL it at half the uninterrupted run's time (so in the
  middle of a chunk); run the same command to resume. Chunk completions are timed from the manifest. Reported:
  chunks done at the kill, the work redone (the unfinished chunk's time at the kill, plus the extra time of the
  resumed run's first chunk over the uninterrupted run's first, which is the context replayed; in chunks), and
  whether the output is bit-identical.
ray: the same job, plain and on a local Ray cluster of 2 CPUs (2 workers, this machine's 2 cores). Reported:
  wall times, Ray's overhead, each chunk's time on its worker, and from those a scaling table for N workers
  (of the same speed) on a 90-minute, 18 fps film of the same frame size and stages.
memory: peak RSS of `restore --scale 1 --deflicker` on a 320x240 film of 1,000 and of 10,000 frames (the
  street film looped), each in a fresh process.

    .venv/bin/python benchmarks/long_jobs.py [--part kill|ray|memory|all]
"""

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from common import DATA, ROOT, looped_film, print_table, require, restore_peak_memory, save
from lumiere.engine.runner import RunnerSettings
from lumiere.io.reader import open_source

FILM = DATA / "film" / "street-scene.mp4"
JOB = ["--scale", "1", "--stabilize", "--deflicker", "--repair", "--codec", "ffv1", "--chunk-frames", "15", "-q"]


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lumiere", "restore", str(require(FILM)), "-o", str(out), *JOB, *extra]


def timed_run(out: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(command(out, *extra), check=True, cwd=ROOT)
    return time.perf_counter() - started


def watched_run(out: Path, kill_at: float | None = None) -> tuple[float, list[float]]:
    """Run the job, noting when each chunk is recorded done (seconds from the start); SIGKILL it at `kill_at`
    seconds. Returns (seconds it ran, completion times of the chunks it rendered)."""
    manifest = out.parent / f".{out.name}.lumiere" / "manifest.json"
    earlier = set(json.loads(manifest.read_text())["done"]) if manifest.exists() else set()
    started = time.perf_counter()
    process = subprocess.Popen(command(out), cwd=ROOT)
    seen: dict[str, float] = dict.fromkeys(earlier, math.nan)
    while process.poll() is None:
        now = time.perf_counter() - started
        try:
            for chunk in json.loads(manifest.read_text())["done"]:
                seen.setdefault(chunk, now)
        except (OSError, ValueError, KeyError):
            pass
        if kill_at is not None and now >= kill_at:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    if kill_at is None and process.returncode:
        raise RuntimeError(f"the job failed ({process.returncode})")
    return time.perf_counter() - started, sorted(seconds for seconds in seen.values() if not math.isnan(seconds))


def same_video(a: Path, b: Path) -> bool:
    with av.open(str(a)) as first, av.open(str(b)) as second:
        pairs = zip(first.decode(video=0), second.decode(video=0), strict=True)
        return all(x.pts == y.pts and np.array_equal(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24"))
                   for x, y in pairs)


def kill_part(folder: Path) -> list[dict]:
    reference = folder / "reference.mkv"
    uninterrupted, chunk_times = watched_run(reference)
    chunk_seconds = float(np.median(np.diff(chunk_times)))
    first_chunk = chunk_times[0]  # start-up (loading, measuring the film) and the first chunk
    out = folder / "out.mkv"
    killed_at, done_before = watched_run(out, kill_at=uninterrupted / 2)
    lost = killed_at - (done_before[-1] if done_before else 0.0)  # the chunk in progress at the kill
    resumed, resumed_times = watched_run(out)
    # the resumed run's first chunk also replays the frames of context its temporal stages need
    replay = resumed_times[0] - first_chunk
    return [{"chunks": 10, "chunk_s": round(chunk_seconds, 1), "uninterrupted_s": round(uninterrupted, 1),
             "killed_at_s": round(killed_at, 1), "done_at_kill": len(done_before),
             "lost_at_kill_s": round(lost, 1), "replay_on_resume_s": round(replay, 1), "resume_s": round(resumed, 1),
             "work_redone_chunks": round((lost + replay) / chunk_seconds, 2),
             "bit_identical": same_video(out, reference)}]


def ray_part(folder: Path) -> tuple[list[dict], list[dict]]:
    import ray

    from lumiere.distributed import run_on_ray
    from lumiere.job import Job, WorkLock
    from lumiere.manifest import settings_hash
    from lumiere.output import EncodeRequest, plan_output
    from lumiere.plan import build_stages, plan_stages
    from lumiere.stages.deflicker import DeflickerSettings
    from lumiere.stages.repair import RepairSettings
    from lumiere.stages.stabilize import StabilizeSettings

    plain = folder / "plain.mkv"
    plain_seconds = timed_run(plain)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        source = open_source(require(FILM))
        plan = plan_stages(source, [StabilizeSettings(), DeflickerSettings(), RepairSettings()], RunnerSettings(),
                           even=False)
        out = folder / "ray.mkv"
        output = plan_output(out, EncodeRequest("ffv1"), 8)
        job = Job(source, build_stages(plan), output, chunk_frames=15, lock=WorkLock(out),
                  settings=settings_hash(source, output, plan.settings(), plan.files(), 15))
        chunk_seconds: dict[int, float] = {}
        job.run(lambda job, chunks, progress: chunk_seconds.update(
            run_on_ray(job, chunks, progress, address="auto", plan=plan, play_fps=None)))
        ray_seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
    identical = same_video(out, plain)
    per_chunk = float(np.mean(list(chunk_seconds.values())))
    rows = [{"run": "plain (one process, 2 threads)", "wall_s": round(plain_seconds, 1)},
            {"run": "ray, local cluster, 2 workers of 1 CPU", "wall_s": round(ray_seconds, 1),
             "vs_plain": f"{ray_seconds / plain_seconds:.2f}x", "bit_identical": identical,
             "mean_chunk_s_on_worker": round(per_chunk, 2)}]
    overhead = ray_seconds - math.ceil(10 / 2) * per_chunk  # start-up, shipping the film, joining
    per_frame = per_chunk / 15
    film_chunks = math.ceil(90 * 60 * 18 / 240)  # a 90-minute film at 18 fps, in chunks of 240 frames
    scaling = []
    for workers in (1, 2, 4, 8, 16, 32):
        seconds = overhead + math.ceil(film_chunks / workers) * 240 * per_frame
        scaling.append({"workers": workers, "chunks_each": math.ceil(film_chunks / workers),
                        "hours": round(seconds / 3600, 2)})
    for row in scaling:
        row["speedup"] = round(scaling[0]["hours"] / row["hours"], 2)
    return rows, scaling


def memory_part(folder: Path) -> list[dict]:
    rows = []
    for frames in (1000, 10000):
        film = looped_film(require(FILM), folder / f"film{frames}.mp4", frames)
        megabytes, seconds = restore_peak_memory(film, folder / f"film{frames}-out.mp4", "--scale", "1", "--deflicker")
        rows.append({"frames": frames, "peak_rss_mb": round(megabytes, 1), "wall_s": round(seconds, 1)})
    rows[1]["vs_1000"] = f"{100 * (rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb'] - 1):+.1f}%"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["kill", "ray", "memory", "all"], default="all")
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory(prefix="lumiere-long-") as scratch:
        folder = Path(scratch)
        if args.part in ("kill", "all"):
            result["kill"] = kill_part(folder)
            print_table(result["kill"], list(result["kill"][0]))
        if args.part in ("ray", "all"):
            result["ray"], result["ray_scaling_90_min"] = ray_part(folder)
            print_table(result["ray"], ["run", "wall_s", "vs_plain", "bit_identical", "mean_chunk_s_on_worker"])
            print("\nscaling estimate, 90-minute 18 fps film (405 chunks of 240 frames):")
            print_table(result["ray_scaling_90_min"], ["workers", "chunks_each", "hours", "speedup"])
        if args.part in ("memory", "all"):
            result["memory"] = memory_part(folder)
            print_table(result["memory"], ["frames", "peak_rss_mb", "wall_s", "vs_1000"])
    save(f"long_jobs_{args.part}", result)


if __name__ == "__main__":
    main()
