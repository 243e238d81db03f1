"""The time to go a job announces, against the time it then takes.

Each job runs as a user runs it (`python -m lumiere ...`, a fresh process); the announcement is the line that
says "about ... to go", and the time it takes is from that line to the process's end (the join, a comparison
and the process's exit included). Jobs: the demo (street-scene x4, with its before | after video), a full
film to 4K with colour at 60 fps, and a 2-second preview of the same.

    .venv/bin/python benchmarks/time_to_go.py [--only NAME]
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, RESULTS, ROOT, print_table, require, save

FILM = DATA / "film" / "street-scene.mp4"
ANNOUNCED = re.compile(r"about (?:(\d+) h )?(?:(\d+) min ?)?(?:(\d+) s)? to go")


def jobs(folder: Path) -> dict[str, list[str]]:
    film = str(require(FILM))
    return {
        "demo": ["demo", "-o", str(folder / "demo")],
        "4k 60fps colour": ["restore", film, "-o", str(folder / "4k.mp4"), "--to", "4k", "--fps", "60", "--colorize"],
        "4k 60fps colour, preview 2 s": ["restore", film, "-o", str(folder / "preview.mp4"), "--to", "4k", "--fps",
                                         "60", "--colorize", "--preview", "2"],
    }


def announced_seconds(line: str) -> int | None:
    found = ANNOUNCED.search(line)
    if found is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return 3600 * hours + 60 * minutes + seconds


def run(command: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "lumiere", *command], stderr=subprocess.PIPE, text=True,
                               bufsize=1, cwd=ROOT)  # where the README's demo runs, beside ../shared
    said_at, announced = None, None
    for line in process.stderr:  # the bar redraws with \r: its text never holds a whole "to go" line
        seconds = announced_seconds(line)
        if seconds is not None and said_at is None:
            said_at, announced = time.perf_counter(), seconds
    if process.wait() != 0:
        raise SystemExit(f"{command} failed")
    ended = time.perf_counter()
    took = ended - said_at
    return {"announced s": announced, "took s": round(took, 1), "off by": f"{announced / took - 1:+.0%}",
            "before the announcement s": round(said_at - started, 1), "wall s": round(ended - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=None, help="run the jobs whose name holds this text")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lumiere-time-to-go-") as folder:
        for name, command in jobs(Path(folder)).items():
            if args.only is not None and args.only not in name:
                continue
            rows.append({"job": name, **run(command)})
            print(rows[-1], flush=True)
    columns = ["job", "announced s", "took s", "off by", "before the announcement s", "wall s"]
    print_table(rows, columns)
    earlier = RESULTS / "time_to_go.json"  # a run of some jobs (--only) keeps the others' rows
    kept = json.loads(earlier.read_text())["jobs"] if earlier.is_file() else []
    ran = {row["job"] for row in rows}
    save("time_to_go", {"jobs": [row for row in kept if row["job"] not in ran] + rows})


if __name__ == "__main__":
    main()
