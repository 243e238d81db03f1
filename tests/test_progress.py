"""The job's one bar: it counts the film's frames whatever the stages make of them, and reaches its end once."""

from fractions import Fraction

import numpy as np
import pytest

from lumiere.io.reader import Frame
from lumiere.progress import FilmFrames, Progress
from lumiere.render import Discard, RenderSettings, render_chunks
from lumiere.stages.duplicates import DropDuplicatesStage
from lumiere.stages.interpolate import InterpolateStage


class _Film:
    """A source of `count` frames at 18 fps, every third a repeat of the one before."""

    def __init__(self, count: int):
        self.count = count

    def frames(self, start: int = 0):
        for index in range(start, self.count):
            shade = 20 * (index - (index % 3 == 2)) % 256
            yield Frame(index, index, np.full((32, 48, 3), shade, np.uint8), 1)


def test_smoke():
    with Progress("job", 10, show=False) as progress:
        progress.advance(4)
        assert progress.done == 4


@pytest.mark.parametrize("indices,expected", [
    ([5, 5, 5, 6, 6, 7], [1, 0, 0, 1, 0, 1]),  # in-between frames keep the index of the frame they follow
    ([5, 8, 9], [1, 3, 1]),  # dropped duplicates leave gaps, counted when the frame after them comes
])
def test_cardinality_film_frames(indices, expected):
    counted = FilmFrames(5)
    assert [counted.passed(index) for index in indices] == expected


def test_advance_never_runs_past_the_end_and_complete_reaches_it():
    progress = Progress("job", 10, show=False)
    progress.advance(7)
    progress.advance(5)
    assert progress.done == pytest.approx(10)
    progress = Progress("job", 10, show=False)
    progress.advance(3)
    progress.complete()
    assert progress.done == pytest.approx(10)


@pytest.mark.parametrize("stages", ["interpolate", "drop duplicates"])
def test_a_run_counts_the_film_frames_it_covers(stages):
    """However many frames the stages make or drop, a run of film frames [first, end) reports end - first."""
    film = _Film(30)
    made = {"interpolate": [InterpolateStage(Fraction(60), Fraction(1, 18))],
            "drop duplicates": [DropDuplicatesStage()]}[stages]
    context, lookahead = sum(s.context_frames for s in made), sum(s.lookahead for s in made)
    render = RenderSettings(chunk_frames=10, frame_count=30, context=context, lookahead=lookahead)
    heard: list[int] = []
    render_chunks(made, film, (10, 20), Discard(), render, film_frames_done=heard.append)
    assert sum(heard) == 10 and all(count >= 0 for count in heard)
