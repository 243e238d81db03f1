"""benchmarks/gpu.py, the script a lent GPU runs first, as a dry run on the CPU: every part runs and writes its
figures (the figures themselves mean nothing on tiny sizes)."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lumiere.models.shipped import SHIPPED

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


@pytest.mark.slow
def test_dry_run_on_the_cpu_covers_every_part(tmp_path, monkeypatch):
    output = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick",
                             "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(output.read_text())
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as the script runs: beside its `common`
    kind = importlib.import_module("gpu").network_kind  # as the script groups them: architecture, role, scale
    # every kind of shipped network once; the RRDB-size one is left to real runs
    assert {kind(row["network"]) for row in figures["inference"]} == {kind(model.name) for model in SHIPPED
                                                                      if model.name != "film-x4-high"}
    assert all(row["frames_per_s"] > 0 for row in figures["inference"])
    assert figures["skipped_over_budget"] == []
    assert [row["compile"] for row in figures["compiled"]] == ["eager"] and figures["compiled"][0]["frames_per_s"] > 0
    if (DATA / "film" / "street-scene.mp4").exists():
        assert figures["end_to_end"]["h264"]["restore_frames_per_s"] > 0 and figures["end_to_end"]["h264"]["ratio"] > 0
    if (DATA / "train" / "t91").exists():
        assert figures["training"]["samples_per_s"] > 0
