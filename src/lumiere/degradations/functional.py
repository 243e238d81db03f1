"""Pure degradation functions on (B, C, H, W) float tensors in [0, 1].

Each function is deterministic given its arguments; randomness lives in
`transforms.py`, which draws parameters once per clip and calls these.
"""

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_image_batch
from ..ops import luma


def gaussian_kernel2d(sigma_x: float, sigma_y: float, angle: float = 0.0) -> torch.Tensor:
    """An anisotropic Gaussian kernel, odd-sized to cover 3 sigma, normalised to sum 1."""
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be positive, got {sigma_x}, {sigma_y}")
    radius = max(1, math.ceil(3 * max(sigma_x, sigma_y)))
    coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).float()


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel with one 2-D kernel, reflecting at the borders."""
    check_image_batch(x)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"expected an odd square (K, K) kernel, got {tuple(kernel.shape)}")
    channels = x.shape[1]
    pad = kernel.shape[0] // 2
    weight = kernel.to(x).expand(channels, 1, *kernel.shape)
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, groups=channels)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize to (H, W); downscaling is antialiased, as MATLAB's imresize does."""
    check_image_batch(x)
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    antialias = mode in ("bicubic", "bilinear") and (size[0] < x.shape[-2] or size[1] < x.shape[-1])
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, antialias=antialias, **kwargs)


def downsample(x: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """Shrink by an integer factor (the sides must divide by it)."""
    check_image_batch(x)
    h, w = x.shape[-2:]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"expected sides divisible by scale {scale}, got {tuple(x.shape)}")
    return resize(x, (h // scale, w // scale), mode)


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None,
                   gray: bool = False) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation `sigma` (in [0, 1] units)."""
    check_image_batch(x)
    shape = (x.shape[0], 1, *x.shape[2:]) if gray else x.shape
    noise = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + sigma * noise


def quantize(x: torch.Tensor, levels: int = 255) -> torch.Tensor:
    """Clamp to [0, 1] and round to `levels` steps, as storing 8-bit frames does."""
    return torch.round(x.clamp(0, 1) * levels) / levels


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Round-trip every image through a JPEG encoder at the given quality (1..100)."""
    check_image_batch(x)
    if not 1 <= quality <= 100:
        raise ValueError(f"expected quality in 1..100, got {quality}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {tuple(x.shape)}")
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = []
    for image in pixels:
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        back = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        decoded.append(back[:, :, ::-1] if back.ndim == 3 else back[:, :, None])
    out = torch.from_numpy(np.ascontiguousarray(np.stack(decoded))).permute(0, 3, 1, 2)
    return out.to(x.device, x.dtype) / 255


def disk_kernel(radius: float) -> torch.Tensor:
    """A defocus (circle of confusion) kernel with antialiased edge, normalised to sum 1."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    size = 2 * math.ceil(radius) + 1
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    distance = torch.sqrt(coords[:, None] ** 2 + coords[None, :] ** 2)
    kernel = (radius + 0.5 - distance).clamp(0, 1)
    return (kernel / kernel.sum()).float()


def film_grain(x: torch.Tensor, strength: float, grain_size: float, generator: torch.Generator | None = None,
               color: bool = False) -> torch.Tensor:
    """Photographic grain: spatially correlated noise, strongest in the mid-tones, as silver grain is.

    `grain_size` is the correlation length in pixels (noise drawn at 1/size resolution and enlarged);
    `strength` the standard deviation in mid-gray. Each image of the batch gets its own grain.
    """
    check_image_batch(x)
    batch, channels, height, width = x.shape
    size = max(1.0, grain_size)
    small = (max(1, round(height / size)), max(1, round(width / size)))
    planes = channels if color else 1
    noise = torch.randn((batch, planes, *small), generator=generator, dtype=x.dtype, device=x.device)
    noise = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False) if size > 1 else noise
    noise = noise / noise.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    y = luma(x).clamp(0, 1)
    response = 0.25 + 1.5 * torch.sqrt(y * (1 - y))  # 1.0 at mid-gray, 0.25 in pure black or white
    return x + strength * response * noise


def paint_specks(x: torch.Tensor, specks: torch.Tensor) -> torch.Tensor:
    """Dust and dirt: soft irregular blobs. `specks` is (N, 6): frame index, x, y (0..1), radius (px),
    value (0 black dirt .. 1 white dust), opacity."""
    check_image_batch(x)
    if specks.numel() == 0:
        return x
    out = x.clone()
    height, width = x.shape[-2:]
    yy = torch.arange(height, device=x.device, dtype=x.dtype)[:, None]
    xx = torch.arange(width, device=x.device, dtype=x.dtype)[None, :]
    for frame, cx, cy, radius, value, opacity in specks.tolist():
        frame = int(frame)
        if not 0 <= frame < x.shape[0]:
            continue
        px, py = cx * (width - 1), cy * (height - 1)
        top, bottom = max(0, int(py - 2 * radius - 2)), min(height, int(py + 2 * radius + 3))
        left, right = max(0, int(px - 2 * radius - 2)), min(width, int(px + 2 * radius + 3))
        if top >= bottom or left >= right:
            continue
        distance = torch.sqrt((yy[top:bottom] - py) ** 2 + ((xx[:, left:right] - px) * 1.3) ** 2)
        alpha = opacity * (radius + 0.7 - distance).clamp(0, 1)
        region = out[frame, :, top:bottom, left:right]
        out[frame, :, top:bottom, left:right] = region * (1 - alpha) + value * alpha
    return out


def vertical_scratch(x: torch.Tensor, position: float, width_px: float, value: float, opacity: float,
                     wobble: float = 0.0, phase: float = 0.0, rows_shown: torch.Tensor | None = None,
                     halo: float = 0.0) -> torch.Tensor:
    """A line scratch along the film: a thin vertical line at `position` (0..1 of the width), slightly wavy.

    `rows_shown` (H,), 0..1, is how much of the line each row shows (a broken or partial scratch; all of it
    when None). `halo` (0..1) pushes a pixel either side of the line away from its value, as the sharpening
    and compression of a scan do to a fine line.
    """
    check_image_batch(x)
    height, width = x.shape[-2:]
    if rows_shown is not None and rows_shown.shape != (height,):
        raise ValueError(f"expected rows_shown of shape ({height},), got {tuple(rows_shown.shape)}")
    rows = torch.arange(height, device=x.device, dtype=x.dtype)
    centre = position * (width - 1) + wobble * torch.sin(rows / max(1, height) * 6.2832 + phase)
    columns = torch.arange(width, device=x.device, dtype=x.dtype)
    distance = (columns[None, :] - centre[:, None]).abs()
    shown = opacity if rows_shown is None else opacity * rows_shown.to(x)[:, None]
    alpha = shown * (width_px / 2 + 0.5 - distance).clamp(0, 1)
    out = x * (1 - alpha) + value * alpha
    if halo > 0:
        flank = halo * shown * (1 - (distance - width_px / 2 - 1).abs()).clamp(0, 1)
        out = out + flank * (out - value)
    return out


def brightness(x: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Per-image gain and offset (flicker); `gain` and `offset` have one value per image."""
    check_image_batch(x)
    return x * gain.view(-1, 1, 1, 1).to(x) + offset.view(-1, 1, 1, 1).to(x)


def vignette(x: torch.Tensor, strength: float | torch.Tensor, softness: float | torch.Tensor = 2.0) -> torch.Tensor:
    """Darken towards the corners: 1 - strength * r^softness, r = 1 at the corners. `strength` and `softness`:
    one value, or one per image shaped (B, 1, 1, 1)."""
    check_image_batch(x)
    height, width = x.shape[-2:]
    yy = torch.linspace(-1, 1, height, device=x.device, dtype=x.dtype)[:, None]
    xx = torch.linspace(-1, 1, width, device=x.device, dtype=x.dtype)[None, :]
    radius = torch.sqrt((xx**2 + yy**2) / 2)
    return x * (1 - strength * radius**softness)


def translate(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Sub-pixel shift of each image by (dx, dy) pixels (gate weave); borders repeat the edge."""
    check_image_batch(x)
    if shifts.shape != (x.shape[0], 2):
        raise ValueError(f"expected shifts of shape ({x.shape[0]}, 2), got {tuple(shifts.shape)}")
    height, width = x.shape[-2:]
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shifts[:, 0].to(x) / width
    theta[:, 1, 2] = -2 * shifts[:, 1].to(x) / height
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)


def fade(x: torch.Tensor, contrast: float | torch.Tensor, black: float | torch.Tensor,
         gamma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Tonal fading: contrast squeezed around mid-gray, blacks lifted to `black`, a gamma shift. Each value: one,
    or one per image shaped (B, 1, 1, 1)."""
    check_image_batch(x)
    toned = x.clamp(0, 1) ** gamma
    return black + (1 - black) * (0.5 + (toned - 0.5) * contrast)


def monochrome(x: torch.Tensor, tint: Sequence[float] | Sequence[Sequence[float]] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """Gray (tint 1,1,1) or toned (sepia: about 1.07, 0.95, 0.78) black-and-white from colour; `tint`: one
    (R, G, B), or one per image."""
    y = luma(x)
    tint_tensor = torch.tensor(tint, dtype=x.dtype, device=x.device).view(-1, 3, 1, 1)
    return (y * tint_tensor).clamp(0, 1)


def h264(frames: torch.Tensor, crf: int) -> torch.Tensor:
    """Round-trip a clip (T, 3, H, W) through libx264 at `crf`, in memory: blocking, ringing, smeared motion."""
    import io

    import av

    check_image_batch(frames, channels=3)
    count, _, height, width = frames.shape
    pad_h, pad_w = height % 2, width % 2
    padded = F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else frames
    pixels = (padded.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}  # one thread: tiny clips, many calls
        stream = container.add_stream("libx264", rate=24, options=options)
        stream.width, stream.height, stream.pix_fmt = pixels.shape[2], pixels.shape[1], "yuv420p"
        for index, image in enumerate(pixels):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    out = torch.from_numpy(np.stack(decoded[:count])).permute(0, 3, 1, 2).to(frames.device, frames.dtype) / 255
    return out[..., :height, :width]
