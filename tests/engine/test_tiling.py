import pytest
import torch

from lumiere.engine.tiling import pad_to_multiple, plan_spans, run_tiled
from lumiere.models.archs import build_compact


def test_plan_spans_cover_exactly():
    spans = plan_spans(100, 30, 8)
    assert spans[0].core_start == 0 and spans[-1].core_end == 100
    assert all(a.core_end == b.core_start for a, b in zip(spans, spans[1:]))
    assert all(s.read_start == max(0, s.core_start - 8) and s.read_end == min(100, s.core_end + 8) for s in spans)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_tiled_matches_untiled(scale, device):
    torch.manual_seed(0)
    model = build_compact(scale, num_feat=8, num_conv=4).to(device).eval()  # receptive radius 6 px
    x = torch.rand(2, 3, 70, 90, device=device)
    with torch.no_grad():
        whole = model(x)
        tiled = run_tiled(model, x, scale, tile=24, margin=12, feather=8)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-5


def test_untiled_when_tile_covers_frame():
    x = torch.rand(1, 3, 20, 20)
    calls = []
    run_tiled(lambda t: calls.append(t.shape) or t, x, 1, tile=64)
    assert calls == [x.shape]


def test_output_stays_where_fn_computes():
    # A CUDA runner gets frames from the CPU and computes on the GPU; the "meta" device stands in for it here.
    tiled = run_tiled(lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2).to("meta"),
                      torch.rand(1, 3, 40, 40), 2, tile=16)
    assert tiled.device.type == "meta" and tiled.shape == (1, 3, 80, 80)


def test_exception():
    with pytest.raises(ValueError, match="feather"):
        run_tiled(lambda t: t, torch.rand(1, 3, 8, 8), 1, tile=4, margin=2, feather=8)


def test_pad_to_multiple():
    x, ph, pw = pad_to_multiple(torch.rand(1, 3, 10, 13), 8)
    assert x.shape == (1, 3, 16, 16) and (ph, pw) == (6, 3)
