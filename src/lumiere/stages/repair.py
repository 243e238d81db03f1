"""Dust, dirt and scratch repair: find what is on the film and not in the scene, then paint it over with the
film-repair network.

Dust and dirt: each neighbour (two frames each side) is laid onto the frame along DIS optical flow, where the
flow holds up both ways. A pixel brighter (or darker) by `threshold` than anything within 2 px in at least two
of those neighbours sits on this frame and not in the scene: a speck lives for one to three frames, so two
neighbours at least are clean. Only small blobs are kept: a real object that moved fast and that the flow
missed is large.

Brief line scratches (a hair or grit dragged through the gate for a frame or two, often broken into dashes):
thin pieces that stand out from the neighbours as dust does and line up in one column over a quarter of the
frame's height or more. The whole line is then taken, gaps included, wherever it still shows. It must be a
ridge in its rows, stand alone, and lie on a part of the scene the flow follows, or it is a real thin thing
(an edge the flow slipped along, a figure on the move) and is kept.

Lasting line scratches: a thin line standing out from its row down most of the frame is a scratch when,
between this frame and the ones two away, it does not follow the scene's motion (a scratch drifts and waves
across the frame, or stays put while the camera pans). A real line moves with the scene and is kept; so is a
scratch on a still shot, which cannot be told apart from one.

What is found is replaced by the network's picture of the frame, painted from all five frames (it learned on
lumiere's own dust and scratch degradations, `lumiere train repair`); a brief scratch, which the neighbours do
not share, by what the neighbours show, where they agree. Frames with nothing found pass through
untouched and without running the network.
"""

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from ..engine.runner import ModelRunner, Runners, RunnerSettings
from ..errors import OptionError
from ..models.loader import resolve_model_path
from ..models.repairnet import FRAMES
from ..motion import WindowFlows, neighbour_flows, warp
from ..ops import luma, to_u8
from .base import WindowStage
from .settings import Option, StageSettings, option_value

DEFAULT_MODEL = "film-repair"
TILE = 512  # larger frames are painted in overlapping tiles, so memory stays flat at any size


def repair_runner_settings(job: RunnerSettings) -> RunnerSettings:
    """The job's runner settings as the repair network needs them: 512 px tiles unless the job names a tile,
    and 32 px margins, as far as the network sees around a pixel."""
    return replace(job, tile=TILE if job.tile is None else job.tile, margin=32, feather=16)
LINE_BLOCK = 16  # rows: a scratch is followed block by block down the frame, so it may wave sideways
LINE_SHARE = 0.6  # of the blocks: how much of the frame's height a scratch shows in
# px, two frames apart: a scratch drifts and waves, so along a quarter of its length at least it is further than
# this from where the scene's motion would put it; a real line follows the scene to within flow noise
LINE_DRIFT = 0.6
PIECE_WIDTH = 5  # px: the widest piece of a brief line scratch (fringe included)
BRIEF_LINE_SPAN = 0.25  # of the frame's height: how far a brief line's pieces reach from first to last at least
BRIEF_LINE_FILL = 0.2  # of that reach: how much of it the pieces cover at least
BRIEF_LINE_TRUST = 0.9  # share of the flow beside a brief line that holds up (a moving figure's: 0.5-0.75)
NEIGHBOURS_AGREE = 0.04  # lightness (of 1): neighbours laid onto a frame that differ by less show the same thing


@dataclass(frozen=True)
class RepairSettings(StageSettings):
    strength: float = 1.0  # 0..1: how much of a found defect is replaced (1: all of it)
    threshold: float = 0.05  # difference (of 1) from the neighbours that marks dust
    min_speck_area: int = 4  # px: smaller differences are detail the flow could not follow
    max_speck_area: float = 0.0006  # of the frame: larger blobs are not dust (a real object, a flow failure)
    line_threshold: float = 0.08  # how far a scratch stands out from its row, more than the columns around it
    model: str = DEFAULT_MODEL  # what paints over the damage: a shipped name, or a `lumiere train repair` result

    options = (Option("repair", "Remove dust, dirt and line scratches that do not move with the scene; optional "
                                "strength 0-1.", bounds=(0, 1), bare=1.0, field="strength"),
               Option("repair_model", "What paints over the damage $repair finds: film-repair (default) or a "
                                      "`lumiere train repair` result.", kind=str, metavar="NAME|PATH"))

    @classmethod
    def from_options(cls, values):
        strength, model = option_value(cls, values, "repair"), option_value(cls, values, "repair_model")
        if strength is None:
            if model is not None:
                raise OptionError("$repair_model is what $repair paints with: add $repair")
            return None
        return cls(strength=strength, model=DEFAULT_MODEL if model is None else model)  # "" is refused as unnamed

    def build(self, film, runners):
        return [repair_stage(self, runners)]

    def files(self, film):
        return [resolve_model_path(self.model)[1]]


def row_residual(y: np.ndarray) -> np.ndarray:
    """(H, W) lightness minus the median of the 9 pixels of its row around it: thin lines stand out, edges and
    broad shapes do not."""
    width = y.shape[1]
    padded = np.pad(y, ((0, 0), (4, 4)), mode="edge")
    return y - np.median(np.stack([padded[:, i:i + width] for i in range(9)]), axis=0)


def _running_median(values: np.ndarray, radius: int) -> np.ndarray:
    padded = np.pad(values, radius, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1), axis=1)


def block_profile(residual: np.ndarray, sign: int) -> np.ndarray:
    """(H // LINE_BLOCK, W): how far pixels stand out from their rows (brighter for sign 1, darker for -1),
    averaged over each block of rows."""
    blocks = residual.shape[0] // LINE_BLOCK
    part = np.maximum(sign * residual[:blocks * LINE_BLOCK], 0)
    return part.reshape(blocks, LINE_BLOCK, -1).mean(axis=1)


def peak(profile: np.ndarray, first: int, last: int) -> tuple[float, float]:
    """(position, height) of the highest point of `profile` (1-D) between columns `first` and `last`
    (inclusive, clipped to the profile), to a fraction of a pixel by a parabola through its neighbours."""
    first, last = max(0, first), min(len(profile) - 1, last)
    top = first + int(np.argmax(profile[first:last + 1]))
    offset = 0.0
    if 0 < top < len(profile) - 1:
        left, middle, right = profile[top - 1], profile[top], profile[top + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return top + offset, float(profile[top])


@dataclass(frozen=True)
class Line:
    """A thin line down the frame: bright (sign 1) or dark (-1), at column `centres[b]` in row block b (NaN
    where it does not show)."""

    sign: int
    centres: np.ndarray

    def profile(self, residual: np.ndarray) -> np.ndarray:
        return block_profile(residual, self.sign)

    def mask(self, residual: np.ndarray, threshold: float) -> np.ndarray:
        height, width = residual.shape
        mask = np.zeros((height, width), bool)
        columns = np.arange(width)
        for block, centre in enumerate(self.centres):
            if np.isnan(centre):
                continue
            rows = slice(block * LINE_BLOCK, height if block == len(self.centres) - 1 else (block + 1) * LINE_BLOCK)
            near = np.abs(columns - centre) <= 3
            mask[rows, near] = self.sign * residual[rows, near] > threshold
        return cv2.dilate(mask.astype(np.uint8), np.ones((1, 3), np.uint8)) > 0


def find_lines(residual: np.ndarray, threshold: float) -> list[Line]:
    """Thin lines that stand out from their rows by `threshold` more than the columns around them do, through
    LINE_SHARE of the frame's height at least."""
    lines = []
    for sign in (1, -1):
        profile = block_profile(residual, sign)
        # a scratch waves up to 3 px sideways down the frame
        score = np.quantile(cv2.dilate(profile, np.ones((1, 7), np.float32)), 1 - LINE_SHARE, axis=0)
        strong = (score - _running_median(score, 15) > threshold).astype(np.uint8)
        count, labels = cv2.connectedComponents(strong[None])
        for run in range(1, count):
            columns = np.flatnonzero(labels[0] == run)
            column = columns[np.argmax(score[columns])]
            peaks = [peak(row, column - 6, column + 6) for row in profile]
            centres = np.array([position if strength > threshold / 2 else np.nan for position, strength in peaks])
            if np.isfinite(centres).mean() >= LINE_SHARE:
                lines.append(Line(sign, centres))
    return lines


def brief_lines(standing_out: np.ndarray, faint: np.ndarray, y: np.ndarray, trust: np.ndarray,
                threshold: float) -> np.ndarray:
    """Mask (H, W) of brief line scratches: thin pieces of `standing_out` (H, W, bool: what differs from the
    neighbours) lined up in one column, taken with what lies on the line between and around them and still
    shows: in `faint` (the same at a lower threshold) or as a ridge in its row.

    Where the flow slips along a real edge or a moving figure, what differs from the neighbours can line up
    too; so the line must be a ridge in the frame's lightness `y` (H, W), brighter or darker than both sides
    4 px away by `threshold` in three of four rows it shows in; it must stand alone; and the scene beside it
    must be one the flow follows (`trust`, H x W: the share of neighbours whose flow holds there), as a
    wall or a landscape is and a figure on the move is not.
    """
    height, width = standing_out.shape
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(standing_out.astype(np.uint8), connectivity=8)
    thin = np.flatnonzero(stats[:, cv2.CC_STAT_WIDTH] <= PIECE_WIDTH)
    thin = thin[thin > 0]  # not the background label
    mask = np.zeros((height, width), bool)
    if thin.size == 0:
        return mask
    # rows covered by thin pieces in each column, gathered over 5 columns: a line waves a little
    cover = np.zeros((height, width), np.uint8)
    for piece in thin:
        top, tall = stats[piece, cv2.CC_STAT_TOP], stats[piece, cv2.CC_STAT_HEIGHT]
        cover[top:top + tall, int(round(centroids[piece, 0]))] = 1
    reach = cv2.dilate(cover, np.ones((1, 5), np.uint8))
    rows_covered = reach.sum(axis=0, dtype=np.int64)
    taken = np.zeros(width, bool)
    for column in np.argsort(-rows_covered):
        if rows_covered[column] < BRIEF_LINE_SPAN * BRIEF_LINE_FILL * height:
            break
        if taken[column]:
            continue
        near = thin[np.abs(np.round(centroids[thin, 0]) - column) <= 2]
        if np.ptp(centroids[near, 1]) >= LINE_BLOCK:  # a line may lean: follow it to the pieces at its ends
            slope, offset = np.polyfit(centroids[near, 1], centroids[near, 0], 1)
            near = thin[np.abs(centroids[thin, 0] - (slope * centroids[thin, 1] + offset)) <= 2]
        tops, bottoms = stats[near, cv2.CC_STAT_TOP], stats[near, cv2.CC_STAT_TOP] + stats[near, cv2.CC_STAT_HEIGHT]
        span = bottoms.max() - tops.min()
        if span < BRIEF_LINE_SPAN * height or rows_covered[column] < BRIEF_LINE_FILL * span:
            continue
        # the line's centre in each row, between the pieces' centres
        order = np.argsort(centroids[near, 1])
        rows = np.arange(tops.min(), bottoms.max())
        centres = np.round(np.interp(rows, centroids[near, 1][order], centroids[near, 0][order])).astype(int)
        offsets = centres[:, None] + np.arange(-12, 13)
        inside = (offsets >= 0) & (offsets < width)
        beside = standing_out[rows[:, None], offsets.clip(0, width - 1)] & inside
        on_line, off_line = beside[:, 10:15].sum(), beside[:, :10].sum() + beside[:, 15:].sum()
        if off_line > on_line:  # beside it, over four times its width, no more than on it
            continue
        flanks = np.r_[0:8, 17:25]
        if (trust[rows[:, None], offsets[:, flanks].clip(0, width - 1)] * inside[:, flanks]).mean() < BRIEF_LINE_TRUST:
            continue
        across = y[rows[:, None], offsets.clip(0, width - 1)]
        core, sides = across[:, 11:14], across[:, [8, 16]]
        ridge = np.maximum((core.max(axis=1, keepdims=True) - sides).min(axis=1),
                           (sides - core.min(axis=1, keepdims=True)).min(axis=1))
        if np.quantile(ridge[beside[:, 10:15].any(axis=1)], 0.25) < threshold:
            continue
        taken[max(0, column - 4):column + 5] = True
        # on the line, what still differs faintly from the neighbours, or stands out from its row 4 px either
        # side (where a lasting scratch is in the neighbours too)
        band, columns = across[:, 10:15], offsets[:, 10:15].clip(0, width - 1)
        outside = np.stack([across[:, 6:11], across[:, 14:19]])
        standing = np.maximum((band - outside).min(axis=0), (outside - band).min(axis=0)) > threshold
        line_rows, line_columns = np.nonzero(inside[:, 10:15] & (standing | faint[rows[:, None], columns]))
        mask[rows[line_rows], columns[line_rows, line_columns]] = True
        mask |= np.isin(labels, near)
    return mask


def neighbours_agreeing(frames: torch.Tensor, center: int,
                        flows: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, np.ndarray]:
    """The median (3, H, W) of the neighbours (`frames`: T, 3, H, W) laid onto the centre frame along `flows`,
    and a mask (H, W) of where three of them at least are trusted and all the trusted ones agree to within
    NEIGHBOURS_AGREE in lightness.

    Each neighbour is first brought to the centre frame's exposure over 33 x 33 px around each pixel: old film
    flickers, and unevenly (a thin scratch hardly moves such a mean).
    """
    planes = frames.permute(0, 2, 3, 1).numpy()
    exposure = cv2.blur(planes[center], (33, 33))
    laid = []
    for k, (flow, _) in flows.items():
        moved = warp(np.ascontiguousarray(planes[k]), flow)
        laid.append(moved + exposure - cv2.blur(moved, (33, 33)))
    laid = np.stack(laid)
    trusted = np.stack([trusted for _, trusted in flows.values()])
    lightness = luma(torch.from_numpy(laid).permute(0, 3, 1, 2))[:, 0].numpy()
    spread = np.where(trusted, lightness, -np.inf).max(axis=0) - np.where(trusted, lightness, np.inf).min(axis=0)
    agree = (trusted.sum(axis=0) >= 3) & (spread < NEIGHBOURS_AGREE)
    return torch.from_numpy(np.median(laid, axis=0)).permute(2, 0, 1), agree


def repair_stage(settings: RepairSettings, runners: Runners) -> "RepairStage":
    return RepairStage(settings, runners.get(settings.model, ("repair",), repair_runner_settings(runners.settings)))


class RepairStage(WindowStage):
    name = "repair"
    before = after = 2

    def __init__(self, settings: RepairSettings, runner: ModelRunner):
        self.settings = settings
        self.runner = runner

    def transient(self, y: np.ndarray, center: int,
                  flows: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Masks (H, W) of what is on the centre frame and not in its neighbours: dust and dirt, and brief line
        scratches."""
        kernel = np.ones((5, 5), np.uint8)
        threshold = self.settings.threshold
        brighter = np.zeros(y.shape[1:], np.int32)  # how many neighbours it is brighter than, by threshold
        darker = np.zeros(y.shape[1:], np.int32)
        faintly = np.zeros(y.shape[1:], np.int32)  # brighter or darker by half the threshold
        trust = np.zeros(y.shape[1:], np.float32)
        for k, (flow, trusted) in flows.items():
            above = y[center] - warp(cv2.dilate(y[k], kernel), flow)
            below = warp(cv2.erode(y[k], kernel), flow) - y[center]
            brighter += trusted & (above > threshold)
            darker += trusted & (below > threshold)
            faintly += trusted & ((above > threshold / 2) | (below > threshold / 2))
            trust += trusted / len(flows)
        candidate = ((brighter >= 2) | (darker >= 2)).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        area = stats[:, cv2.CC_STAT_AREA]
        keep = (area >= self.settings.min_speck_area) & (area <= max(64, self.settings.max_speck_area * y[0].size))
        keep[0] = False  # the background label
        lines = brief_lines(candidate > 0, faintly >= 2, y[center], trust, threshold / 2)
        return tuple(cv2.dilate(found.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
                     for found in (keep[labels], lines))

    def scratches(self, y: np.ndarray, center: int, flows: dict[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Mask (H, W) of line scratches on the centre frame: lines that, in the frames two away (or one, at
        the film's ends), are found where the frame puts them rather than where the scene moved."""
        residual = row_residual(y[center])
        mask = np.zeros(residual.shape, bool)
        lines = find_lines(residual, self.settings.line_threshold)
        if not lines:
            return mask
        far = [k for k in flows if abs(k - center) == max(abs(k - center) for k in flows)]
        residuals = {k: row_residual(y[k]) for k in far}
        for line in lines:
            drift = []  # per block and neighbour: how far the line moved other than with the scene
            for k in far:
                scene = self._scene_shift(flows[k][0][..., 0], line.centres)
                for row, centre, shift in zip(line.profile(residuals[k]), line.centres, scene, strict=True):
                    if np.isfinite(centre) and np.isfinite(shift):
                        position, height = peak(row, int(centre + min(0, shift)) - 2, int(centre + max(0, shift)) + 3)
                        if height > self.settings.line_threshold / 2:
                            drift.append(abs(position - centre - shift))
            measured = len(drift) >= 0.25 * np.isfinite(line.centres).sum() * len(far)
            if measured and np.quantile(drift, 0.75) > LINE_DRIFT:
                mask |= line.mask(residual, self.settings.line_threshold / 4)
        return mask

    @staticmethod
    def _scene_shift(flow_x: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """(blocks,): how far the scene beside the line moves sideways, block by block (NaN where no line)."""
        shifts = np.full(len(centres), np.nan, np.float32)
        width = flow_x.shape[1]
        for block, centre in enumerate(centres):
            if np.isnan(centre):
                continue
            left, right = int(centre) - 4, int(centre) + 5
            beside = np.r_[max(0, left - 8):max(0, left), min(width, right):min(width, right + 8)]
            if beside.size:
                shifts[block] = np.median(flow_x[block * LINE_BLOCK:(block + 1) * LINE_BLOCK, beside])
        return shifts

    def start(self) -> WindowFlows:
        return WindowFlows()

    @torch.inference_mode()
    def process_window(self, window: list[torch.Tensor], center: int, indices: list[int],
                       memo: WindowFlows, starts: list[bool]) -> torch.Tensor:
        if len(window) < 3:
            return window[center]
        frames = torch.stack(window).float().cpu()
        y = luma(frames)[:, 0].numpy()
        height, width = y.shape[-2:]
        y_half = [cv2.resize(to_u8(plane), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
                  for plane in y]
        flows = {k: (flow, trusted)
                 for k, flow, trusted in neighbour_flows(memo, y_half, indices, center, (width, height))}
        specks, brief = self.transient(y, center, flows)
        damaged = self.scratches(y, center, flows) | specks | brief
        if not damaged.any():
            return window[center]
        # at the film's ends a missing neighbour is the nearest frame repeated
        stacked = torch.cat([frames[min(max(center + offset, 0), len(window) - 1)]
                             for offset in range(-(FRAMES // 2), FRAMES // 2 + 1)])[None]
        painted = self.runner(stacked).clamp(0, 1).cpu()[0]
        if brief.any():
            # a brief scratch is in this frame alone: where the neighbours laid onto it agree, they show what
            # it hides better than the network paints it (a third of its error on calendar)
            shown, agree = neighbours_agreeing(frames, center, flows)
            painted = torch.where(torch.from_numpy(brief & agree), shown, painted)
        share = torch.from_numpy(damaged).float() * self.settings.strength
        return torch.lerp(frames[center], painted, share).to(window[center])
