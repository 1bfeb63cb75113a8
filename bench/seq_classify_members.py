#!/usr/bin/env python3
"""The dev evidence for members=3 (the default): on the tuning dev splits of
bench/seq_classify_tune.py (a stratified 25 % of each set's TRAIN; test never read),
three single networks (members=1, seeds s*10+k: each its own validation split and
initialisation) against the average of their probabilities, which is what members=3
computes. Run before members existed (its figures are in docs/TIME_SERIES.md).

    /tmp/venv/bin/python bench/seq_classify_members.py JapaneseVowels,GunPoint,...
"""
import os, sys, time, numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seq_classify_bench import load, stratified_split
import lstmkit
for name in sys.argv[1].split(","):
    train, y = load(name, "TRAIN")
    for seed in (1, 2):
        kept, held = stratified_split(y, 0.25, seed + 100)
        X, Y = [train[i] for i in kept], [y[i] for i in kept]
        DX, DY = [train[i] for i in held], np.array([y[i] for i in held])
        probs, accs = [], []
        t0 = time.perf_counter()
        for m in range(3):
            clf = lstmkit.SequenceClassifier(members=1, seed=seed * 10 + m).fit(X, Y, progress=False)
            p = clf.predict_proba(DX); probs.append(p)
            accs.append(float(np.mean(np.array(clf.classes_)[p.argmax(1)] == DY)))
        ens = float(np.mean(np.array(clf.classes_)[np.mean(probs, 0).argmax(1)] == DY))
        print(name, seed, "members", [round(a, 3) for a in accs], "mean", round(np.mean(accs), 4), "ensemble", round(ens, 4), f"{time.perf_counter()-t0:.0f}s", flush=True)
