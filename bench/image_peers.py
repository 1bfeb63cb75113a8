#!/usr/bin/env python3
"""PyTorch equivalents of LSTMKit's image classifiers, the peer of bench/image_bench.py.

Same architecture, data, normalisation and schedule as `lstmkit train-classifier --kind
rows|cnn` with its defaults: a bidirectional LSTM (hidden 128) over the image rows
(rows) or over the rows of a Conv3x3(32)-ReLU-MaxPool2-Conv3x3(64)-ReLU-MaxPool2
feature map (cnn), the last layer's final states → dropout 0.25 → Linear; Adam 1e-3,
batches of 64, dev-accuracy early stopping (patience 3, learning rate halved on each
epoch without improvement), a training-time limit; test accuracy of the best dev epoch.

Usage: python3 bench/image_peers.py --kind rows|cnn [--minutes 27.5] [--threads 1] [--out JSON]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from image_data import load_split  # noqa: E402


class Net(nn.Module):
    def __init__(self, kind, classes=10, hidden=128):
        super().__init__()
        self.kind = kind
        if kind == "cnn":
            self.encoder = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            features = 64 * 7
        else:
            features = 28
        self.lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.25)
        self.output = nn.Linear(2 * hidden, classes)

    def forward(self, x):                      # x (N, 28, 28), normalised
        if self.kind == "cnn":
            f = self.encoder(x.unsqueeze(1))   # (N, 64, 7, 7)
            x = f.permute(0, 2, 1, 3).reshape(f.shape[0], 7, 64 * 7)   # rows of (C, W)
        _, (h, _) = self.lstm(x)
        return self.output(self.dropout(torch.cat([h[-2], h[-1]], dim=1)))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    model.train()
    return (pred == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["rows", "cnn"], required=True)
    ap.add_argument("--minutes", type=float, default=27.5)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-size", type=int, help="use only the first N training images (quick checks)")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (x, y), (xd, yd), (xt, yt) = load_split()
    if args.train_size:
        x, y = x[:args.train_size], y[:args.train_size]
    mean, std = x.astype(np.float64).mean(), x.astype(np.float64).std()
    prep = lambda a: torch.from_numpy(((a.astype(np.float32) - mean) / std).astype(np.float32))  # noqa: E731
    x, xd, xt = prep(x), prep(xd), prep(xt)
    y, yd, yt = (torch.from_numpy(a) for a in (y, yd, yt))
    model = Net(args.kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, stale, start = -1.0, None, 0, time.perf_counter()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        if stale >= 3 or time.perf_counter() - start >= args.minutes * 60:
            break
        t0 = time.perf_counter()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        dev = accuracy(model, xd, yd)
        improved = dev > best
        print(f"torch {args.kind} epoch {epoch} done in {time.perf_counter() - t0:.0f} s  dev accuracy {dev * 100:.2f}"
              + ("  (best)" if improved else ""), flush=True)
        if improved:
            best, stale = dev, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            for group in opt.param_groups:
                group["lr"] *= 0.5
    train_s = time.perf_counter() - start
    model.load_state_dict(best_state)
    result = {"kind": args.kind, "threads": args.threads, "dev_accuracy": best,
              "test_accuracy": accuracy(model, xt, yt), "train_s": train_s, "torch": torch.__version__}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
