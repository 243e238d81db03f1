"""Streaming execution: decode, process and encode run concurrently through bounded queues.

Memory stays flat however long the film: at most `QUEUE_FRAMES` decoded and
`QUEUE_FRAMES` processed frames wait between the threads. The pipeline owns
stopping: any thread's failure stops the others and is re-raised. Progress is the job's (`progress.py`), told
of each frame as it is written.
Frames processed on a GPU come back to the host on a copy stream of their own
(`HostCopies`), so downloading and encoding one frame overlap the next one's
inference.
"""

import queue
import threading
from collections.abc import Callable, Container, Iterator

import numpy as np
import torch

from .io.reader import Frame
from .ops import array_to_tensor, quantize, tensor_to_array
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


class HostCopies:
    """Processed pictures brought to the host as stored pixels of `dtype`, each by a function the encoder thread
    calls when it needs the pixels.

    A picture on the CPU is converted there, in the encoder thread. One on a GPU is quantized on the GPU (a
    quarter of the bytes of float32 to move) and copied into pinned memory on a stream of its own, so the encoder
    thread waits for that copy alone: a plain copy from it would queue behind the inference of the frames
    launched after this one.
    """

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self._streams: dict[torch.device, torch.cuda.Stream] = {}

    def start(self, picture: torch.Tensor) -> Callable[[], np.ndarray]:
        if picture.device.type != "cuda":
            return lambda: tensor_to_array(picture, self.dtype)
        stream = self._streams.setdefault(picture.device, torch.cuda.Stream(picture.device))
        levels = quantize(picture, self.dtype)
        host = torch.empty(levels.shape, dtype=levels.dtype, pin_memory=True)
        stream.wait_stream(torch.cuda.current_stream(picture.device))
        with torch.cuda.stream(stream):
            host.copy_(levels, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(stream)
        levels.record_stream(stream)  # not reused by the allocator before the copy has read it

        def pixels() -> np.ndarray:
            copied.synchronize()
            return host.numpy().astype(self.dtype, copy=False)
        return pixels


def _within(items: Iterator, first: int, last: int) -> Iterator:
    return (item for item in items if first <= item[0].index < last)


def run_pipeline(frames: Iterator[Frame], stages: list[Stage], write: Callable[[Frame], None], *,
                 batch: int = 1, out_dtype: np.dtype = np.uint8, wanted: tuple[int, int] | None = None,
                 segments: Container[int] = NO_SEGMENTS) -> None:
    """Pull frames through the stages' streams (in batches where a stage takes them) and hand each result to
    `write`, in order, from a thread of its own.

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
            info, pixels = item
            write(Frame(info.index, info.pts, pixels(), info.duration))

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
        host_copies = HostCopies(out_dtype)
        with torch.inference_mode():
            for frame, image in items:
                if not _put(processed, (frame, host_copies.start(image)), stop):
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
    for worker in (decoder, encoder):
        if worker.error is not None:
            raise worker.error
