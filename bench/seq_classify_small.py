#!/usr/bin/env python3
"""How the small-training-set rule (`refit_below`, issue 19) was chosen: on DEV splits
carved from TRAIN only, as bench/seq_classify_tune.py does (a stratified 25 % of TRAIN,
seeded by seed + 100, is the tuning dev set; the classifier fits the other 75 % with its
defaults, holding out its own validation splits from those). The test splits are never
read here. Per set and seed, each candidate is fitted and scored on the tuning dev set.

    python bench/seq_classify_small.py [--sets ...] [--seeds 1,2,3] [--candidates defaults,norefit]

`norefit` is the defaults with `refit_below` 0 (the rule off). The Python estimator does
not take `refit_below` (an engine setting, reachable by name through the C door), so this
script lets the estimator pass it by name like a loop setting. Writes
bench/results/seq_classify_small-latest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from seq_classify_bench import REPO, SETS, load, stratified_split

#: The estimator's arguments that differ from the defaults.
CANDIDATES = {
    "defaults": {},
    "norefit": {"refit_below": 0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "seq_classify_small-latest.json"))
    args = ap.parse_args()
    import lstmkit
    from lstmkit import _estimator

    # Engine settings the estimator has no argument for travel by name, as loop settings do.
    _estimator.LOOP_PARAMS = _estimator.LOOP_PARAMS + ("refit_below",)
    results: dict = {"lstmkit": lstmkit.__version__, "threads": args.threads, "runs": {}}
    for name in args.sets.split(","):
        train, y = load(name, "TRAIN")
        for seed in map(int, args.seeds.split(",")):
            kept, held = stratified_split(y, 0.25, seed + 100)
            for cand in args.candidates.split(","):
                t0 = time.perf_counter()
                clf = lstmkit.SequenceClassifier(seed=seed, **CANDIDATES[cand])
                clf.fit([train[i] for i in kept], [y[i] for i in kept], progress=False, threads=args.threads)
                acc = clf.score([train[i] for i in held], [y[i] for i in held])
                seconds = time.perf_counter() - t0
                results["runs"].setdefault(cand, {}).setdefault(name, []).append(dict(seed=seed, accuracy=acc, seconds=round(seconds, 2)))
                print(f"{cand:10s} {name:18s} seed {seed}  dev accuracy {acc:.4f} of {len(held)}  ({seconds:.1f} s)", flush=True)
            with open(args.output, "w") as f:
                json.dump(results, f, indent=1)
    print()
    for cand, sets in results["runs"].items():
        means = {n: float(np.mean([r["accuracy"] for r in rs])) for n, rs in sets.items()}
        results.setdefault("mean", {})[cand] = dict(means, all=float(np.mean(list(means.values()))))
        print(f"{cand:10s} " + "  ".join(f"{n} {m:.4f}" for n, m in means.items()) + f"  | mean {np.mean(list(means.values())):.4f}")
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
