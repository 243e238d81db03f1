"""The Python API: its docstring examples run as written, and it says what it got when given the wrong thing."""

import doctest
import re

import cv2
import numpy as np
import pytest

import lumiere
from lumiere import api
from lumiere.errors import LumiereError, OptionError, OutputError

from .conftest import decode_all, write_video


@pytest.mark.slow
def test_docstring_examples_run(tmp_path, monkeypatch):
    write_video(tmp_path / "film.mp4", frames=6, size=(64, 48))
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((24, 32, 3), 120, np.uint8))
    monkeypatch.chdir(tmp_path)
    failures, tried = doctest.testmod(api, extraglobs={"lumiere": lumiere}, optionflags=doctest.ELLIPSIS)
    assert tried >= 8 and failures == 0
    assert len(decode_all(tmp_path / "film-x2.mp4")) == 6


def test_smoke(tiny_models):
    picture = np.zeros((10, 12, 4), np.uint16)
    out = lumiere.upscale(picture, model=str(tiny_models[2]), quiet=True)
    assert out.shape == (20, 24, 4) and out.dtype == np.uint16


@pytest.mark.parametrize("picture", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 2), np.uint8), [1, 2]])
def test_exception(picture):
    with pytest.raises(OptionError, match="expected a picture as an"):
        lumiere.upscale(picture, quiet=True)


def test_unknown_option_names_the_known_ones(tmp_path):
    with pytest.raises(OptionError, match="unknown option 'sharpen'; the options are .*deflicker"):
        lumiere.restore(tmp_path / "film.mp4", sharpen=1)


def test_cardinality(tmp_path, tiny_models):
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((6, 8, 3), 90, np.uint8))
    (folder / "c.png").write_bytes(b"not a picture")
    heard = []
    with pytest.raises(LumiereError, match="1 of 3 images failed and were skipped"):
        lumiere.upscale(folder, scale=2, model=str(tiny_models[2]), quiet=True, report=heard.append)
    assert sorted(p.name for p in (tmp_path / "scans-lumiere").iterdir()) == ["a.png", "b.png"]
    assert any(line.startswith("error: ") and "c.png" in line for line in heard)


@pytest.mark.slow
def test_the_command_line_and_the_api_give_the_same_film(video_factory, tiny_models, tmp_path):
    from click.testing import CliRunner

    from lumiere.cli import main

    src = video_factory(frames=3, size=(32, 24))
    by_api = lumiere.restore(src, tmp_path / "api.mkv", scale=2, model=str(tiny_models[2]),
                             encode=lumiere.EncodeRequest("ffv1"), deflicker=1.0, quiet=True)
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(tmp_path / "cli.mkv"), "--scale", "2",
                                       "--model", str(tiny_models[2]), "--codec", "ffv1", "--deflicker", "-q"])
    assert result.exit_code == 0, result.output
    for mine, theirs in zip(decode_all(by_api), decode_all(tmp_path / "cli.mkv"), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("shape", [(10, 0, 3), (0, 10, 3), (0, 0, 3), (0, 0)])
def test_exception_empty_picture(shape):
    picture = np.zeros(shape, np.uint8)
    for job in (lumiere.upscale, lumiere.colorize):
        with pytest.raises(OptionError, match=rf"an empty picture: shape {re.escape(str(shape))}"):
            job(picture, quiet=True)


@pytest.mark.slow
def test_quiet_prints_nothing_and_a_report_of_ones_own_still_hears_the_notes(tmp_path, capfd):
    picture = np.full((32, 32, 3), 120, np.uint8)
    lumiere.upscale(picture, scale=2, quiet=True)
    assert capfd.readouterr().err == ""
    heard = []
    lumiere.upscale(picture, scale=2, quiet=True, report=heard.append)
    assert any(line.startswith("note: enlarged by") for line in heard)
    assert capfd.readouterr().err == ""


def _scans(folder, count=5):
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    return folder


@pytest.fixture
def rendered(monkeypatch):
    """The names of the images rendered, in order; `rendered.stop_after` interrupts the run after that many."""
    from lumiere.stills import StillWork

    class Rendered(list):
        stop_after = None

    names = Rendered()
    render = StillWork.__call__

    def counting(self, name, image):
        if names.stop_after is not None and len(names) == names.stop_after:
            raise KeyboardInterrupt
        names.append(name)
        return render(self, name, image)

    monkeypatch.setattr(StillWork, "__call__", counting)
    return names


def test_an_interrupted_folder_goes_on_where_it_stopped(tmp_path, tiny_models, rendered):
    from lumiere.output import work_folder

    scans, out = _scans(tmp_path / "scans"), tmp_path / "out"
    job = {"scale": 2, "model": str(tiny_models[2]), "output": out, "quiet": True}
    whole = lumiere.upscale(scans, **{**job, "output": tmp_path / "whole"})
    rendered.clear()
    rendered.stop_after = 3
    with pytest.raises(KeyboardInterrupt):
        lumiere.upscale(scans, **job)
    assert not out.exists(), "images are placed only once all are done"
    with pytest.raises(OutputError, match="unfinished job with other settings"):
        lumiere.upscale(scans, **{**job, "scale": 3})
    rendered.clear()
    rendered.stop_after = None
    heard = []
    lumiere.upscale(scans, **job, report=heard.append)
    assert rendered == ["3.png", "4.png"], "each image is rendered once"
    assert "note: 3 of 5 images were finished by an earlier run of this job" in heard
    for name in map(str, range(5)):
        assert (out / f"{name}.png").read_bytes() == (whole / f"{name}.png").read_bytes()
    assert not work_folder(out).exists()
    with pytest.raises(OutputError, match="5 of the images in .* exist"):
        lumiere.upscale(scans, **job)


def test_an_interrupted_folder_says_what_is_kept_and_how_to_go_on(tmp_path, tiny_models, rendered):
    from click.testing import CliRunner

    from lumiere.cli import main

    scans, out = _scans(tmp_path / "scans"), tmp_path / "out"
    rendered.stop_after = 2
    result = CliRunner().invoke(main, ["upscale", str(scans), "-o", str(out), "--scale", "2", "--model",
                                       str(tiny_models[2]), "-q"])
    assert result.exit_code == 130, result.output
    kept = tmp_path / ".out.lumiere"
    assert result.output.strip() == (f"lumiere: interrupted; 2 finished image(s) are kept in {kept}: run the same "
                                     "command again to go on")


def test_an_interrupted_overwrite_leaves_the_old_images_until_the_new_ones_are_done(tmp_path, tiny_models,
                                                                                   rendered):
    scans, out = _scans(tmp_path / "scans"), tmp_path / "out"
    job = {"model": str(tiny_models[2]), "output": out, "quiet": True}
    lumiere.upscale(scans, scale=2, **job)
    old = {path.name: path.read_bytes() for path in out.iterdir()}
    rendered.clear()
    rendered.stop_after = 2
    with pytest.raises(KeyboardInterrupt):
        lumiere.upscale(scans, scale=3, overwrite=True, **job)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == old
    rendered.clear()
    rendered.stop_after = None
    lumiere.upscale(scans, scale=3, overwrite=True, **job)
    assert rendered == ["2.png", "3.png", "4.png"]
    assert {cv2.imread(str(path)).shape for path in out.iterdir()} == {(18, 24, 3)}


def test_a_folder_that_failed_midway_does_the_rest_when_run_again(tmp_path, tiny_models, rendered, monkeypatch):
    from lumiere import stills

    scans, out = _scans(tmp_path / "scans"), tmp_path / "out"
    job = {"scale": 2, "model": str(tiny_models[2]), "output": out, "quiet": True}
    write = stills.write_image

    def disk_full_after_two(path, image):
        if len(rendered) > 2:
            raise OutputError(f"cannot write {path}: No space left on device")
        write(path, image)

    monkeypatch.setattr(stills, "write_image", disk_full_after_two)
    with pytest.raises(LumiereError, match=r"3 of 5 images failed and were skipped \(2.png, 3.png, 4.png\)"):
        lumiere.upscale(scans, **job)
    assert sorted(path.name for path in out.iterdir()) == ["0.png", "1.png"]
    monkeypatch.setattr(stills, "write_image", write)
    rendered.clear()
    lumiere.upscale(scans, **job)
    assert rendered == ["2.png", "3.png", "4.png"]
    assert sorted(path.name for path in out.iterdir()) == [f"{i}.png" for i in range(5)]


def test_a_folder_whose_every_image_fails_leaves_nothing_behind(tmp_path, tiny_models):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a.png").write_bytes(b"not a picture")
    with pytest.raises(LumiereError, match="1 of 1 images failed"):
        lumiere.upscale(scans, scale=2, model=str(tiny_models[2]), output=tmp_path / "new" / "out", quiet=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["scans"]


@pytest.mark.parametrize("record", [b"{not json", b'{"done": {}}', b'{"settings": "x", "done": []}'])
def test_exception_a_damaged_folder_record_is_refused_and_overwrite_starts_over(tmp_path, tiny_models, record):
    from lumiere.output import work_folder

    scans, out = _scans(tmp_path / "scans", 2), tmp_path / "out"
    work_folder(out).mkdir()
    (work_folder(out) / "images.json").write_bytes(record)
    job = {"scale": 2, "model": str(tiny_models[2]), "output": out, "quiet": True}
    with pytest.raises(OutputError, match="holds an unfinished job with other settings"):
        lumiere.upscale(scans, **job)
    lumiere.upscale(scans, **job, overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == ["0.png", "1.png"] and not work_folder(out).exists()


def test_exception_a_folder_another_run_is_writing_is_refused(tmp_path, tiny_models):
    from lumiere.output import work_folder
    from lumiere.workfolder import WorkFolder

    scans, out = _scans(tmp_path / "scans", 2), tmp_path / "out"
    held = WorkFolder(out)
    try:
        with pytest.raises(OutputError, match="is already writing this output"):
            lumiere.upscale(scans, scale=2, model=str(tiny_models[2]), output=out, quiet=True)
    finally:
        held.release()
    assert not out.exists() and not work_folder(out).exists()
    lumiere.upscale(scans, scale=2, model=str(tiny_models[2]), output=out, quiet=True)
    assert sorted(path.name for path in out.iterdir()) == ["0.png", "1.png"] and not work_folder(out).exists()
