#!/usr/bin/env python3
"""How the SequenceClassifier's defaults were chosen: on DEV splits carved from TRAIN
only (the test splits are never read here). Per set, a stratified 25 % of TRAIN (seeded)
is the tuning dev set; each candidate is fitted on the other 75 % (holding out its own
validation split from those, as by default) and scored on the tuning dev set.

    /tmp/venv/bin/python bench/seq_classify_tune.py [--sets ...] [--candidates name,...]

Prints one line per (candidate, set) and the mean per candidate; writes
bench/results/seq_classify_tune-latest.json (the runs that chose today's defaults are
in bench/results/seq_classify_tune.json).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from seq_classify_bench import REPO, SETS, load, stratified_split

#: Candidates: the constructor's and fit's arguments that differ from the defaults.
CANDIDATES = {
    "defaults": ({}, {}),
    "attention": ({"pooling": "attention"}, {}),
    "last": ({"pooling": "last"}, {}),
    "max": ({"pooling": "max"}, {}),
    "hidden128": ({"hidden_size": 128}, {}),
    "2layers_ln": ({"num_layers": 2, "layer_norm": True}, {}),
    "dropout0.3": ({"dropout": 0.3}, {}),
    "lr0.01": ({}, {"learning_rate": 0.01}),
    "batch8": ({}, {"batch_size": 8}),
    "decay0.8": ({}, {"decay_factor": 0.8}),
    "decay0.8_pat20": ({}, {"decay_factor": 0.8, "patience": 20}),
    "decay1_pat30": ({}, {"decay_factor": 1.0, "patience": 30}),
    "d1p30_b8_lr01": ({}, {"decay_factor": 1.0, "patience": 30, "batch_size": 8, "learning_rate": 0.01}),
    "d1p30_last": ({"pooling": "last"}, {"decay_factor": 1.0, "patience": 30}),
    "d1p30_att": ({"pooling": "attention"}, {"decay_factor": 1.0, "patience": 30}),
    "nopatch_d1p30": ({"patch_length": 1}, {"decay_factor": 1.0, "patience": 30}),
    "d08p20_last": ({"pooling": "last"}, {"decay_factor": 0.8, "patience": 20}),
    "d08p20": ({}, {"decay_factor": 0.8, "patience": 20}),
    "d1p30_h128": ({"hidden_size": 128}, {"decay_factor": 1.0, "patience": 30}),
    "d1p30_last_h128": ({"hidden_size": 128, "pooling": "last"}, {"decay_factor": 1.0, "patience": 30}),
    # LSTM-FCN's convolutional branch beside the recurrent layers (issue 19), against
    # today's defaults: the paper's 128/256/128 filters, and a quarter of them for sets of
    # 40-270 sequences.
    "fcn32": ({"conv_filters": (32, 64, 32)}, {}),
    "fcn128": ({"conv_filters": (128, 256, 128)}, {}),
    # Issue 20: a self-attention block over the recurrent outputs, then additive attention.
    "self_attention": ({"pooling": "self_attention"}, {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "seq_classify_tune-latest.json"))
    args = ap.parse_args()
    import lstmkit

    results: dict = {}
    for name in args.sets.split(","):
        train, y = load(name, "TRAIN")
        kept, held = stratified_split(y, 0.25, args.seed + 100)
        for cand in args.candidates.split(","):
            model_args, fit_args = CANDIDATES[cand]
            t0 = time.perf_counter()
            clf = lstmkit.SequenceClassifier(seed=args.seed, **model_args)
            clf.fit([train[i] for i in kept], [y[i] for i in kept], progress=False, **fit_args)
            acc = clf.score([train[i] for i in held], [y[i] for i in held])
            results.setdefault(cand, {})[name] = acc
            print(f"{cand:12s} {name:18s} dev accuracy {acc:.4f}  ({time.perf_counter() - t0:.1f} s)", flush=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    print()
    for cand, r in results.items():
        print(f"{cand:12s} mean dev accuracy {np.mean(list(r.values())):.4f} over {len(r)} sets")


if __name__ == "__main__":
    main()
