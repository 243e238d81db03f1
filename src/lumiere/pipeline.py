"""Streaming execution: decode, process and encode run concurrently through bounded queues.

Memory stays flat however long the film: at most `QUEUE_FRAMES` decoded and
`QUEUE_FRAMES` processed frames wait between the threads. The pipeline owns
progress and stopping; any thread's failure stops the others and is re-raised.
"""

import queue
import threading
from collections.abc import Callable, Container, Iterator

import numpy as np
import torch
from tqdm import tqdm

from .io.reader import Frame
from .ops import array_to_tensor, tensor_to_array
from .stages.base import NO_SEGMENTS, Stage

QUEUE_FRAMES = 4
_DONE = object()


class _Worker(threading.Thread):
    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
            self._stop_event.set()


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _DONE


def _within(items: Iterator, first: int, last: int) -> Iterator:
    return (item for item in items if first <= item[0].index < last)


def run_pipeline(frames: Iterator[Frame], stages: list[Stage], write: Callable[[Frame], None], *,
                 total: int, done: int = 0, batch: int = 1, out_dtype: np.dtype = np.uint8,
                 show_progress: bool = True, description: str = "restore",
                 wanted: tuple[int, int] | None = None, segments: Container[int] = NO_SEGMENTS) -> None:
    """Pull frames through the stages' streams (in batches where a stage takes them) and hand each result to
    `write`, in order.

    With `wanted` (first, one-past-last frame index), only those frames are written, and each stage passes on
    only the frames the stages after it need for them: context frames are not carried through stages that
    need none, so a chunk costs little more than its own frames. `segments` holds the first frame of each of the
    job's segments (chunks), where stages that carry state from frame to frame restart it as a resumed job would.
    """
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    processed: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)

    def decode() -> None:
        for frame in frames:
            if not _put(decoded, frame, stop):
                return
        _put(decoded, _DONE, stop)

    def encode() -> None:
        # Converting to stored pixels here, not in the inference thread, overlaps it with the next inference.
        while True:
            item = _get(processed, stop)
            if item is _DONE:
                return
            info, image = item
            write(Frame(info.index, info.pts, tensor_to_array(image, out_dtype), info.duration))
            progress.update(1)

    progress = tqdm(total=total, initial=done, unit="frame", desc=description, disable=not show_progress,
                    dynamic_ncols=True, smoothing=0.1)
    decoder = _Worker("lumiere-decode", decode, stop)
    encoder = _Worker("lumiere-encode", encode, stop)
    decoder.start()
    encoder.start()
    def decoded_items():
        while (frame := _get(decoded, stop)) is not _DONE:
            yield frame.info, array_to_tensor(frame.rgb)

    try:
        items = decoded_items()
        for position, stage in enumerate(stages):
            items = stage.stream(items, batch, segments)
            if wanted is not None:
                later = stages[position + 1:]
                items = _within(items, wanted[0] - sum(after.context_frames for after in later),
                                wanted[1] + sum(after.lookahead for after in later))
        with torch.inference_mode():
            for frame, image in items:
                if not _put(processed, (frame, image), stop):
                    break
        _put(processed, _DONE, stop)
        encoder.join()
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        decoder.join()
        encoder.join()
        progress.close()
    for worker in (decoder, encoder):
        if worker.error is not None:
            raise worker.error
