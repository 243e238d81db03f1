"""Motion between frames: DIS optical flow (OpenCV), warping along it, how far it can be trusted, and shots.

Pictures here are uint8 lightness or luma planes (H, W); flows are (H, W, 2) float32 in pixels, OpenCV's
convention: for `flow = dis.calc(a, b)`, b(p + flow(p)) matches a(p).
"""

import cv2
import numpy as np

FLOW_TOLERANCE = 1.0  # px of forward-backward disagreement (plus 5% of the motion) at which trust falls to 1/e
LUMA_TOLERANCE = 12.0  # mean difference (of 255) over 5x5 pixels at which trust falls to 1/e
ROUND_TRIP_TOLERANCE = 0.5  # px at the flow's size (plus 5% of the motion): a flow is trusted within this


def _thumbnail(luma: np.ndarray) -> np.ndarray:
    small = cv2.resize(luma.astype(np.float32), (32, 24), interpolation=cv2.INTER_AREA)
    return (small - small.mean()) / (small.std() + 1e-3)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two lightness pictures' 32x24 thumbnails: 1 alike, about 0 unrelated."""
    return float((_thumbnail(a) * _thumbnail(b)).mean())


def shot_around(center: int, count: int, cut_after) -> tuple[int, int]:
    """First and last positions of the shot that holds `center`, among `count` consecutive frames;
    `cut_after(k)` says whether a cut lies between frames k and k + 1."""
    first, last = center, center
    while first > 0 and not cut_after(first - 1):
        first -= 1
    while last < count - 1 and not cut_after(last):
        last += 1
    return first, last


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def flow_consistency(there: np.ndarray, back: np.ndarray, tolerance: float = FLOW_TOLERANCE) -> np.ndarray:
    """How well a flow holds up against the flow the other way, per pixel: 1 where going there and back returns
    to the start, 1/e where the trip misses by `tolerance` px plus 5% of the motion, towards 0 where the pixel is
    hidden in the other picture."""
    error = np.linalg.norm(there + warp(back, there), axis=2)
    return np.exp(-((error / (tolerance + 0.05 * np.linalg.norm(there, axis=2))) ** 2)).astype(np.float32)


def matched_tone(luma: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`luma` with the mean and spread of `like`: flicker and fading must not read as motion or occlusion."""
    luma = luma.astype(np.float32)
    return (luma - luma.mean()) / (luma.std() + 1e-3) * like.std() + like.mean()


class FlowAligner:
    """Warps what belongs to one picture onto another along DIS optical flow, with a per-pixel confidence."""

    def __init__(self):
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def align(self, target: np.ndarray, source: np.ndarray, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Warp `planes` (h, w, C), laid over the uint8 lightness `source`, onto `target` (h, w).

        Confidence (h, w) in [0, 1] is high where the flow both ways agrees and the warped lightness matches.
        """
        source_toned = np.clip(matched_tone(source, target), 0, 255).astype(np.uint8)
        backward = self.dis.calc(target, source_toned, None)  # target pixel -> where it is in source
        forward = self.dis.calc(source_toned, target, None)
        # compared over 5x5 neighbourhoods: film grain differs in every frame, objects that moved differ in patches
        luma_error = cv2.blur(np.abs(warp(source_toned.astype(np.float32), backward) - target.astype(np.float32)),
                              (5, 5))
        confidence = flow_consistency(backward, forward) * np.exp(-((luma_error / LUMA_TOLERANCE) ** 2))
        return warp(np.ascontiguousarray(planes, dtype=np.float32), backward), confidence.astype(np.float32)


class WindowFlows:
    """DIS flows between the frames of a sliding window, each ordered pair computed once: the window centred on
    a frame needs the flows to and from each neighbour, and the next window the same pairs again."""

    def __init__(self):
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._flows: dict[tuple[int, int], np.ndarray] = {}

    def flow(self, pictures: list[np.ndarray], indices: list[int], a: int, b: int) -> np.ndarray:
        """The flow from window position `a` to `b` (frames `indices[a]`, `indices[b]` of the film)."""
        key = (indices[a], indices[b])
        if key not in self._flows:
            self._flows[key] = self.dis.calc(pictures[a], pictures[b], None)
        return self._flows[key]

    def forget_before(self, index: int) -> None:
        self._flows = {key: flow for key, flow in self._flows.items() if min(key) >= index}


def neighbour_flows(flows: WindowFlows, pictures: list[np.ndarray], indices: list[int], center: int,
                    size: tuple[int, int]):
    """For each other picture of a window (uint8, at a reduced size; `indices` are the frames' in the film): its
    position, the flow from the centre picture to it enlarged to `size` (width, height), and where that flow
    survives its round trip."""
    flows.forget_before(indices[0])
    width, height = size
    for k in range(len(pictures)):
        if k == center:
            continue
        there = flows.flow(pictures, indices, center, k)
        back = flows.flow(pictures, indices, k, center)
        trusted = flow_consistency(there, back, ROUND_TRIP_TOLERANCE) > np.exp(-1)
        scale = np.float32([width / there.shape[1], height / there.shape[0]])
        flow = cv2.resize(there, (width, height), interpolation=cv2.INTER_LINEAR) * scale
        trusted = cv2.resize(trusted.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        yield k, flow, trusted
