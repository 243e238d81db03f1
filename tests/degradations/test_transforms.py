import torch

from lumiere.degradations.recipes import build_recipe
from lumiere.degradations.transforms import Downsample, GaussianBlur, GaussianNoise, RandomApply


def test_params_are_drawn_once_per_clip():
    clip = torch.rand(1, 3, 16, 16).expand(4, 3, 16, 16).contiguous()  # four identical frames
    out = GaussianBlur()(clip, torch.Generator().manual_seed(0))
    assert all(torch.equal(out[0], out[i]) for i in range(1, 4))


def test_noise_changes_every_frame_with_one_strength():
    clip = torch.full((3, 3, 16, 16), 0.5)
    out = GaussianNoise(sigma=(0.05, 0.05), gray_probability=0.0)(clip, torch.Generator().manual_seed(0))
    assert not torch.equal(out[0], out[1])
    stds = (out - 0.5).std(dim=(1, 2, 3))
    assert torch.allclose(stds, torch.full_like(stds, 0.05), atol=0.01)


def test_same_seed_same_result():
    recipe = build_recipe("bicubic", 2)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(recipe(x, torch.Generator().manual_seed(5)), recipe(x, torch.Generator().manual_seed(5)))


def test_random_apply_probability_extremes():
    x = torch.rand(1, 3, 8, 8)
    never = RandomApply(Downsample(2), p=0.0)
    assert never(x, torch.Generator().manual_seed(0)) is x
    assert RandomApply(Downsample(2), p=1.0)(x, torch.Generator().manual_seed(0)).shape == (1, 3, 4, 4)


def test_recipe_cardinality_and_range():
    out = build_recipe("bicubic", 4)(torch.rand(3, 3, 32, 48), torch.Generator().manual_seed(1))
    assert out.shape == (3, 3, 8, 12)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, torch.round(out * 255) / 255)
