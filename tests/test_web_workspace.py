"""The web app's workspace and jobs without a browser: what the page may read, where it writes, resuming."""

import cv2
import numpy as np
import pytest

from lumiere.errors import InputError
from lumiere.web import WebJob, Workspace, preview, run

from .conftest import write_video


def test_paths_outside_the_servers_folders_are_refused(tmp_path):
    (tmp_path / "films").mkdir()
    workspace = Workspace([tmp_path / "films"])
    with pytest.raises(InputError, match="outside the folders this server was started with"):
        workspace.check(tmp_path)
    with pytest.raises(InputError, match="outside the folders"):
        workspace.check(tmp_path / "films" / ".." / "elsewhere.mp4")
    assert (tmp_path / "films" / "lumiere-web" / "results").is_dir()


def test_a_folder_of_pictures_previews_its_first_and_runs_them_all(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.full((12, 16, 3), 100, np.uint8))
    workspace = Workspace([tmp_path])
    before, after = preview(WebJob(str(folder), size="x2"), workspace)
    assert before.shape == after.shape == (24, 32, 3)
    result = run(WebJob(str(folder), size="x2"), workspace)
    assert sorted(p.name for p in result.iterdir()) == ["a.png", "b.png"]


def test_the_same_film_job_names_the_same_result(tmp_path):
    film = write_video(tmp_path / "reel.mp4", frames=2, size=(32, 24))
    workspace = Workspace([tmp_path])
    job = WebJob(str(film), size="x2")
    assert workspace.result(job) == workspace.result(WebJob(str(film), size="x2")) != \
        workspace.result(WebJob(str(film), size="x4"))
    written = run(job, workspace)
    assert written.is_file() and not list(written.parent.glob("*.job.json"))  # finished: nothing to resume
    assert workspace.unfinished() == {}
