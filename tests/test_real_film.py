"""End to end on real footage with the shipped network, as the demo runs it."""

import av
import pytest
from click.testing import CliRunner

from lumiere.cli import main

from .conftest import data_path


@pytest.fixture(scope="module")
def street_scene_corner(tmp_path_factory):
    """The first 24 frames of street-scene.mp4 (18 fps, real grain, flicker and dust), its top-left 320x240 as
    lumiere itself writes a film: the whole film through the default network takes a quarter of an hour here."""
    from lumiere.io.reader import open_source
    from lumiere.io.writer import EncodeSettings, write_clip

    return write_clip(open_source(data_path("film", "street-scene.mp4")),
                      tmp_path_factory.mktemp("real") / "street-corner.mp4", EncodeSettings("h264", crf=12), range(24),
                      (320, 240))


@pytest.mark.slow
def test_restore_street_scene(tmp_path, street_scene_corner):
    """Real footage through restore's default choice (the film's shots found, the multi-frame film network),
    in chunks, to an HD frame: every frame at its time, BT.709 once HD, and a comparison of it."""
    film = street_scene_corner
    out = tmp_path / "street-x4.mkv"
    result = CliRunner().invoke(main, ["restore", str(film), "-o", str(out), "--scale", "4", "-q",
                                       "--chunk-frames", "10"])
    assert result.exit_code == 0, result.output
    with av.open(str(film)) as a, av.open(str(out)) as b:
        before = [frame.time for frame in a.decode(video=0)]
        stream = b.streams.video[0]
        after = [frame.time for frame in b.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 960)
        assert stream.codec_context.colorspace == 1  # BT.709 once HD
    assert len(before) == 24 and after == pytest.approx(before, abs=1e-3)  # Matroska stores milliseconds
    compare = tmp_path / "cmp.png"
    assert CliRunner().invoke(main, ["compare", str(film), str(out), "-o", str(compare), "-q"]).exit_code == 0
    assert compare.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.alone
def test_time_to_go_holds_on_a_real_job(tmp_path):
    """The time to go said before the frames start is within 30% of the time the rest of the job takes, on a job
    whose parts cost very different amounts a frame: the shot finder, colour, in-between frames and the
    comparison (at the film's size: enlarged x2, the job takes five minutes here)."""
    import re
    import subprocess
    import sys
    import time

    film = data_path("film", "street-scene.mp4")
    command = [sys.executable, "-m", "lumiere", "restore", str(film), "-o", str(tmp_path / "out.mp4"), "--scale", "1",
               "--colorize", "--fps", "30", "--preview", "1.5"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, bufsize=1)
    said, announced = None, None
    for line in process.stderr:
        found = re.search(r"about (?:(\d+) min )?(\d+) s to go", line)
        if found and said is None:
            said = time.perf_counter()
            announced = 60 * int(found.group(1) or 0) + int(found.group(2))
    assert process.wait() == 0
    took = time.perf_counter() - said
    assert 0.7 * took <= announced <= 1.3 * took, (announced, took)
