"""The command line as a user meets it: exit codes, one-line errors (in this process; in real subprocesses where
the process itself is what is tested)."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lumiere.cli import main

from .conftest import decode_all, run_cli


def run_process(*args):
    return subprocess.run([sys.executable, "-m", "lumiere", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_smoke(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=6)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "2", "--model",
                                       str(tiny_models[2]), "-q"])
    assert result.exit_code == 0, result.output
    assert len(decode_all(out)) == 6


@pytest.mark.parametrize("args,size", [(["--scale", "2.5"], (400, 300)), (["--height", "240"], (320, 240)),
                                        (["--to", "720p"], (960, 720)), ([], (640, 480))])
def test_restore_sizes(video_factory, tiny_models, tmp_path, args, size):
    out = tmp_path / "out.mp4"
    src = video_factory(frames=2, size=(160, 120))
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--model", str(tiny_models[4]), "-q",
                                       *args])
    assert result.exit_code == 0, result.output
    assert decode_all(out)[0].shape == (size[1], size[0], 3)


def test_upscale_image_and_folder(tmp_path, tiny_models):
    rgba = np.zeros((10, 12, 4), np.uint16)
    rgba[..., 3] = 65535
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    cv2.imwrite(str(tmp_path / "b.jpg"), np.zeros((8, 8, 3), np.uint8))
    runner = CliRunner()
    result = runner.invoke(main, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "a4.png"), "--scale", "4",
                                  "--model", str(tiny_models[4])])
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(tmp_path / "a4.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (40, 48, 4) and image.dtype == np.uint16 and image[..., 3].min() == 65535
    folder_in = tmp_path / "in"
    folder_in.mkdir()
    (tmp_path / "b.jpg").rename(folder_in / "b.jpg")
    result = runner.invoke(main, ["upscale", str(folder_in), "-o", str(tmp_path / "out"), "--scale", "2",
                                  "--model", str(tiny_models[2])])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "out" / "b.jpg")).shape == (16, 16, 3)


def test_compare_video_and_image(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=4)
    out = tmp_path / "out.mp4"
    runner = CliRunner()
    assert runner.invoke(main, ["restore", str(src), "-o", str(out), "--scale", "2", "--model",
                                str(tiny_models[2]), "-q"]).exit_code == 0
    for target, mode in ((tmp_path / "cmp.mp4", "split"), (tmp_path / "cmp.png", "side")):
        result = runner.invoke(main, ["compare", str(src), str(out), "-o", str(target), "--mode", mode, "-q"])
        assert result.exit_code == 0, result.output
    assert len(decode_all(tmp_path / "cmp.mp4")) == 4
    assert cv2.imread(str(tmp_path / "cmp.png")).shape == (96, 256, 3)


@pytest.mark.slow
def test_models_lists_shipped_and_user(tmp_path, tiny_models, monkeypatch):
    (tmp_path / "mine.safetensors").write_bytes(tiny_models[2].read_bytes())
    monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path))
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0
    assert "sr-x4" in result.output and "mine.safetensors" in result.output and "RealESRGAN Compact" in result.output


def test_help_for_every_command():
    for command in ([], ["restore"], ["upscale"], ["compare"], ["models"], ["train", "upscale"], ["demo"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def _bad_inputs(tmp_path, video, tiny_models):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    fake_model = tmp_path / "fake.pth"
    fake_model.write_text("weights")
    readonly = Path("/proc")  # no one, root included, can create files there
    alpha = tmp_path / "alpha"
    alpha.mkdir()
    cv2.imwrite(str(alpha / "f1.png"), np.zeros((8, 8, 4), np.uint8))
    out = tmp_path / "out.mp4"
    m = ["--model", str(tiny_models[2])]
    return {
        "missing file": (["restore", tmp_path / "nope.mp4", "-o", out], "no such file"),
        "text named mp4": (["restore", text, "-o", out], "not a video"),
        "truncated video": (["restore", truncated, "-o", out, *m], "corrupt"),
        "zero-byte video": (["restore", empty, "-o", out], "not a video"),
        "alpha sequence": (["restore", alpha, "-o", out], "alpha channel"),
        "not a model": (["restore", video, "-o", out, "--model", fake_model], "not a model"),
        "output is input": (["restore", video, "-o", video, *m], "overwrite the input"),
        "unwritable folder": (["restore", video, "-o", readonly / "x.mp4", *m], "not writable"),
        "folder under a file": (["restore", video, "-o", video / "no" / "x.mp4", *m], "is a file, not a folder"),
        "scale 0": (["restore", video, "-o", out, "--scale", "0"], "between 1 and 8"),
        "scale -1": (["restore", video, "-o", out, "--scale", "-1"], "between 1 and 8"),
        "scale 100": (["restore", video, "-o", out, "--scale", "100"], "between 1 and 8"),
        "bad codec for container": (["restore", video, "-o", out, "--codec", "prores"], "cannot hold prores"),
        "upscale a video": (["upscale", video, "-o", tmp_path / "x.png"], "not an image"),
        "upscale missing": (["upscale", tmp_path / "nope.png", "-o", tmp_path / "x.png"], "no such file"),
        "upscale unwritable": (["upscale", alpha / "f1.png", "-o", readonly / "x.png", *m], "not writable"),
    }


def test_exception_bad_inputs(video_factory, tiny_models, tmp_path):
    video = video_factory("good.mp4", frames=30, size=(96, 64))
    cases = _bad_inputs(tmp_path, video, tiny_models)
    before = {p: digest(p) for p in tmp_path.rglob("*") if p.is_file()}
    for name, (args, message) in cases.items():
        result = CliRunner().invoke(main, [*map(str, args), "-q"] if args[0] == "restore" else list(map(str, args)))
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1, (name, result.output)
        assert len(lines) == 1 and lines[0].startswith("lumiere: error:"), (name, result.stderr)
        assert message in lines[0], (name, lines[0])
    after = {p: digest(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "an input was touched or an output was left behind"
    assert not [p for p in tmp_path.rglob(".*") if p.name.endswith((".partial", ".lumiere"))]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["text named mp4", "truncated video", "scale 100"])
def test_exception_real_process(video_factory, tiny_models, tmp_path, case):
    """In a real process: exit status 1, one line on stderr, no traceback."""
    video = video_factory("good.mp4", frames=30, size=(96, 64))
    args, message = _bad_inputs(tmp_path, video, tiny_models)[case]
    result = run_process(*args, "-q")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_degrade_image_and_video(video_factory, tmp_path):
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((30, 41, 3), 128, np.uint8))
    runner = CliRunner()
    result = runner.invoke(main, ["degrade", str(tmp_path / "photo.png"), "-o", str(tmp_path / "old.png"),
                                  "--scale", "2"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "old.png")).shape == (15, 20, 3)
    src = video_factory("clip.mkv", frames=20, size=(96, 64), audio="aac")
    out = tmp_path / "old.mkv"
    result = runner.invoke(main, ["degrade", str(src), "-o", str(out), "--seed", "1", "-q"])
    assert result.exit_code == 0, result.output
    frames = decode_all(out)
    assert len(frames) == 20 and frames[0].shape == (64, 96, 3)
    import av

    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]


def _gray_photo(path, size=(80, 64), colour=False):
    rng = np.random.default_rng(1)
    picture = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
    if not colour:
        picture = np.repeat(picture.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    cv2.imwrite(str(path), picture)
    return path


def test_colorize_image_and_folder(tmp_path, tiny_colorizer):
    photo = _gray_photo(tmp_path / "photo.png")
    out = tmp_path / "photo-colour.png"
    result = CliRunner().invoke(main, ["colorize", str(photo), "-o", str(out), "--color-model", str(tiny_colorizer),
                                       "--render-size", "64"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)).shape == (64, 80, 3)
    folder = tmp_path / "photos"
    folder.mkdir()
    _gray_photo(folder / "a.png")
    _gray_photo(folder / "b.jpg", colour=True)
    result = CliRunner().invoke(main, ["colorize", str(folder), "-o", str(tmp_path / "coloured"), "--color-model",
                                       str(tiny_colorizer), "--render-size", "64", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "coloured").iterdir()) == ["a.png", "b.jpg"]
    assert "already had colour (b.jpg)" in result.output


@pytest.mark.slow
def test_colorize_film_with_references(tmp_path, video_factory, tiny_colorizer):
    src = video_factory(frames=6, size=(96, 64))
    reference = tmp_path / "ref.png"
    cv2.imwrite(str(reference), cv2.cvtColor(decode_all(src)[3], cv2.COLOR_RGB2BGR))
    out = tmp_path / "colour.mkv"
    result = CliRunner().invoke(main, ["colorize", str(src), "-o", str(out), "--color-model", str(tiny_colorizer),
                                       "--render-size", "64", "-q", "--reference", str(reference), str(reference)])
    assert result.exit_code == 0, result.output
    assert len(decode_all(out)) == 6
    assert "already has colour" in result.output  # the test pattern is coloured
    import av
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.color_primaries == 1  # colour made in BT.709 primaries


@pytest.mark.slow
def test_restore_colorize(tmp_path, video_factory, tiny_colorizer, tiny_models):
    src = video_factory(frames=4, size=(64, 48))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "2", "--model",
                                       str(tiny_models[2]), "--colorize", "--color-model", str(tiny_colorizer),
                                       "--render-size", "64", "-q"])
    assert result.exit_code == 0, result.output
    assert decode_all(out)[0].shape == (96, 128, 3)


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["--render-size", "8"], "--render-size must be between"),
    (["--saturation", "-1"], "--saturation must be between"),
    (["--reference", "missing.png"], "reference not found"),
    (["--color-model", "nope"], "no model named 'nope'"),
])
def test_colorize_bad_input(tmp_path, tiny_colorizer, args, message):
    photo = _gray_photo(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    flags = args if "--color-model" in args else ["--color-model", str(tiny_colorizer), *args]
    result = run_cli("colorize", photo, "-o", out, *flags)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_restore_reference_needs_colorize(tmp_path, video_factory):
    result = CliRunner().invoke(main, ["restore", str(video_factory(frames=2)), "-o", str(tmp_path / "o.mp4"),
                                       "--reference", "r.png"])
    assert result.exit_code == 1 and "add --colorize" in result.output


@pytest.mark.slow
def test_restore_film_preset_and_frame_rate(tmp_path, video_factory):
    src = video_factory(frames=12, size=(96, 64), fps=12)
    out = tmp_path / "film.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "1", "--preset", "film",
                                       "--fps", "24", "-q"])
    assert result.exit_code == 0, result.output
    import av
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [frame.time for frame in container.decode(stream)]
    assert len(times) == 24 and times == pytest.approx([i / 24 for i in range(24)], abs=1e-3)


def test_source_fps_retimes_a_silent_video(tmp_path, video_factory):
    out = tmp_path / "slow.mkv"
    result = CliRunner().invoke(main, ["restore", str(video_factory(frames=8, fps=24)), "-o", str(out), "--scale",
                                       "1", "--source-fps", "16", "-q"])
    assert result.exit_code == 0, result.output
    import av
    with av.open(str(out)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times == pytest.approx([i / 16 for i in range(8)], abs=1e-3)


@pytest.mark.parametrize("args,message", [
    (["--source-fps", "16"], "out of step"),
    (["--fps", "0"], "--fps must be between 1 and 240, got 0"),
    (["--deflicker", "2"], "--deflicker must be between 0 and 1, got 2"),
    (["--repair-model", "film-repair"], "add --repair"),
    (["--repair", "--repair-model", "nowhere.safetensors"], "no such file"),
    (["--repair", "--repair-model", ""], "no model was named"),
])
def test_film_options_bad_input(tmp_path, video_factory, args, message):
    src = video_factory(frames=4, audio="aac")
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "1", *args])
    assert result.exit_code != 0 and message in result.output and not out.exists()


def test_fps_needs_a_video_output(tmp_path, video_factory):
    result = CliRunner().invoke(main, ["restore", str(video_factory(frames=4)), "-o", str(tmp_path / "frames"),
                                       "--scale", "1", "--fps", "24"])
    assert result.exit_code == 1 and "--fps writes a video file" in result.output


@pytest.mark.slow
def test_preview_renders_the_middle_and_a_comparison(tmp_path, video_factory):
    src = video_factory(frames=24, size=(96, 64), fps=12)
    out = tmp_path / "preview.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "1", "--deflicker",
                                       "--preview", "0.5", "-q"])
    assert result.exit_code == 0, result.output
    assert len(decode_all(out)) == 6 and len(decode_all(tmp_path / "preview-compare.mp4")) == 6
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no leftovers


def test_drop_duplicates(tmp_path):
    from fractions import Fraction

    import av

    src = tmp_path / "doubled.mkv"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 120, 3), dtype=np.uint8)
    with av.open(str(src), "w") as container:
        stream = container.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "bgr0"
        for i, shift in enumerate([0, 4, 4, 8, 12, 12, 16, 20]):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, shift:shift + 64]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 12)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = tmp_path / "out.mkv"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "1", "--drop-duplicates",
                                       "-q"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        times = [round(frame.time * 12) for frame in container.decode(video=0)]
    assert times == [0, 1, 3, 4, 6, 7]


def test_batch_of_films_skips_finished_ones(tmp_path, video_factory):
    first = video_factory("reel1.mp4", frames=3)
    second = video_factory("reel2.mp4", frames=4)
    out = tmp_path / "restored"
    result = CliRunner().invoke(main, ["restore", str(first), str(second), "-o", str(out), "--scale", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["reel1.mp4", "reel2.mp4"]
    assert len(decode_all(out / "reel2.mp4")) == 4
    again = CliRunner().invoke(main, ["restore", str(tmp_path), "-o", str(out), "--scale", "1", "-q"])
    assert again.exit_code == 0 and again.output.count("is finished") == 2


def test_batch_reports_a_bad_film_and_goes_on(tmp_path, video_factory):
    good = video_factory("good.mp4", frames=3)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "restored"
    result = CliRunner().invoke(main, ["restore", str(bad), str(good), "-o", str(out), "--scale", "1", "-q"])
    assert result.exit_code == 1 and "1 of 2 films failed" in result.output
    assert (out / "good.mp4").exists() and not (out / "bad.mp4").exists()


@pytest.mark.slow
def test_models_import_ncnn_then_use_by_name(tmp_path, monkeypatch, video_factory):
    from .models.test_ncnn import shipped_ncnn_models

    param = shipped_ncnn_models() / "realesr-animevideov3-x4.param"
    monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path / "models"))
    runner = CliRunner()
    result = runner.invoke(main, ["models", "import", str(param)])
    assert result.exit_code == 0, result.output
    assert "RealESRGAN Compact x4" in result.output
    assert "use it with: --model realesr-animevideov3-x4\n" in result.output  # by name, as -n takes it
    listed = runner.invoke(main, ["models"])
    assert "realesr-animevideov3-x4.safetensors" in listed.output and "user model" in listed.output
    again = runner.invoke(main, ["models", "import", str(param)])
    assert again.exit_code == 1 and "exists" in again.output
    out = tmp_path / "out.mp4"
    used = runner.invoke(main, ["restore", str(video_factory(frames=2, size=(32, 24))), "-o", str(out), "--scale", "4",
                                "--model", "realesr-animevideov3-x4", "-q"])
    assert used.exit_code == 0, used.output
    assert decode_all(out)[0].shape == (96, 128, 3)


@pytest.mark.slow
def test_models_import_refuses_what_is_not_ncnn(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMIERE_MODELS", str(tmp_path / "models"))
    (tmp_path / "x.param").write_text("hello\n")
    result = run_cli("models", "import", tmp_path / "x.param")
    assert result.returncode == 1 and result.stderr.startswith("lumiere: error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "models" / "x.safetensors").exists()


@pytest.mark.slow
def test_upscale_chooses_the_network_for_the_input(tmp_path):
    """The command says which network it chose (which one is right is tested on real pictures in test_quality)."""
    clean = tmp_path / "clean.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(clean), cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (48, 40),
                                       interpolation=cv2.INTER_CUBIC))
    result = CliRunner().invoke(main, ["upscale", str(clean), "-o", str(tmp_path / "out.png"), "--scale", "2"])
    assert result.exit_code == 0, result.output
    assert re.search(r"lumiere: note: enlarged by (sr-x2 \(clean\)|film-x2 \(film-damaged\)): clean.png",
                     result.output)
    result = CliRunner().invoke(main, ["upscale", str(clean), "-o", str(tmp_path / "out.png"), "--scale", "2",
                                       "--look", "detailed", "--overwrite"])
    assert result.exit_code == 0 and "enlarged by" not in result.output


@pytest.mark.slow
def test_strength_is_for_lumieres_own_networks(tmp_path, tiny_models):
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.full((16, 16, 3), 128, np.uint8))
    result = run_cli("upscale", image, "-o", tmp_path / "out.png", "--model", tiny_models[2], "--strength", "0.5")
    assert result.returncode == 1 and not (tmp_path / "out.png").exists()
    assert result.stderr.strip().splitlines() == [
        "lumiere: error: --look, --strength and --quality choose among lumiere's own networks; --model names one"]


@pytest.mark.slow
def test_degrain_with_the_detailed_look(tmp_path, video_factory):
    """The film cleaner is its own network: the upscaler's look and quality options do not apply to it."""
    src = video_factory(frames=4)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(out), "--scale", "2", "--degrain",
                                       "--look", "detailed", "-q"])
    assert result.exit_code == 0, result.output
    assert decode_all(out)[0].shape[:2] == (96, 128)


@pytest.mark.slow
def test_finished_outputs_are_not_replaced_silently(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=2, size=(64, 48))
    model = str(tiny_models[2])
    first = run_cli("restore", src, "--scale", "2", "--model", model, "-q")  # no -o: beside the input
    out = src.with_name(f"{src.stem}-lumiere.mp4")
    assert first.returncode == 0, first.stderr
    assert f"wrote {out}" in first.stdout
    before = digest(out)
    again = run_cli("restore", src, "--scale", "2", "--model", model, "-q")
    assert again.returncode == 1 and again.stderr.strip().splitlines() == [
        f"lumiere: error: {out} exists; add --overwrite to replace it"]
    assert digest(out) == before
    replaced = run_cli("restore", src, "--scale", "3", "--model", model, "-q", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert decode_all(out)[0].shape == (144, 192, 3)


@pytest.mark.slow
def test_images_get_a_name_beside_the_input_and_are_not_replaced(tmp_path, tiny_models):
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((8, 10, 3), 90, np.uint8))
    args = ["upscale", tmp_path / "photo.jpg", "--scale", "2", "--model", tiny_models[2], "-q"]
    assert run_cli(*args).returncode == 0
    assert cv2.imread(str(tmp_path / "photo-lumiere.jpg")).shape == (16, 20, 3)
    again = run_cli(*args)
    assert again.returncode == 1
    assert again.stderr.strip() == f"lumiere: error: {tmp_path / 'photo-lumiere.jpg'} exists; add --overwrite to " \
                                   "replace it"
    assert run_cli(*args, "--overwrite").returncode == 0
    folder = tmp_path / "scans"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((8, 8, 3), 60, np.uint8))
    colour = ["colorize", folder, "-q"]
    assert run_cli(*colour).returncode == 0
    assert (tmp_path / "scans-lumiere" / "a.png").exists()
    again = run_cli(*colour)
    assert again.returncode == 1 and "1 of the images in" in again.stderr and "a.png" in again.stderr


@pytest.mark.slow
def test_one_line_says_what_the_job_will_do_before_it_starts(video_factory, tiny_models, tmp_path):
    src = video_factory("in.mp4", frames=6, size=(64, 48))
    result = run_cli("restore", src, "-o", tmp_path / "out.mp4", "--model", tiny_models[2], "--fp32")
    assert result.returncode == 0, result.stderr
    plan = next(line for line in result.stderr.splitlines() if line.startswith("lumiere: restore in.mp4:"))
    assert re.fullmatch(r"lumiere: restore in\.mp4: 6 frames 64x48 -> 128x96; upscale; tiny-x2 \(RealESRGAN Compact, "
                        r"cpu fp32\); about \d+ s to go \(timed on its first frames\)", plan), plan
    assert result.stderr.index("loading the networks") < result.stderr.index(plan)


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_how_to_start_over(tmp_path):
    import signal
    import time

    from .conftest import write_video

    src = write_video(tmp_path / "long.mp4", frames=80, size=(160, 120))
    args = ["restore", src, "-o", tmp_path / "out.mkv", "--scale", "1", "--codec", "ffv1", "--deflicker",
            "--chunk-frames", "4", "-q"]
    process = subprocess.Popen([sys.executable, "-m", "lumiere", *map(str, args)], stderr=subprocess.PIPE, text=True)
    manifest = tmp_path / ".out.mkv.lumiere" / "manifest.json"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if manifest.exists() and '"sha256"' in manifest.read_text():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert re.fullmatch(r"lumiere: interrupted; \d+ of 20 chunks are finished and kept in \S+\.out\.mkv\.lumiere: run "
                        r"the same command again to resume, or add --restart to start over\n", stderr), stderr
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert len(decode_all(tmp_path / "out.mkv")) == 80


@pytest.mark.slow
def test_a_1x_model_runs_and_a_larger_one_asks_for_its_scale(video_factory, tiny_models, tmp_path):
    src = video_factory(frames=2, size=(64, 48))
    for args in (["--scale", "1"], []):  # without a size, a model's own scale
        out = tmp_path / f"out{len(args)}.mkv"
        result = run_cli("restore", src, "-o", out, "--model", tiny_models[1], "--codec", "ffv1", "-q", *args)
        assert result.returncode == 0, result.stderr
        restored, original = decode_all(out)[0], decode_all(src)[0]
        assert restored.shape == original.shape
        assert np.abs(restored.astype(int) - original).mean() > 5  # the random network changed the picture
    refused = run_cli("restore", src, "-o", tmp_path / "x4.mp4", "--model", tiny_models[4], "--scale", "1", "-q")
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"lumiere: error: model {tiny_models[4]} enlarges x4, and this asks for no " \
                                     "enlargement; give --scale 4 (or leave it out), or a 1x model"


@pytest.mark.slow
def test_familiar_spellings(tmp_path, tiny_models):
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((8, 10, 3), 90, np.uint8))
    result = run_cli("upscale", "-i", tmp_path / "photo.png", "-o", tmp_path / "big.png", "-s", "2",
                     "-n", tiny_models[4], "--fp32", "-q")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "big.png")).shape == (16, 20, 3)
    clash = run_cli("upscale", "-i", tmp_path / "photo.png", "--fp32", "--precision", "bf16")
    assert clash.returncode == 1 and "--fp32 and --precision bf16 contradict" in clash.stderr
    assert "give an input: IN, or -i IN" in run_cli("restore").stderr


@pytest.mark.slow
def test_an_unknown_value_names_the_option_it_belongs_to(video_factory):
    result = run_cli("restore", video_factory(frames=1), "--preset", "slow")
    assert result.returncode == 1
    assert "'slow' is not one of film; did you mean `--encoder-preset slow`?" in result.stderr


@pytest.mark.slow
def test_a_job_has_one_bar_named_for_it_that_reaches_its_end_once(video_factory, tiny_colorizer, tiny_models,
                                                                   tmp_path):
    src = video_factory(frames=8, size=(64, 48))
    colour = run_cli("colorize", src, "-o", tmp_path / "colour.mp4", "--color-model", tiny_colorizer, "--skin", "0")
    assert colour.returncode == 0, colour.stderr
    assert "colorize: 100%" in colour.stderr and "restore:" not in colour.stderr
    # a preview at 3x the frame rate: in-between frames, then the before | after video, on the one bar
    preview = run_cli("restore", src, "-o", tmp_path / "preview.mp4", "--model", tiny_models[2], "--preview", "0.5",
                      "--fps", "36")
    assert preview.returncode == 0, preview.stderr
    bars = [line for line in re.split(r"[\r\n]+", preview.stderr) if "%|" in line]
    assert {line.split(":")[0] for line in bars} == {"restore preview"}, bars
    levels = [int(re.search(r"(\d+)%\|", line).group(1)) for line in bars]
    assert levels == sorted(levels) and levels[-1] == 100, levels
    first_full = levels.index(100)
    assert all("100%" in line for line in bars[first_full:]) and len(bars) - first_full <= 2, bars


@pytest.mark.slow
def test_each_command_says_its_default_scale():
    assert "enlarged x2" in " ".join(run_cli("restore", "--help").stdout.split())
    assert "enlarged x4" in " ".join(run_cli("upscale", "--help").stdout.split())


@pytest.mark.slow
def test_demo_restores_a_film_and_writes_its_comparisons_each_time(tmp_path):
    """The README's first command, on a small film (the real one takes minutes)."""
    from .conftest import write_video

    film = write_video(tmp_path / "old.mp4", frames=6, size=(64, 48))
    result = run_cli("demo", "--input", str(film), "-o", str(tmp_path / "out"), "--scale", "2")
    assert result.returncode == 0, result.stderr
    restored = tmp_path / "out" / "old-x2.mp4"
    frames = decode_all(restored)
    assert len(frames) == 6 and frames[0].shape == (96, 128, 3)
    assert (tmp_path / "out" / "before-after.mp4").is_file() and (tmp_path / "out" / "before-after.png").is_file()
    again = run_cli("demo", "--input", str(film), "-o", str(tmp_path / "out"), "--scale", "2")
    assert again.returncode == 0, again.stderr  # the demo's folder is its own: a second run replaces it


def test_output_into_folders_not_made_yet(tmp_path, video_factory, tiny_models, tiny_colorizer):
    photo = _gray_photo(tmp_path / "photo.png")
    video = video_factory(frames=3, size=(64, 48))
    made = tmp_path / "made"
    model = ["--model", str(tiny_models[2])]
    commands = {
        "restore": ["restore", video, "--scale", "2", *model, "-q", "-o", made / "restore" / "deeper" / "film.mp4"],
        "upscale": ["upscale", photo, "--scale", "2", *model, "-q", "-o", made / "upscale" / "deeper" / "x.png"],
        "colorize": ["colorize", photo, "--color-model", tiny_colorizer, "--render-size", "64", "-q",
                     "-o", made / "colorize" / "deeper" / "x.png"],
        "degrade": ["degrade", photo, "-q", "-o", made / "degrade" / "deeper" / "x.png"],
        "compare": ["compare", photo, photo, "-q", "-o", made / "compare" / "deeper" / "x.png"],
    }
    for name, args in commands.items():
        result = CliRunner().invoke(main, list(map(str, args)))
        assert result.exit_code == 0, (name, result.output)
        assert Path(args[-1]).is_file(), name
    failing = {
        "restore": ["restore", video, "--model", "nope", "-q", "-o", tmp_path / "not" / "made" / "film.mp4"],
        "upscale": ["upscale", photo, "--model", "nope", "-q", "-o", tmp_path / "not" / "made" / "x.png"],
        "colorize": ["colorize", photo, "--color-model", "nope", "-q", "-o", tmp_path / "not" / "made" / "x.png"],
        "degrade": ["degrade", tmp_path / "missing.png", "-q", "-o", tmp_path / "not" / "made" / "x.png"],
        "compare": ["compare", photo, video, "-q", "-o", tmp_path / "not" / "made" / "x.mp4"],
    }
    for name, args in failing.items():
        result = CliRunner().invoke(main, list(map(str, args)))
        assert result.exit_code == 1 and result.stderr.startswith("lumiere: error:"), (name, result.output)
        assert not (tmp_path / "not").exists(), f"{name} left the folders it made behind"
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way")
    result = CliRunner().invoke(main, ["upscale", str(photo), "-o", str(blocked / "x.png"), "--scale", "2", *model])
    assert result.exit_code == 1 and f"{blocked} is a file, not a folder" in result.stderr


@pytest.mark.slow
def test_upscale_and_colorize_a_photo_in_one_command(tmp_path, tiny_models, tiny_colorizer):
    import lumiere

    photo = _gray_photo(tmp_path / "photo.png")
    colour = ["--color-model", str(tiny_colorizer), "--render-size", "64", "--saturation", "1.5"]
    result = CliRunner().invoke(main, ["upscale", str(photo), "--scale", "2", "--model", str(tiny_models[2]),
                                       "--colorize", *colour, "-q"])
    assert result.exit_code == 0, result.output
    enlarged = lumiere.upscale(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), scale=2,
                               model=str(tiny_models[2]), quiet=True)
    expected = lumiere.colorize(enlarged, color_model=str(tiny_colorizer), render_size=64, saturation=1.5, quiet=True)
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "photo-lumiere.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(written, expected)  # enlarged first, then coloured
    folder = tmp_path / "photos"
    folder.mkdir()
    photo.rename(folder / "photo.png")
    result = CliRunner().invoke(main, ["upscale", str(folder), "--scale", "2", "--model", str(tiny_models[2]),
                                       "--colorize", *colour, "--reference", str(folder / "photo.png"), "-q"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "photos-lumiere" / "photo.png")).shape == (128, 160, 3)
    film_command = run_cli("restore", folder / "photo.png")
    assert film_command.returncode == 1 and "use `lumiere upscale` for stills (with --colorize" in film_command.stderr


def test_exception_upscale_colour_options_need_colorize(tmp_path):
    photo = _gray_photo(tmp_path / "photo.png")
    result = CliRunner().invoke(main, ["upscale", str(photo), "--reference", str(photo), "-q"])
    assert result.exit_code == 1 and result.stderr.strip() == \
        "lumiere: error: --reference guides colorization: add --colorize"
    assert not (tmp_path / "photo-lumiere.png").exists()


def test_stills_are_refused_before_any_network_is_loaded(tmp_path, tiny_models, tiny_colorizer, monkeypatch,
                                                        video_factory):
    import time

    from lumiere.engine.runner import Runners

    def no_network(*args, **kwargs):
        raise AssertionError("a network was loaded before the checks")

    photo = _gray_photo(tmp_path / "photo.png")
    (tmp_path / "taken.png").write_bytes(photo.read_bytes())
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(photo.read_bytes())
    (tmp_path / "photos-lumiere").mkdir()
    (tmp_path / "photos-lumiere" / "a.png").write_bytes(photo.read_bytes())
    monkeypatch.setattr(Runners, "get", no_network)
    cases = {
        "upscale onto a finished image": (["upscale", photo, "-o", tmp_path / "taken.png", "--colorize"], "exists"),
        "colorize onto a finished image": (["colorize", photo, "-o", tmp_path / "taken.png"], "exists"),
        "a finished folder": (["upscale", folder, "--model", tiny_models[2]], "1 of the images in"),
        "output is the input": (["upscale", photo, "-o", photo], "the output is the input"),
        "a video to upscale": (["upscale", video_factory("film.mp4", frames=2), "--colorize"],
                               "not an image (.png, .tif, .tiff, .jpg, .jpeg, .bmp, .webp); use `lumiere restore`"),
        "output under a file": (["colorize", folder, "-o", photo / "out"], "is a file, not a folder"),
    }
    for name, (args, message) in cases.items():
        started = time.perf_counter()
        result = CliRunner().invoke(main, list(map(str, args)))
        assert result.exit_code == 1 and message in result.stderr, (name, result.output)
        assert time.perf_counter() - started < 1.0, name


def test_exception_a_bad_colour_option_stops_a_folder_at_once(tmp_path, tiny_colorizer):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        _gray_photo(folder / name)
    refusals = {("--saturation", "9"): "--saturation must be between 0 and 4, got 9",
                ("--reference", str(tmp_path / "missing.png")): f"reference not found: {tmp_path / 'missing.png'}"}
    for command in (["colorize"], ["upscale", "--scale", "1", "--colorize"]):
        for option, message in refusals.items():
            result = CliRunner().invoke(main, [*command, str(folder), "--color-model", str(tiny_colorizer),
                                               *option, "-q"])
            lines = result.stderr.strip().splitlines()
            assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith(f"lumiere: error: {message}"), \
                result.output
            assert sorted(path.name for path in tmp_path.iterdir()) == ["photos"]


@pytest.mark.slow
def test_exception_a_held_output_is_refused_before_any_network_loads(video_factory, tiny_models, tmp_path):
    from lumiere.workfolder import WorkFolder

    src, out = video_factory("in.mp4", frames=4), tmp_path / "out.mp4"
    lock = WorkFolder(out)
    try:
        result = run_cli("restore", src, "-o", out, "--model", tiny_models[2])
    finally:
        lock.release()
    assert result.returncode == 1 and "already writing this output" in result.stderr, result.stderr
    assert "loading the networks" not in result.stderr and not out.exists()
    assert not (tmp_path / ".out.mp4.lumiere").exists()  # the lock's folder is gone with the lock


@pytest.mark.slow
def test_the_plan_line_says_what_is_made_up_and_what_is_re_timed(video_factory, tiny_models, tmp_path):
    src = video_factory("in.mp4", frames=6, fps=18)
    result = run_cli("restore", src, "-o", tmp_path / "fps.mp4", "--model", tiny_models[2], "--scale", "4",
                     "--fps", "60", "--fp32")
    assert result.returncode == 0, result.stderr
    plan = next(line for line in result.stderr.splitlines() if line.startswith("lumiere: restore in.mp4:"))
    assert "at 60 fps (70% of the frames made up between the film's own); shots, upscale, interpolate;" in plan, plan
    result = run_cli("restore", src, "-o", tmp_path / "slow.mp4", "--scale", "1", "--source-fps", "16")
    assert result.returncode == 0, result.stderr
    assert "re-timed to play at 16 fps; no network" in result.stderr
    import av
    with av.open(str(tmp_path / "slow.mp4")) as container:
        assert container.streams.video[0].average_rate == 16


@pytest.mark.slow
def test_exception_ivtc_on_a_film_without_pulldown(video_factory, tmp_path):
    src = video_factory("in.mp4", frames=6, fps=18)
    result = run_cli("restore", src, "-o", tmp_path / "out.mp4", "--scale", "1", "--deinterlace", "ivtc")
    assert result.returncode == 1 and "plays at 18 fps, so there is no pulldown to undo" in result.stderr
    assert result.stderr.count("error") == 1 and result.stderr.strip().splitlines()[-1].startswith("lumiere: error:")
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / ".out.mp4.lumiere").exists()
