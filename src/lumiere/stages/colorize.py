"""Colorization: colour predicted from lightness at a small working size, kept steady along optical flow,
optionally following reference pictures, and carried up to the full-resolution frame.

Per frame: the network predicts a*b* at the working size (`render_size` on the shorter side). For video the
colour of the previous frame is warped onto this one along DIS optical flow and blended with the fresh
prediction, weighted by how much the flow can be trusted there (forward-backward consistency and matching
lightness); at a scene cut the carried colour is dropped. The a*b* planes are then carried to the frame's own
resolution by a guided filter steered by the full-resolution lightness, so colour edges follow the picture's
edges while the sharp luma stays untouched: a 4K frame costs little more than a small one.
"""

from collections import deque
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_image_batch
from ..cielab import lightness, rgb_to_lab, with_chroma
from ..degradations.functional import resize
from ..engine.runner import ModelRunner, Runners
from ..errors import InputError, OptionError
from ..eval.metrics import ciede2000, colourfulness
from ..faces import face_mask, find_faces
from ..io.images import read_image
from ..models.colornet import CALIBRATION, OUTPUT_STRIDE, TEMPERATURE
from ..models.loader import resolve_model_path
from ..motion import FlowAligner, correlation
from ..ops import array_to_tensor, to_u8
from .base import NO_SEGMENTS, TemporalStage
from .settings import Option, StageSettings, option_value

DEFAULT_MODEL = "colorize-lite0"
# The network's honest colour estimate is muted; it is made bolder where the network is sure (a narrow
# distribution over colours) and kept calm where it guesses (each network's own `colour_gain`), and colour is
# smoothed wherever lightness shows no edge that would justify a change. Chosen on bsds500/test crops
# (benchmarks/colorize_sets.py, set "tuning") and by looking: docs/weights.md says how.
UNSURE_SPREAD = 30.0
# The (calm, bold) pairs training chooses a network's gain from, and the rule: the colour closest to the truth
# among those at least this share as colourful as the truth (a muted tint scores well and convinces no one).
GAIN_GRID = tuple((calm, bold) for calm in (0.4, 0.6, 0.8) for bold in (1.2, 1.6, 2.2, 3.3))
LEAST_COLOURFULNESS = 0.7
BLOTCH_EPS = 25.0
BLOTCH_SHARE = 1 / 8  # of the work picture's shorter side: the reach of the blotch smoothing
# Faces: colour on the skin of a found face moves this far towards the median a*b* of the skin of the 73 faces
# found in the training photos (imagenet-1k less its held-out fifth, bsds500/train, wikimedia, t91), measured
# by the same detector and mask; eyes, brows and shadows (darker than half the face's median) are left alone
SKIN_AB = (15.0, 21.0)
SKIN = 0.7
KEYFRAME_CORRELATION = 0.7  # a reference this alike to its most alike frame of the film is that frame, coloured
MATCH_POOL = 2  # content matching on features pooled 2x2 below the network's output grid


@dataclass(frozen=True)
class ColorizeSettings(StageSettings):
    model: str = DEFAULT_MODEL
    render_size: int = 256  # shorter side of the picture the network sees
    saturation: float = 1.0  # multiplies a*b*: below 1 quieter, above 1 bolder
    temperature: float = TEMPERATURE  # of the annealed mean: lower is bolder (and more often wrong)
    calibration: float = CALIBRATION  # 1: the network's honest colour estimate; 0: tilted towards vivid colours
    persistence: float = 0.95  # share of the carried colour kept each frame where the flow is reliable
    unsure_spread: float = UNSURE_SPREAD  # a*b* spread of the network's guess past which it counts as unsure
    calm: float | None = None  # colour multiplier where the network is unsure (None: the network's own)
    bold: float | None = None  # colour multiplier where it is sure (0 spread; None: the network's own)
    blotch_eps: float = BLOTCH_EPS  # L*^2: colour may change only across lightness edges stronger than this (0: off)
    skin: float = SKIN  # how far colour on found faces moves towards a skin tone (0: faces are not looked for)
    references: tuple[Path, ...] = field(default_factory=tuple)
    located: "Located | None" = None  # where the references were found in the film, measured on it

    options = (
        Option("colorize", "Also colorize (after upscaling), steady from frame to frame.", kind=bool),
        Option("reference", "A coloured picture to follow: a hand-coloured frame of this film, or a period photo. "
                            "Repeat for several.", kind=Path, many=True),
        Option("saturation", "Colour strength: 0 gray, below 1 quieter, above 1 bolder.", default=1.0,
               bounds=(0, 4)),
        Option("render_size", "Shorter side of the picture the colour network sees; colour is carried up to the "
                              "full frame from there.", kind=int, default=256, bounds=(32, 2048)),
        Option("skin", "How far colour on faces moves towards a skin tone: 0 leaves faces to the network.",
               default=SKIN, bounds=(0, 1)),
        Option("color_model", "Colorization model: shipped name or a file made by `lumiere train colorize`.",
               kind=str, default=DEFAULT_MODEL),
    )

    @classmethod
    def from_options(cls, values):
        references = tuple(option_value(cls, values, "reference") or ())
        if not option_value(cls, values, "colorize"):
            if references:
                raise OptionError("$reference guides colorization: add $colorize")
            return None
        return cls(model=option_value(cls, values, "color_model"), render_size=option_value(cls, values, "render_size"),
                   saturation=option_value(cls, values, "saturation"), skin=option_value(cls, values, "skin"),
                   references=references)

    def measure(self, film, sample, runners):
        if not self.references:
            return self
        colours = colorizer(self, runners)
        references = References(colours, self.references)
        work = colours.work_size(*film.size)
        return replace(self, located=references.locate(
            (frame.index, work_lightness(frame.rgb, work)) for frame in sample.source.frames()))

    def needs_shots(self, film, runners):
        return True

    def build(self, film, runners):
        colours = colorizer(self, runners)
        references = References(colours, self.references, self.located) if self.references else None
        return [ColorizeStage(colours, references)]

    def files(self, film):
        return [resolve_model_path(self.model)[1], *self.references]

    def fingerprint(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("references", "located")}


def work_size(width: int, height: int, render_size: int, multiple: int) -> tuple[int, int]:
    """(width, height) for the network: shorter side about `render_size`, both multiples of `multiple` (the
    network's: 16 for ColorNet, 32 for the ImageNet encoder's)."""
    scale = render_size / min(width, height)
    def side(n: int) -> int:
        return max(multiple, round(n * scale / multiple) * multiple)
    return side(width), side(height)


def colour_gain(spread: torch.Tensor, calm: float, bold: float, unsure_spread: float) -> torch.Tensor:
    """How much bolder than the network's honest (muted) estimate to make each colour: `bold` where the network
    is sure (its distribution narrow), falling to `calm` where it only guesses (spread past `unsure_spread`)."""
    sure = torch.exp(-(spread / unsure_spread) ** 2)
    return calm + (bold - calm) * sure


def decoded_colour(network, logits: torch.Tensor, settings: ColorizeSettings,
                   gain: tuple[float, float]) -> torch.Tensor:
    """(B, Q, h/4, w/4) logits -> a*b* (B, 2, h, w): the annealed mean made bolder where the network is sure,
    by `gain` (calm, bold)."""
    ab = network.decode(logits, settings.temperature, settings.calibration)
    if settings.unsure_spread:
        ab = ab * colour_gain(network.spread(logits, settings.calibration), *gain, settings.unsure_spread)
    return F.interpolate(ab, scale_factor=OUTPUT_STRIDE, mode="bilinear", align_corners=False).float()


def melt_blotches(ab: torch.Tensor, luma: torch.Tensor, settings: ColorizeSettings) -> torch.Tensor:
    """a*b* smoothed wherever the lightness L* (B, 1, h, w) shows no edge (`guided_filter`), over 1/8 of the
    picture's shorter side."""
    if not settings.blotch_eps:
        return ab
    return guided_filter(ab, luma.float(), max(1, round(min(luma.shape[-2:]) * BLOTCH_SHARE)), settings.blotch_eps)


@torch.no_grad()
def choose_colour_gain(network, truth: torch.Tensor) -> tuple[float, float]:
    """The (calm, bold) of `GAIN_GRID` that colours the sRGB pictures `truth` (B, 3, H, W; H and W multiples of
    the network's size multiple) from their lightness closest to them (mean CIEDE2000), among the pairs whose
    colour is at least `LEAST_COLOURFULNESS` as colourful as theirs; the most colourful pair where none is."""
    check_image_batch(truth, channels=3)
    settings, device = ColorizeSettings(), network.ab_bins.device
    wanted = LEAST_COLOURFULNESS * colourfulness(truth).mean().item()
    scores = {gain: [0.0, 0.0] for gain in GAIN_GRID}
    for picture in truth.to(device).split(1):
        luma = lightness(picture)
        logits = network(luma / 100)
        for gain, score in scores.items():
            coloured = with_chroma(luma, melt_blotches(decoded_colour(network, logits, settings, gain), luma, settings))
            score[0] += ciede2000(rgb_to_lab(coloured), rgb_to_lab(picture)).mean().item()
            score[1] += colourfulness(coloured).item() / len(truth)
    colourful = [gain for gain, (_, colour) in scores.items() if colour >= wanted]
    if not colourful:
        return max(scores, key=lambda gain: scores[gain][1])
    return min(colourful, key=lambda gain: scores[gain][0])


def colorizer(settings: ColorizeSettings, runners: Runners) -> "Colorizer":
    return Colorizer(settings, runners.get(settings.model, ("colorize",)))


class Colorizer:
    """The colorization network on a device: lightness in, a*b* (and matching features) out."""

    def __init__(self, settings: ColorizeSettings, runner: ModelRunner):
        self.settings = settings
        self.runner = runner
        self.device = runner.device
        calm, bold = runner.module.colour_gain.tolist()
        self.gain = (calm if settings.calm is None else settings.calm, bold if settings.bold is None else settings.bold)

    def work_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a (width, height) picture is coloured at."""
        return work_size(width, height, self.settings.render_size, self.runner.descriptor.size_multiple)

    @torch.inference_mode()
    def predict(self, luma: torch.Tensor, skin: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """L* (B, 1, h, w) at a work size -> a*b* (B, 2, h, w) and features (B, C, h/4, w/4). `skin` (B, 1, h, w)
        in [0, 1] marks the skin of faces (`skin_weights`), which is given a skin tone."""
        settings = self.settings
        features, logits = self.runner.run(lambda network, lightness: network.features(lightness), luma / 100)
        ab = decoded_colour(self.runner.module, logits, settings, self.gain)
        if skin is not None:
            tone = torch.tensor(SKIN_AB, device=ab.device).view(1, 2, 1, 1)
            ab = ab + settings.skin * skin.to(ab.device) * (tone - ab)
        return melt_blotches(ab, luma, settings), F.normalize(features, dim=1)


def skin_weights(luma: torch.Tensor, luma_small: torch.Tensor) -> torch.Tensor:
    """Where the skin of a face is, in [0, 1] at the work size: faces found in the full-resolution lightness
    (B, 1, H, W) L*, less what is darker than half the face's median lightness in the work-size one (B, 1, h, w)."""
    check_image_batch(luma, channels=1)
    check_image_batch(luma_small, channels=1)
    width = luma.shape[-1]
    height_small, width_small = luma_small.shape[-2:]
    weights = []
    for plane, plane_small in zip(luma[:, 0], luma_small[:, 0].float().cpu().numpy(), strict=True):
        faces = [face.scaled(width_small / width) for face in find_faces(_lightness_u8(plane))]
        mask = np.zeros((height_small, width_small), np.float32)
        for face in faces:
            one = face_mask(height_small, width_small, [face])
            inside = one > 0.5
            if inside.any():
                mask = np.maximum(mask, one * (plane_small > 0.5 * np.median(plane_small[inside])))
        weights.append(torch.from_numpy(mask))
    return torch.stack(weights)[:, None]


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    # a row mean of column means: 2 (2r + 1) additions a pixel, not (2r + 1)^2 (the guided filter's radius is
    # tens of pixels, where the square window took 70% of the colorize stage's time)
    side = 2 * radius + 1
    padded = F.pad(x, [radius] * 4, mode="replicate")
    return F.avg_pool2d(F.avg_pool2d(padded, (side, 1), stride=1), (1, side), stride=1)


def _guided_coefficients(ab: torch.Tensor, guide: torch.Tensor, radius: int,
                         eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each a*b* plane as a local linear function of lightness, a * guide + b (He, Sun and Tang's guided filter):
    colour follows lightness across its edges and is averaged where lightness is flat (changes below `eps`)."""
    mean_i = _box(guide, radius)
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    mean_p = _box(ab, radius)
    cov = _box(guide * ab, radius) - mean_i * mean_p
    a = cov / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius), _box(b, radius)


def guided_filter(ab: torch.Tensor, guide: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """a*b* (B, 2, h, w) smoothed wherever the lightness guide (B, 1, h, w) has no edge: a patch of colour with
    no lightness edge around it (a blotch) melts into its surroundings, colour edges on lightness edges stay."""
    a, b = _guided_coefficients(ab, guide, radius, eps)
    return a * guide + b


def guided_upsample(ab: torch.Tensor, guide_small: torch.Tensor, guide_full: torch.Tensor, radius: int = 2,
                    eps: float = 4.0) -> torch.Tensor:
    """Carry a*b* (B, 2, h, w) to the guide's full size (B, 1, H, W): a fast guided filter (He and Sun, 2015).
    The coefficients are fitted at the small size and applied to the full-resolution lightness, so colour edges
    land on the picture's edges."""
    a, b = _guided_coefficients(ab, guide_small, radius, eps)
    size = guide_full.shape[-2:]
    a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    return a * guide_full + b


def _lightness_u8(lightness_plane: torch.Tensor) -> np.ndarray:
    """L* (H, W) as uint8 levels of L* x 2.55."""
    return to_u8(lightness_plane.float().cpu().numpy() / 100)


def work_lightness(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 lightness (L* x 2.55) of a stored RGB frame at a work size, as the stage computes it."""
    luma = lightness(array_to_tensor(rgb)[None])
    return _lightness_u8(resize(luma, (size[1], size[0]), "area")[0, 0])


@dataclass
class _Carried:
    index: int
    luma: np.ndarray  # uint8 lightness at the work size
    ab: np.ndarray  # (h, w, 2) float32


def _matching_grid(features: torch.Tensor) -> torch.Tensor:
    """Features pooled to the grid that content is matched on (1/8 of the work size): cost grows with its square."""
    return F.normalize(F.avg_pool2d(features, MATCH_POOL), dim=1)


def register_affine(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The affine map (2x3, frame pixel -> reference pixel) that best lays `reference` onto `frame`.

    A hand-coloured frame is often framed a little differently (cropped, rescaled); flow alone would not
    reach across that. Enhanced correlation (ECC) ignores the two pictures' differing exposure.
    """
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(frame.astype(np.float32), reference.astype(np.float32), warp,
                                       cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5), None, 5)
    except cv2.error:  # did not converge: the pictures are laid on each other as they are
        warp = np.eye(2, 3, dtype=np.float32)
    return warp


def warp_affine(image: np.ndarray, warp: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _tone_curve(luma: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The monotone curve (256 levels) that gives uint8 lightness `luma` the histogram of `like`."""
    source_cdf = np.cumsum(np.bincount(luma.ravel(), minlength=256)) / luma.size
    target_cdf = np.cumsum(np.bincount(like.ravel(), minlength=256)) / like.size
    return np.interp(source_cdf, target_cdf, np.arange(256)).astype(np.float32)


def apply_tone(luma: torch.Tensor, curve: np.ndarray) -> torch.Tensor:
    """L* through a 256-level curve of L* x 2.55, linearly interpolated."""
    table = torch.from_numpy(curve).to(luma.device, torch.float32) / 2.55
    position = (luma.float() * 2.55).clamp(0, 255)
    low = position.floor().long().clamp(max=254)
    return torch.lerp(table[low], table[low + 1], position - low)


@dataclass(frozen=True)
class Located:
    """Where references were found in a film, measured once (a pass over the whole film) and handed on."""

    keyframes: dict[int, int]  # frame index -> reference
    tone_curves: dict[int, np.ndarray]  # frame index -> lightness curve
    registrations: dict[int, np.ndarray]  # frame index -> affine map (work size) frame -> reference


class References:
    """Coloured pictures the output should follow: frames of the film itself (matched to their frame and
    laid onto it along flow) or any other pictures (their colours borrowed by content, through the
    network's own features)."""

    def __init__(self, colorizer: Colorizer, paths: tuple[Path, ...], located: "Located | None" = None):
        self.colorizer = colorizer
        self.pictures: list[torch.Tensor] = []
        for path in paths:
            if not Path(path).is_file():
                raise InputError(f"reference not found: {path}")
            self.pictures.append(array_to_tensor(read_image(Path(path)).rgb)[None])
        located = located or Located({}, {}, {})
        self.keyframes = located.keyframes  # frame index -> reference
        self.tone_curves = located.tone_curves  # frame index -> lightness curve
        self.registrations = located.registrations  # frame index -> affine map (work size) frame -> reference
        self._prepared: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]] = {}

    def locate(self, frames_luma) -> "Located":
        """Find each reference's frame in the film (an iterable of (index, uint8 lightness)), if it has one.

        A reference found in the film also sets its tone: the curve that maps that frame's lightness onto the
        reference's (matched histograms) is kept, and frames between two references get a blend of theirs.
        """
        best: list[tuple[float, int, np.ndarray | None]] = [(-1.0, -1, None)] * len(self.pictures)
        references = [_lightness_u8(lightness(p)[0, 0]) for p in self.pictures]
        for index, luma in frames_luma:
            for k, ref in enumerate(references):
                ref_resized = cv2.resize(ref, (luma.shape[1], luma.shape[0]), interpolation=cv2.INTER_AREA)
                score = correlation(luma, ref_resized)
                if score > best[k][0]:
                    best[k] = (score, index, luma)
        self.keyframes, self.tone_curves, self.registrations = {}, {}, {}
        for k, (score, index, luma) in enumerate(best):
            if score < KEYFRAME_CORRELATION or luma is None:
                continue
            ref = cv2.resize(references[k], (luma.shape[1], luma.shape[0]), interpolation=cv2.INTER_AREA)
            warp = register_affine(luma, ref)
            ref_on_frame, inside = warp_affine(ref, warp), warp_affine(np.ones_like(ref), warp) > 0
            self.keyframes[index] = k
            self.registrations[index] = warp
            self.tone_curves[index] = _tone_curve(luma[inside], ref_on_frame[inside])
        return Located(self.keyframes, self.tone_curves, self.registrations)

    def tone(self, index: int) -> np.ndarray | None:
        """The lightness curve (256 levels of L* x 2.55) for frame `index`, or None without reference frames."""
        if not self.tone_curves:
            return None
        keys = sorted(self.tone_curves)
        if index <= keys[0] or index >= keys[-1]:
            return self.tone_curves[keys[0] if index <= keys[0] else keys[-1]]
        after = next(k for k in keys if k >= index)
        before = max(k for k in keys if k <= index)
        if after == before:
            return self.tone_curves[before]
        share = (index - before) / (after - before)
        return (1 - share) * self.tone_curves[before] + share * self.tone_curves[after]

    def _prepare(self, size: tuple[int, int]):
        """Per work size: the references' features and a*b* (for matching) and lightness/a*b* planes."""
        if size not in self._prepared:
            feats, abs_small, planes = [], [], []
            for picture in self.pictures:
                rgb = resize(picture, (size[1], size[0]), "bicubic").clamp(0, 1)
                luma = lightness(rgb)
                ab_true = rgb_to_lab(rgb)[:, 1:]
                _, features = self.colorizer.predict(luma)
                feats.append(_matching_grid(features)[0].flatten(1))
                abs_small.append(F.avg_pool2d(ab_true, OUTPUT_STRIDE * MATCH_POOL)[0].flatten(1).to(features.device))
                planes.append((_lightness_u8(luma[0, 0]), ab_true[0].permute(1, 2, 0).numpy()))
            self._prepared[size] = (torch.cat(feats, 1), torch.cat(abs_small, 1), planes)
        return self._prepared[size]

    @torch.inference_mode()
    def follow(self, ab: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Pull a*b* (B, 2, h, w) towards the references' colours where their content matches."""
        size = (ab.shape[-1], ab.shape[-2])
        ref_features, ref_ab, _ = self._prepare(size)
        features = _matching_grid(features)
        batch, channels, h4, w4 = features.shape
        queries = features.flatten(2).transpose(1, 2)  # (B, N, C)
        matched = torch.empty(batch, 2, h4 * w4, device=features.device)
        confidence = torch.empty(batch, h4 * w4, device=features.device)
        for start in range(0, h4 * w4, 2048):
            similarity = queries[:, start:start + 2048] @ ref_features  # (B, n, M)
            top, where = similarity.topk(8, dim=-1)
            weights = torch.softmax(top / 0.02, dim=-1)
            matched[:, :, start:start + 2048] = (ref_ab[:, where] * weights[None]).sum(-1).permute(1, 0, 2)
            confidence[:, start:start + 2048] = ((top[..., 0] - 0.6) / 0.25).clamp(0, 1)
        matched = F.interpolate(matched.view(batch, 2, h4, w4), size=ab.shape[-2:], mode="bilinear",
                                align_corners=False)
        confidence = F.interpolate(confidence.view(batch, 1, h4, w4), size=ab.shape[-2:], mode="bilinear",
                                   align_corners=False)
        return confidence * matched + (1 - confidence) * ab.to(matched.device)

    def keyframe(self, index: int, luma: np.ndarray, aligner: FlowAligner) -> tuple[np.ndarray, np.ndarray] | None:
        """The reference's a*b* laid onto frame `index` along flow, with its confidence, if it is a keyframe."""
        if index not in self.keyframes:
            return None
        _, _, planes = self._prepare((luma.shape[1], luma.shape[0]))
        ref_luma, ref_ab = planes[self.keyframes[index]]
        warp = self.registrations[index]
        inside = warp_affine(np.ones(ref_luma.shape, np.float32), warp)
        stacked = np.dstack([ref_ab, inside])
        warped, confidence = aligner.align(luma, warp_affine(ref_luma, warp), warp_affine(stacked, warp))
        return warped[..., :2], confidence * (warped[..., 2] > 0.99)


class _ColourState:
    """What colorizing a stream carries from frame to frame: the last frame's colour and the frames kept for a
    segment's restart."""

    def __init__(self, context_frames: int):
        self.history: deque[tuple[int, bool, np.ndarray, np.ndarray]] = deque(maxlen=context_frames)
        self.carried: _Carried | None = None


class ColorizeStage(TemporalStage):
    name = "colorize"
    context_frames = 12  # frames replayed at a segment start so carried colour has settled

    def __init__(self, colorizer: Colorizer, references: References | None = None, temporal: bool = True):
        self.colorizer = colorizer
        self.references = references
        self.temporal = temporal
        self.aligner = FlowAligner()

    def start(self) -> _ColourState:
        return _ColourState(self.context_frames)

    def _step(self, state: _ColourState, index: int, shot_start: bool, luma: np.ndarray,
              fresh: np.ndarray) -> np.ndarray:
        carried = state.carried
        persistence = self.colorizer.settings.persistence
        if not self.temporal or carried is None or carried.index != index - 1 or shot_start:
            ab = fresh
        else:
            warped, confidence = self.aligner.align(luma, carried.luma, carried.ab)
            keep = (persistence * confidence)[..., None]
            ab = keep * warped + (1 - keep) * fresh
        keyframe = self.references.keyframe(index, luma, self.aligner) if self.references else None
        if keyframe is not None:
            reference_ab, confidence = keyframe
            ab = confidence[..., None] * reference_ab + (1 - confidence[..., None]) * ab
        state.carried = _Carried(index, luma, ab.astype(np.float32))
        return state.carried.ab

    def _restart_segment(self, state: _ColourState, index: int) -> None:
        """Rebuild the carried colour from the kept frames alone, as a job resumed at `index` would."""
        state.carried = None
        for kept_index, shot_start, luma, fresh in list(state.history):
            if kept_index >= index - self.context_frames:
                self._step(state, kept_index, shot_start, luma, fresh)

    @torch.inference_mode()
    def process(self, frames: torch.Tensor, indices: list[int], state: _ColourState | None = None,
                segments=NO_SEGMENTS, starts: list[bool] | None = None) -> torch.Tensor:
        check_image_batch(frames, channels=3)
        state = state or self.start()
        height, width = frames.shape[-2:]
        size = self.colorizer.work_size(width, height)
        device = self.colorizer.device
        luma_full = lightness(frames.to(device))
        curves = [self.references.tone(index) for index in indices] if self.references is not None else []
        if any(curve is not None for curve in curves):
            luma_full = torch.cat([apply_tone(luma_full[i:i + 1], curve) for i, curve in enumerate(curves)])
        luma_small = resize(luma_full, (size[1], size[0]), "area") if (width, height) != size else luma_full
        skin = skin_weights(luma_full, luma_small) if self.colorizer.settings.skin else None
        fresh, features = self.colorizer.predict(luma_small, skin)
        if self.references is not None:
            fresh = self.references.follow(fresh, features)
        fresh_np = fresh.permute(0, 2, 3, 1).cpu().numpy()
        outputs = []
        starts = starts or [False] * len(indices)
        for i, index in enumerate(indices):
            luma_u8 = _lightness_u8(luma_small[i, 0])
            if index in segments:
                self._restart_segment(state, index)
            outputs.append(self._step(state, index, starts[i], luma_u8, fresh_np[i]))
            state.history.append((index, starts[i], luma_u8, fresh_np[i]))
        ab = torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2).to(device)
        ab = guided_upsample(ab * self.colorizer.settings.saturation, luma_small, luma_full)
        return with_chroma(luma_full, ab)
