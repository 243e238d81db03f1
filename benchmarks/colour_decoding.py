"""How the colour stage decodes a colorizer's distribution, chosen per network on the tuning set.

The stage makes each colour bolder where the network is sure and calmer where it guesses (`calm`, `bold`,
`stages/colorize.colour_gain`); how sure a network is differs from network to network, so a new colorizer gets
its own. This scores a grid of (calm, bold) on the tuning set of `colorize_sets.py` (centre crops of the first 60
photos of bsds500/test), never on Kodak or the held-out fifth, which report the choice.

    .venv/bin/python benchmarks/colour_decoding.py --model FILE [--calm 0.4 0.6 0.8] [--bold 1.5 2.2 3.3]
"""

import argparse
import itertools

from colorize_sets import photos, score

from common import print_table, save
from lumiere.engine.runner import Runners, RunnerSettings
from lumiere.eval.metrics import colourfulness
from lumiere.stages.colorize import ColorizeSettings, ColorizeStage, colorizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=ColorizeSettings().model)
    parser.add_argument("--calm", type=float, nargs="+", default=[0.4, 0.6, 0.8])
    parser.add_argument("--bold", type=float, nargs="+", default=[1.5, 2.2, 3.3])
    args = parser.parse_args()
    pictures = photos("tuning")
    truth = sum(colourfulness(p).item() for p in pictures) / len(pictures)
    runners = Runners(RunnerSettings("cpu"))
    rows = []
    for calm, bold in itertools.product(args.calm, args.bold):
        settings = ColorizeSettings(model=args.model, calm=calm, bold=bold)
        stage = ColorizeStage(colorizer(settings, runners), temporal=False)
        row = {"calm": calm, "bold": bold, **score(stage, pictures)}
        rows.append({**row, "colourfulness_share": round(row["colourfulness"] / truth, 2)})
        print_table(rows[-1:], list(rows[-1]))
    print_table(rows, ["calm", "bold", "ciede2000", "colourfulness", "colourfulness_share", "blotch_share"])
    save("colour_decoding", {"model": args.model, "set": "tuning", "truth_colourfulness": round(truth, 1),
                             "rows": rows})


if __name__ == "__main__":
    main()
