"""Reconstruction losses."""

import torch


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).abs().mean()


def charbonnier(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((prediction - target) ** 2 + eps**2).mean()


LOSSES = {"l1": l1, "charbonnier": charbonnier}


def frequency(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the 2-D spectra's magnitudes: rewards restoring fine detail that plain L1 averages away."""
    spectrum_p = torch.fft.rfft2(prediction.float(), norm="ortho")
    spectrum_t = torch.fft.rfft2(target.float(), norm="ortho")
    return (spectrum_p.abs() - spectrum_t.abs()).abs().mean()


def clip_shifts(clips: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) clips whose frames are shifted crops of one scene -> (B, T - 1, 2) whole-pixel (dy, dx)
    with frame t+1 at (y, x) showing what frame t shows at (y - dy, x - dx): the peak of their phase correlation,
    which a change of brightness (flicker) does not move."""
    if clips.ndim != 5:
        raise ValueError(f"expected (B, T, C, H, W) clips, got {tuple(clips.shape)}")
    spectra = torch.fft.rfft2(clips.float().mean(2))
    cross = spectra[:, 1:] * spectra[:, :-1].conj()
    correlation = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-8), s=clips.shape[-2:])
    peak = correlation.flatten(-2).argmax(-1)
    height, width = clips.shape[-2:]
    dy, dx = peak // width, peak % width
    return torch.stack([torch.where(dy > height // 2, dy - height, dy), torch.where(dx > width // 2, dx - width, dx)],
                       -1)


def temporal(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |error of frame t+1 - error of frame t carried along the scene's motion| over (B, T, C, H, W) clips of
    a scene the camera pans over by whole pixels: an error that stays on the scene (a detail drawn a little
    wrong) costs nothing here, one that changes from frame to frame (grain passed through, texture that boils)
    is what it penalizes. The motion is read from the truth (`clip_shifts`)."""
    if prediction.shape != target.shape or prediction.ndim != 5 or prediction.shape[1] < 2:
        raise ValueError(f"expected two (B, T >= 2, C, H, W) clips of one shape, got {tuple(prediction.shape)} and "
                         f"{tuple(target.shape)}")
    error = prediction.float() - target.float()
    height, width = error.shape[-2:]
    total = error.new_zeros(())
    count = 0
    for b, shifts in enumerate(clip_shifts(target).tolist()):
        for t, (dy, dx) in enumerate(shifts):
            later = error[b, t + 1, :, max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)]
            earlier = error[b, t, :, max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
            total = total + (later - earlier).abs().sum()
            count += later.numel()
    return total / count
