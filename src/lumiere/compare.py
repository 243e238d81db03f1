"""Before/after comparisons: split-screen or side by side, the before scaled up to match."""

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .io.images import Image, is_image_path, read_image, write_image
from .io.reader import Frame, open_source
from .io.writer import EncodeSettings, video_file
from .ops import eight_bit
from .output import output_folder
from .progress import Progress

MODES = ("split", "side")
MAX_WIDTH, MAX_HEIGHT = 3840, 2160


def _label(canvas: np.ndarray, text: str, x: int) -> None:
    scale = max(0.5, canvas.shape[0] / 900)
    thickness = max(1, round(scale * 2))
    origin = (x + round(12 * scale), round(34 * scale))
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def compose(before: np.ndarray, after: np.ndarray, mode: str) -> np.ndarray:
    """One comparison frame (uint8 RGB); the before is resized (bicubic) to the after's size."""
    before, after = eight_bit(before), eight_bit(after)
    height, width = after.shape[:2]
    panels = 2 if mode == "side" else 1
    fit = min(1.0, MAX_WIDTH / (width * panels), MAX_HEIGHT / height)
    out_w, out_h = max(2, 2 * round(width * fit / 2)), max(2, 2 * round(height * fit / 2))  # even, for H.264
    if (out_w, out_h) != (width, height):
        after = cv2.resize(after, (out_w, out_h), interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_CUBIC)
    before = cv2.resize(before, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    if mode == "side":
        canvas = np.concatenate([before, after], axis=1)
        _label(canvas, "before", 0)
        _label(canvas, "after", out_w)
        return canvas
    middle = out_w // 2
    canvas = np.concatenate([before[:, :middle], after[:, middle:]], axis=1)
    canvas[:, middle - 1:middle + 1] = 255
    _label(canvas, "before", 0)
    _label(canvas, "after", middle)
    return canvas


def _paired(before: Iterator[Frame], after: Iterator[Frame], before_step: float, after_step: float):
    """Pairs each after-frame with the before-frame shown at that moment (frame rates may differ)."""
    current = next(before, None)
    upcoming = next(before, None)
    for frame in after:
        moment = frame.index * after_step
        while upcoming is not None and upcoming.index * before_step <= moment + 1e-9:
            current, upcoming = upcoming, next(before, None)
        yield current, frame


def compare(before_path: Path, after_path: Path, output: Path, mode: str = "split", frame: int | None = None,
            show_progress: bool = True, frame_done: Callable[[], None] | None = None) -> None:
    """A before | after picture or video of two pictures or films; `frame_done()` hears of each frame of a video
    written (a job's bar), else a bar of its own shows them."""
    if mode not in MODES:
        raise InputError(f"$mode must be one of {', '.join(MODES)}")
    output = Path(output)
    if output.resolve() in (Path(before_path).resolve(), Path(after_path).resolve()):
        raise OutputError("the comparison would overwrite one of its inputs")
    with output_folder(output.parent):
        if is_image_path(Path(before_path)) and is_image_path(Path(after_path)):
            if not is_image_path(output):
                raise OutputError("comparing two images writes an image: give -o NAME.png")
            write_image(output, Image(compose(read_image(before_path).rgb, read_image(after_path).rgb, mode)))
            return
        before, after = open_source(Path(before_path)), open_source(Path(after_path))
        before_step, after_step = float(1 / before.info.fps), float(1 / after.info.fps)
        if is_image_path(output):
            wanted = after.info.frame_count // 2 if frame is None else frame
            if not 0 <= wanted < after.info.frame_count:
                raise InputError(f"$frame must be between 0 and {after.info.frame_count - 1}")
            for pair_before, pair_after in _paired(before.frames(), after.frames(), before_step, after_step):
                if pair_after.index == wanted:
                    write_image(output, Image(compose(pair_before.rgb, pair_after.rgb, mode)))
                    return
        settings = EncodeSettings("h264", crf=18, preset="fast")
        settings.validate(output.suffix.lower())
        pairs = _paired(before.frames(), after.frames(), before_step, after_step)
        first_before, first_after = next(pairs)
        first = compose(first_before.rgb, first_after.rgb, mode)
        info = after.info
        with (Progress("compare", info.frame_count, show=show_progress and frame_done is None) as progress,
              video_file(output, settings, first.shape[1], first.shape[0], info.fps, info.time_base,
                         info.color.for_output(first.shape[0], info.height), first_after.pts,
                         info.path if info.kind == "video" else None) as writer):
            advance = frame_done or (lambda: progress.advance(1))
            writer.write(first, first_after.pts, first_after.duration)
            advance()
            for pair_before, pair_after in pairs:
                writer.write(compose(pair_before.rgb, pair_after.rgb, mode), pair_after.pts, pair_after.duration)
                advance()
