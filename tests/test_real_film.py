"""End to end on real footage with the shipped network, as the demo runs it."""

import av
import pytest
from click.testing import CliRunner

from lumiere.cli import main

from .conftest import data_path


@pytest.mark.slow
def test_restore_street_scene(tmp_path):
    film = data_path("film", "street-scene.mp4")
    out = tmp_path / "street-x2.mkv"
    result = CliRunner().invoke(main, ["restore", str(film), "-o", str(out), "--scale", "2", "-q",
                                       "--chunk-frames", "64"])
    assert result.exit_code == 0, result.output
    with av.open(str(film)) as a, av.open(str(out)) as b:
        before = [frame.time for frame in a.decode(video=0)]
        stream = b.streams.video[0]
        after = [frame.time for frame in b.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 960)
        assert stream.codec_context.colorspace == 1  # BT.709 once HD
    assert after == pytest.approx(before, abs=1e-3)  # Matroska stores milliseconds
    compare = tmp_path / "cmp.png"
    assert CliRunner().invoke(main, ["compare", str(film), str(out), "-o", str(compare), "-q"]).exit_code == 0
    assert compare.stat().st_size > 0
