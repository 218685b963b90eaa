"""Durability of training: kill `ferkit train` many times — inside its saves and at random moments — and check
that the run still ends exactly as an uninterrupted one.

Each campaign trains a small spec-architecture network (configs/lenet.yaml, 48×48, 4 filters) on generated faces
for EPOCHS epochs, kills it KILLS times (two in three right before or after a random file rename, the rest after a
random delay; the kills stop once a run gets to finish), checks the run folder after every kill (models load,
history has no repeated epoch), lets it finish, and compares it with an uninterrupted run: history.csv byte for
byte, final weights bit for bit, and no temporary or resume file left behind.

    .venv/bin/python bench/durability.py [--campaigns 3] [--kills 12] [--epochs 6] [--seed 0]

Prints one line per campaign and a total; exits 1 when any campaign differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import TESTS, repo_module

from ferkit.data.synthetic import write_image_folder

_support = repo_module("support.durability", TESTS)  # tests/support/durability.py: the harness the test uses
final_weights, history_epochs, kill_repeatedly, run_train, stale_files = (
    _support.final_weights, _support.history_epochs, _support.kill_repeatedly, _support.run_train,
    _support.stale_files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    failures, kills_landed = 0, 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ferkit-durability-") as scratch:
        root = Path(scratch)
        data = write_image_folder(root / "data", per_class=20, size=48, seed=11)
        run_train(data, root / "straight", args.epochs)
        reference = (root / "straight" / "history.csv").read_text(), final_weights(root / "straight")
        for campaign_index in range(args.campaigns):
            out = root / f"killed-{campaign_index}"
            campaign = kill_repeatedly(data, out, args.epochs, args.kills, seed=args.seed + campaign_index)
            landed = sum(not kill.endswith("(finished first)") for kill in campaign.kills)
            kills_landed += landed
            problems = []
            if history_epochs(out) != list(range(args.epochs)):
                problems.append(f"history epochs {history_epochs(out)}")
            if (out / "history.csv").read_text() != reference[0]:
                problems.append("history.csv differs")
            if not all(np.array_equal(a, b) for a, b in zip(final_weights(out), reference[1], strict=True)):
                problems.append("final weights differ")
            if stale_files(out):
                problems.append(f"left behind: {stale_files(out)}")
            failures += bool(problems)
            print(f"campaign {campaign_index + 1}: {landed} kills landed ({', '.join(campaign.kills)}); "
                  f"{campaign.attempts} runs, {campaign.seconds:.0f} s: {'; '.join(problems) or 'identical'}")
    print(f"total: {args.campaigns} campaigns, {kills_landed} kills, {failures} differing, "
          f"{time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
