"""Interlaced transfers: film that went through a telecine to tape, then to DVD, stores two fields per frame.

Each frame of such a video weaves two half-pictures (fields, the even and the odd lines) taken a field apart in
time; played progressively, anything moving shows combs. Two cases:

- Video-rate interlacing (every field a moment of its own): FFmpeg's `bwdif` rebuilds each frame from the field
  shown first, filling the other lines from both fields and the frames either side (one frame out per frame in:
  `send_frame`).
- 3:2 pulldown (24 fps film at 29.97 fps, two of every five frames combed from fields of two film frames):
  FFmpeg's `fieldmatch` re-pairs the fields into whole film frames, then one of every five frames, the one most
  like the frame before it, is dropped: the 24 film frames a second come back at their own rate.

`auto` follows the field order the stream declares (its container or bitstream); a stream that declares none
is taken as progressive. Telecine is not declared anywhere a player looks, so inverse telecine is only done when
asked (`ivtc`).
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np
import torch

from ..errors import InputError, OptionError
from ..io.reader import FrameInfo
from ..ops import luma_u8
from .base import NO_SEGMENTS, Item, Stage
from .settings import Option, StageSettings, option_value

MODES = ("auto", "on", "off", "ivtc")
PARITIES = ("tff", "bff")
RECENT = 8  # frames kept for fieldmatch's output to take fields from: it looks one frame each way
TELECINE_RATES = (Fraction(30000, 1001), Fraction(30))  # what 3:2 pulldown makes of 24 fps film
CYCLE = 5  # 3:2 pulldown: five video frames carry four film frames
GRAPH_TIME_BASE = Fraction(1, 1000)  # the filters here do not look at timestamps; the buffer needs one


@dataclass(frozen=True)
class DeinterlaceSettings(StageSettings):
    mode: str = "auto"  # auto, on, off, ivtc
    field_order: str = "unknown"  # what the stream declares (measured): tff, bff, progressive or unknown

    options = (Option("deinterlace", "Interlaced video transfers: auto follows the field order the stream "
                                     "declares, on deinterlaces (bwdif; top field first if the stream does not "
                                     "say), ivtc undoes 3:2 pulldown (29.97 to 23.976 fps).", kind=str,
                      default="auto", choices=MODES, field="mode"),)

    @property
    def retimes(self) -> bool:
        return self.mode == "ivtc"

    @classmethod
    def from_options(cls, values):
        mode = option_value(cls, values, "deinterlace") or "auto"
        return None if mode == "off" else cls(mode)

    def measure(self, film, sample, runners):
        fps = sample.source.info.fps
        if self.mode == "ivtc" and not any(abs(fps / rate - 1) < 0.01 for rate in TELECINE_RATES):
            raise OptionError(f"$deinterlace ivtc undoes 3:2 pulldown, which carries 24 fps film in 29.97 or 30 fps "
                              f"video; this film plays at {float(fps):g} fps, so there is no pulldown to undo")
        return replace(self, field_order=sample.source.info.field_order)

    @property
    def parity(self) -> str:
        """The field shown first; a stream that does not say is taken as top field first (DVD, most tape)."""
        return self.field_order if self.field_order in PARITIES else "tff"

    def build(self, film, runners):
        if self.mode == "ivtc":
            return [InverseTelecineStage(self.parity)]
        if self.mode == "on" or (self.mode == "auto" and self.field_order in PARITIES):
            return [DeinterlaceStage(self.parity)]
        return []


def _check_parity(parity: str) -> None:
    if parity not in PARITIES:
        raise InputError(f"field order must be tff or bff, got {parity!r}")


class FilterChain:
    """One FFmpeg filter chain with one frame out per frame in, fed frames of one stream in order.

    Frames go in and come out as `av.VideoFrame`s of `pixel_format`, which the filter must take as it is: FFmpeg
    would otherwise convert silently, and lossily, on the way."""

    def __init__(self, filters: list[tuple[str, str]], width: int, height: int, pixel_format: str):
        self.graph = av.filter.Graph()
        last = self.graph.add_buffer(width=width, height=height, format=pixel_format, time_base=GRAPH_TIME_BASE)
        for name, arguments in filters:
            node = self.graph.add(name, arguments)
            last.link_to(node)
            last = node
        sink = self.graph.add("buffersink")
        last.link_to(sink)
        self.graph.configure()
        self.pixel_format = pixel_format
        self.pushed = 0

    def push(self, frame: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        """Feed a frame (None: the stream ends) and take what the chain lets out."""
        if frame is not None:
            frame.pts = self.pushed
            self.pushed += 1
        self.graph.push(frame)
        while True:
            try:
                out = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if out.format.name != self.pixel_format:
                raise RuntimeError(f"the filter chain converted {self.pixel_format} to {out.format.name}")
            yield out


def _stream_through(items: Iterator[Item], make_chain,
                    to_frame) -> Iterator[tuple[FrameInfo, torch.Tensor, av.VideoFrame]]:
    """Each item with the chain's output for it: (info, input image, output frame). The chain is made for the
    first frame's size (`make_chain(width, height)`)."""
    chain = None
    waiting: deque[Item] = deque()  # pushed, their output not out yet
    for info, image in items:
        if waiting and info.index <= waiting[-1][0].index:
            raise ValueError(f"frames must arrive in order, got {waiting[-1][0].index} then {info.index}")
        if chain is None:
            chain = make_chain(image.shape[-1], image.shape[-2])
        waiting.append((info, image))
        for out in chain.push(to_frame(info, image)):
            yield *waiting.popleft(), out
    if chain is not None:
        for out in chain.push(None):
            yield *waiting.popleft(), out


def _to_rgb48(image: torch.Tensor) -> av.VideoFrame:
    levels = (image.detach().float().clamp(0, 1) * 65535).round().to(torch.int32)
    return av.VideoFrame.from_ndarray(levels.permute(1, 2, 0).cpu().numpy().astype(np.uint16), format="gbrp16le")


class DeinterlaceStage(Stage):
    """FFmpeg's bwdif, one frame out per frame in, on 16-bit planar RGB (8-bit input passes exactly: 257 x its
    levels). bwdif makes frame i from frames i-1, i and i+1 only: one frame of context, one of lookahead, and one
    chain may run through segment starts unchanged, as a resumed job's chain would from one frame before."""

    name = "deinterlace"
    context_frames = 1
    lookahead = 1

    def __init__(self, parity: str = "tff"):
        _check_parity(parity)
        self.parity = parity

    def _chain(self, width: int, height: int) -> FilterChain:
        return FilterChain([("bwdif", f"mode=send_frame:parity={self.parity}:deint=all")], width, height,
                           "gbrp16le")

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        for info, image, out in _stream_through(items, self._chain, lambda info, image: _to_rgb48(image)):
            levels = torch.from_numpy(out.to_ndarray().astype(np.float32))
            yield info, (levels / 65535).permute(2, 0, 1).to(image)


class InverseTelecineStage(Stage):
    """3:2 pulldown undone: fields re-paired by FFmpeg's fieldmatch, then one frame of every five dropped.

    fieldmatch sees 8-bit pictures only, so it gets a stand-in for each frame: the frame's luma, to match on, and
    the frame's number (mod 256) in a chroma plane, which it copies along with the luma but does not look at. The
    chroma of its output says which frame each field came from; the fields are then taken from the frames
    themselves, at their full precision.

    The dropped frame of each cycle (frames 5k to 5k+4, counted from the film's first) is the one least changed
    from the frame before it. A cycle's choice depends on its frames, the one before them and fieldmatch's
    neighbours, so `context_frames` covers a whole cycle before a segment's first frame and more (stages after
    this one need their own context in frames that survive), and `lookahead` the rest of the last cycle. Kept
    frames play at 4/5 of the rate, four to a cycle, on the cycle's slots: frame times follow frame numbers."""

    name = "inverse-telecine"
    context_frames = 3 * CYCLE
    lookahead = CYCLE + 1

    def __init__(self, parity: str = "tff"):
        _check_parity(parity)
        self.parity = parity

    def output_timing(self, fps: Fraction, time_base: Fraction) -> tuple[Fraction, Fraction]:
        rate = Fraction(fps) * (CYCLE - 1) / CYCLE
        return rate, 1 / rate

    def _chain(self, width: int, height: int) -> FilterChain:
        # mchroma=0: the chroma planes carry frame numbers, not picture, and must not sway the matching
        return FilterChain([("fieldmatch", f"order={self.parity}:mchroma=0:chroma=0")], width, height, "yuv444p")

    @staticmethod
    def _stand_in(info: FrameInfo, image: torch.Tensor) -> av.VideoFrame:
        y = luma_u8(image)
        number = np.full_like(y, info.index % 256)
        return av.VideoFrame.from_ndarray(np.stack([y, number, number]), format="yuv444p")

    def _matched(self, items) -> Iterator[Item]:
        recent: dict[int, torch.Tensor] = {}  # frames fieldmatch may still take fields from, by number mod 256

        def remembered(items):
            for info, image in items:
                recent[info.index % 256] = image
                recent.pop((info.index - RECENT) % 256, None)
                yield info, image

        for info, image, out in _stream_through(remembered(items), self._chain, self._stand_in):
            numbers = out.to_ndarray()[1, :, 0]  # (H,): the frame each line came from
            sources = {int(number) for number in np.unique(numbers)}
            if sources == {info.index % 256}:
                yield info, image
                continue
            lines = torch.from_numpy(numbers.astype(np.int64))
            matched = image.clone()
            for number in sources:
                rows = (lines == number).nonzero()[:, 0].to(image.device)
                matched[:, rows] = recent[number][:, rows]
            yield info, matched

    def stream(self, items, batch=1, segments=NO_SEGMENTS):
        cycle: list[Item] = []
        before: torch.Tensor | None = None  # the frame before the cycle, when the stream has it
        for info, image in self._matched(items):
            if cycle and info.index // CYCLE != cycle[0][0].index // CYCLE:
                yield from self._decimated(cycle, before)
                before = cycle[-1][1] if cycle[-1][0].index + 1 == info.index else None
                cycle = []
            cycle.append((info, image))
        if cycle:
            yield from self._decimated(cycle, before)

    @staticmethod
    def _decimated(cycle: list[Item], before: torch.Tensor | None) -> Iterator[Item]:
        """A whole cycle without its repeated frame, on the cycle's four output slots; a cycle cut short (the
        film's end, a stream's start) keeps all its frames."""
        number = cycle[0][0].index // CYCLE
        kept = cycle
        if len(cycle) == CYCLE:
            thumbs = [luma_u8(image).astype(np.float32) for _, image in cycle]
            changes = [np.inf if before is None else float(np.abs(thumbs[0] - luma_u8(before)).mean())]
            changes += [float(np.abs(b - a).mean()) for a, b in zip(thumbs, thumbs[1:])]
            repeated = int(np.argmin(changes))
            kept = cycle[:repeated] + cycle[repeated + 1:]
        for slot, (info, image) in enumerate(kept):
            yield replace(info, pts=number * (CYCLE - 1) + slot, duration=1), image
