"""A job's one progress bar, and its time to go.

A job is its film's frames through the stages, and perhaps a pass after them (a preview's before | after
comparison). The bar counts in the job's work, each part weighted by what it was measured to cost, so that it
reaches 100% once, at the end, and the time to go it shows holds for all of it. Frames are counted as the film's
frames: an interpolated frame keeps the index of the film frame it follows, a dropped duplicate leaves a gap,
so neither makes the count run past the film's length.
"""

from tqdm import tqdm

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"


class Progress:
    """One bar of `total` units of work, `done` of them finished before this run (a resumed job)."""

    def __init__(self, label: str, total: float, done: float = 0.0, show: bool = True):
        self.total = max(total, 1e-9)
        self.done = done
        self.bar = tqdm(total=self.total, initial=done, desc=label, disable=not show, dynamic_ncols=True,
                        smoothing=0.1, bar_format=BAR_FORMAT)

    def advance(self, units: float) -> None:
        """More work done; a part that takes more steps than foreseen (a comparison one frame longer) stops at the
        end instead of running past it."""
        self.reach(self.done + max(0.0, min(units, self.total - self.done)))

    def reach(self, done: float) -> None:
        """The work done so far, as a whole (a cluster reports its total)."""
        self.bar.update(done - self.done)
        self.done = done

    def complete(self) -> None:
        self.reach(self.total)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FilmFrames:
    """The film's frames that a run's output frames, in order, have got through, from frame `first` on."""

    def __init__(self, first: int):
        self.next = first

    def passed(self, index: int) -> int:
        """How many more film frames an output frame of film frame `index` completes."""
        count = max(0, index + 1 - self.next)
        self.next += count
        return count
