#!/usr/bin/env python3
"""Sequence classification: LSTMKit's SequenceClassifier with its DEFAULT settings
against peers measured in the same run, on five UCR/UEA sets (official TRAIN/TEST
splits of sktime 1.2.0's bundled .ts files; ../shared/DATA.md).

Per set and seed (3 seeds), the test split is scored once per model:
  lstmkit     SequenceClassifier(seed=s).fit(list of (T_i, C) arrays, string labels):
              nothing tuned; it holds out its own stratified 20 % dev split of TRAIN
              (each member its own) and, on fewer than 100 training series (refit_below),
              trains its members again on all of TRAIN for the epochs those splits chose.
  torch_lstm  a PyTorch model of the same shape as LSTMKit's default (BiLSTM, hidden 64,
              the last state of each direction, dropout 0.1, linear) on the same input
              (z-scored, read in patches of ceil(longest / 32) steps), the same rule for
              the dev split, Adam at the same rate and batch, trained for the same wall
              time LSTMKit's fit took (after an untimed warm-up step; an epoch under way
              finishes) and keeping its best dev epoch (ties: lower loss).
  rocket      sktime's RocketClassifier (10,000 kernels, random_state=s; --rocket-seeds
              limits it to the first seeds, to save time).
  dtw_1nn     sktime's KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw"):
              deterministic, run once per set.
JapaneseVowels has unequal lengths (7-29): ROCKET and 1-NN DTW get each series padded
to the longest by repeating its last step (they take equal lengths only); LSTMKit and
PyTorch read the ragged sequences.

    /tmp/venv/bin/python bench/seq_classify_bench.py [--sets JapaneseVowels,...] [--seeds 3]

PLAID (537 / 537 univariate series of 100-1,344 steps, 11 classes; in sktime 1.2.0's
data folder too) is an optional extra set: `--sets ...,PLAID`. It is not in the bar's
five-set mean (the "mean" row), and 1-NN DTW on it takes hours (537 x 537 series of
up to 1,344 steps): leave dtw_1nn out of --peers for it.

Writes bench/results/seq_classify.json and prints a table (docs/TIME_SERIES.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

import numpy as np

SETS = ["JapaneseVowels", "BasicMotions", "GunPoint", "ArrowHead", "ItalyPowerDemand"]
#: Optional extra sets (--sets): reported, not in the five-set mean.
EXTRA_SETS = ["PLAID"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name: str, split: str):
    """(list of (T_i, C) float32 arrays, list of str labels) from sktime's bundled file."""
    import sktime
    from sktime.datasets import load_from_tsfile

    path = os.path.join(os.path.dirname(sktime.__file__), "datasets", "data", name, f"{name}_{split}.ts")
    X, y = load_from_tsfile(path, return_data_type="nested_univ")
    seqs = [np.stack([np.asarray(X.iloc[i, c], np.float32) for c in range(X.shape[1])], axis=1) for i in range(len(X))]
    return seqs, [str(label) for label in y]


def padded3d(seqs, length):
    """(N, C, T) for sktime: each series padded to `length` by repeating its last step."""
    return np.stack([np.pad(s, ((0, length - len(s)), (0, 0)), mode="edge").T for s in seqs]).astype(np.float64)


def stratified_split(labels, fraction, seed):
    """(kept, held out) indices: `fraction` of each class (rounded, >= 1, never a class's last)."""
    rng = random.Random(seed)
    kept, held = [], []
    for c in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == c]
        rng.shuffle(members)
        n = 0 if len(members) < 2 else min(len(members) - 1, max(1, round(len(members) * fraction)))
        held += members[:n]
        kept += members[n:]
    return sorted(kept), sorted(held)


def torch_lstm(train, y, test, seed, seconds, threads):
    """The same-shape PyTorch classifier trained for `seconds`; test predictions."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    classes = sorted(set(y))
    yi = np.array([classes.index(l) for l in y])
    kept, held = stratified_split(list(y), 0.2, seed)
    allv = np.concatenate([train[i] for i in kept])
    mean, std = allv.mean(0), allv.std(0)
    std[std < 1e-6] = 1

    p = max(1, -(-max(len(s) for s in train) // 32))  # LSTMKit's default patch_length

    def batch(seqs):
        """(B, T, p*C) patches of p z-scored steps, 0 beyond each end; lengths in patches."""
        t = -(-max(len(s) for s in seqs) // p)
        c = seqs[0].shape[1]
        x = np.zeros((len(seqs), t * p, c), np.float32)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = (s - mean) / std
        return torch.from_numpy(x.reshape(len(seqs), t, p * c)), torch.tensor([-(-len(s) // p) for s in seqs])

    class Net(nn.Module):
        def __init__(self, c, k):
            super().__init__()
            self.lstm = nn.LSTM(c, 64, batch_first=True, bidirectional=True)
            self.drop = nn.Dropout(0.1)
            self.out = nn.Linear(128, k)

        def forward(self, x, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)  # (2, B, 64): each direction's last state
            return self.out(self.drop(torch.cat([h_n[0], h_n[1]], dim=1)))

    net = Net(p * train[0].shape[1], len(classes))
    opt = torch.optim.Adam(net.parameters(), lr=0.003)
    dev_x, dev_l = batch([train[i] for i in held])
    dev_y = torch.tensor(yi[held])
    # Warm-up, not timed (and not trained): the first calls initialise torch's kernels.
    x, l = batch([train[i] for i in kept[:16]])
    nn.functional.cross_entropy(net(x, l), torch.tensor(yi[kept[:16]])).backward()
    opt.zero_grad()
    best, best_state, start, epochs = None, None, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        net.train()
        order = list(kept)
        random.Random(seed + epochs).shuffle(order)
        for b in range(0, len(order), 16):
            members = order[b:b + 16]
            x, l = batch([train[i] for i in members])
            loss = nn.functional.cross_entropy(net(x, l), torch.tensor(yi[members]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5)
            opt.step()
        epochs += 1
        net.eval()
        with torch.no_grad():
            logits = net(dev_x, dev_l)
            acc = (logits.argmax(1) == dev_y).float().mean().item()
            dev_loss = nn.functional.cross_entropy(logits, dev_y).item()
        score = acc - 1e-4 * min(dev_loss, 10)
        if best is None or score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        x, l = batch(test)
        pred = net(x, l).argmax(1).numpy()
    return [classes[j] for j in pred], epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS), help=f"among {SETS + EXTRA_SETS}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rocket-seeds", type=int, default=3, help="ROCKET on the first this many seeds only (time)")
    ap.add_argument("--peers", default="torch_lstm,rocket,dtw_1nn")
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "seq_classify.json"))
    ap.add_argument("--setup", default="", help="how the machine was shared, recorded in the output (e.g. 'idle')")
    args = ap.parse_args()
    import lstmkit

    peers = [p for p in args.peers.split(",") if p]
    results = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "setup": args.setup,
               "lstmkit": lstmkit.__version__, "seeds": args.seeds, "rocket_seeds": min(args.rocket_seeds, args.seeds),
               "command": "python bench/seq_classify_bench.py " + " ".join(os.sys.argv[1:]), "sets": {}}
    for name in args.sets.split(","):
        train, y = load(name, "TRAIN")
        test, ty = load(name, "TEST")
        length = max(len(s) for s in train + test)
        r = {"train": len(train), "test": len(test), "channels": int(train[0].shape[1]),
             "lengths": [min(len(s) for s in train + test), length], "runs": {}}
        runs = r["runs"]

        def record(model, acc, seconds, **extra):
            runs.setdefault(model, []).append(dict(accuracy=acc, seconds=round(seconds, 2), **extra))
            print(f"{name:18s} {model:11s} accuracy {acc:.4f}  ({seconds:.1f} s){'  ' + str(extra) if extra else ''}", flush=True)

        for seed in range(1, args.seeds + 1):
            t0 = time.perf_counter()
            clf = lstmkit.SequenceClassifier(seed=seed).fit(train, y, progress=False, threads=args.threads)
            fit_seconds = time.perf_counter() - t0
            acc = float(np.mean(np.array(clf.predict(test)) == np.array(ty)))
            record("lstmkit", acc, fit_seconds)
            if "torch_lstm" in peers:
                t0 = time.perf_counter()
                pred, epochs = torch_lstm(train, y, test, seed, fit_seconds, args.threads)
                record("torch_lstm", float(np.mean(np.array(pred) == np.array(ty))), time.perf_counter() - t0, epochs=epochs)
            if "rocket" in peers and seed <= args.rocket_seeds:
                from sktime.classification.kernel_based import RocketClassifier

                t0 = time.perf_counter()
                rocket = RocketClassifier(num_kernels=10000, random_state=seed).fit(padded3d(train, length), np.array(y))
                acc = float(np.mean(rocket.predict(padded3d(test, length)) == np.array(ty)))
                record("rocket", acc, time.perf_counter() - t0)
        if "dtw_1nn" in peers:
            from sktime.classification.distance_based import KNeighborsTimeSeriesClassifier

            t0 = time.perf_counter()
            knn = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw").fit(padded3d(train, length), np.array(y))
            record("dtw_1nn", float(np.mean(knn.predict(padded3d(test, length)) == np.array(ty))), time.perf_counter() - t0)
        for model, rs in runs.items():
            r[model] = float(np.mean([x["accuracy"] for x in rs]))
        results["sets"][name] = r
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)

    models = ["lstmkit"] + peers
    print("\n| set | " + " | ".join(models) + " |\n|---|" + "---|" * len(models))
    for name, r in results["sets"].items():
        print(f"| {name} | " + " | ".join(f"{r[m]:.4f}" if m in r else "-" for m in models) + " |")
    means = {m: float(np.mean([r[m] for name, r in results["sets"].items() if m in r and name in SETS])) for m in models}
    results["mean"] = means
    k = sum(name in SETS for name in results["sets"])
    print(f"| mean{'' if k == len(SETS) else f' ({k} of the five sets)'} | " + " | ".join(f"{means[m]:.4f}" for m in models) + " |")
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
