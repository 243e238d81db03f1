import ctypes.util
import sys

import pytest

from lumiere._malloc import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                    reason="glibc's mallopt is Linux-only")
def test_smoke():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # twice is harmless (the CLI and an embedding program may both ask)


def test_public_for_programs_that_run_films():
    import lumiere

    assert lumiere.keep_freed_memory is keep_freed_memory and "keep_freed_memory" in lumiere.__all__
