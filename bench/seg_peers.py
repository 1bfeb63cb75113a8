#!/usr/bin/env python3
"""PyTorch equivalent of LSTMKit's image segmenter, the peer of bench/seg_bench.py.

Same network, data, normalisation and schedule as `lstmkit train-segmenter` with its
defaults: encoder levels of Conv3x3(32, 64; no bias) → BatchNorm → ReLU (the skip) →
MaxPool2; context `lstm` (a BiLSTM (hidden 64) over every row of the 16x16 map, then one
over every column of its output) or `conv` (the ablation: Conv3x3 → ReLU → Conv3x3 → ReLU
with the middle width that matches the sweep's parameter count, 96); decoder per level:
ConvTranspose 2x2 stride 2, concatenation with the skip, Conv3x3 (no bias) → BatchNorm →
ReLU; a 1x1 conv to 11 logits. Loss: cross-entropy + 0.5 x soft Dice (per class over the
batch, smoothing 1, averaged over the classes). Adam 0.002, batches of 16, gradient-norm
clipping at 5; after each epoch the dev mean IoU keeps the best weights, the learning rate
halves after an epoch without improvement, patience 3; training stops when the time
limit has passed (mid-epoch: the dev set is then scored once more). Pixels are normalised
with the mean and std of all training pixels. Scores: pixel accuracy, IoU per class (NaN
for a class in neither the gold masks nor the predictions), mean IoU of the defined ones.

Usage: python3 bench/seg_peers.py --variant base|big --context lstm|conv [--minutes 42]
                                  [--threads 1] [--train-size N] [--out JSON]
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(os.path.dirname(HERE), "data-cache", "seg")
NUM_CLASSES = 11


def conv_context_channels(c, u):
    """The ablation's middle width, as ImageSegmenterConfig.convContextChannels."""
    sweep = 8 * u * (c + 4 * u + 4)
    return max(1, round((sweep - 2 * u) / (9 * c + 18 * u + 1)))


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Net(nn.Module):
    def __init__(self, context, classes=NUM_CLASSES, levels=(32, 64), hidden=64):
        super().__init__()
        self.context = context
        c = 1
        self.encoder = nn.ModuleList()
        for out in levels:
            self.encoder.append(block(c, out))
            c = out
        self.pool = nn.MaxPool2d(2)
        if context == "lstm":
            self.rows = nn.LSTM(c, hidden, batch_first=True, bidirectional=True)
            self.columns = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        else:
            m = conv_context_channels(c, hidden)
            self.convs = nn.Sequential(nn.Conv2d(c, m, 3, padding=1), nn.ReLU(), nn.Conv2d(m, 2 * hidden, 3, padding=1), nn.ReLU())
        below = 2 * hidden
        self.up, self.decoder = nn.ModuleList(), nn.ModuleList()
        for skip in reversed(levels):
            self.up.append(nn.ConvTranspose2d(below, skip, 2, stride=2))
            self.decoder.append(block(2 * skip, skip))
            below = skip
        self.head = nn.Conv2d(levels[0], classes, 1)

    def forward(self, x):                      # x (N, 1, H, W), normalised; H, W multiples of 4
        skips = []
        for b in self.encoder:
            x = b(x)
            skips.append(x)
            x = self.pool(x)
        if self.context == "lstm":
            n, c, h, w = x.shape
            r, _ = self.rows(x.permute(0, 2, 3, 1).reshape(n * h, w, c))            # every row
            u2 = r.shape[-1]
            r = r.reshape(n, h, w, u2).permute(0, 2, 1, 3).reshape(n * w, h, u2)      # its columns
            y, _ = self.columns(r)
            x = y.reshape(n, w, h, u2).permute(0, 3, 2, 1)                            # (N, 2U, H, W)
        else:
            x = self.convs(x)
        for up, b, skip in zip(self.up, self.decoder, reversed(skips)):
            x = b(torch.cat([up(x), skip], 1))
        return self.head(x)


def loss_fn(logits, target, dice_weight=0.5, smooth=1.0):
    """Cross-entropy + dice_weight x soft Dice, as SegmentationLoss.combined."""
    ce = F.cross_entropy(logits, target)
    p = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
    inter = (p * onehot).sum((0, 2, 3))
    dice = 1 - ((2 * inter + smooth) / (p.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + smooth)).mean()
    return ce + dice_weight * dice


def score(model, x, masks, batch=64):
    """(pixel accuracy, IoU per class, mean IoU) of the model's argmax masks."""
    model.eval()
    confusion = torch.zeros(NUM_CLASSES * NUM_CLASSES, dtype=torch.int64)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred = model(x[i:i + batch]).argmax(1)
            confusion += torch.bincount((masks[i:i + batch] * NUM_CLASSES + pred).flatten(), minlength=NUM_CLASSES ** 2)
    model.train()
    cm = confusion.reshape(NUM_CLASSES, NUM_CLASSES).double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    iou = [float(tp[c] / union[c]) if union[c] > 0 else math.nan for c in range(NUM_CLASSES)]
    defined = [v for v in iou if not math.isnan(v)]
    return float(tp.sum() / cm.sum()), iou, sum(defined) / len(defined)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["base", "big"], required=True)
    ap.add_argument("--context", choices=["lstm", "conv"], required=True)
    ap.add_argument("--minutes", type=float, default=42)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-size", type=int, help="use only the first N training canvases (quick checks)")
    ap.add_argument("--data", default=CACHE)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    folder = os.path.join(args.data, args.variant)
    load = lambda split: (np.load(f"{folder}/{split}_images.npy"), np.load(f"{folder}/{split}_masks.npy"))  # noqa: E731
    (x, m), (xd, md), (xt, mt) = load("train"), load("dev"), load("test")
    if args.train_size:
        x, m = x[:args.train_size], m[:args.train_size]
    mean, std = x.astype(np.float64).mean(), x.astype(np.float64).std()
    prep = lambda a: torch.from_numpy(((a.astype(np.float32) - mean) / std).astype(np.float32)[:, None])  # noqa: E731
    x, xd, xt = prep(x), prep(xd), prep(xt)
    m, md, mt = (torch.from_numpy(a.astype(np.int64)) for a in (m, md, mt))
    model = Net(args.context)
    opt = torch.optim.Adam(model.parameters(), lr=0.002)
    best, best_state, stale, epochs, seen = -1.0, None, 0, 0, 0
    g = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    limit = args.minutes * 60
    for epoch in range(1, args.epochs + 1):
        if stale >= 3 or time.perf_counter() - start >= limit:
            break
        t0, done = time.perf_counter(), 0
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 16):
            idx = order[i:i + 16]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), m[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            done += len(idx)
            if time.perf_counter() - start >= limit:
                break
        trained = time.perf_counter() - t0
        seen += done
        epochs = epoch
        _, _, dev = score(model, xd, md)
        improved = dev > best
        print(f"torch {args.variant} {args.context} epoch {epoch}: {done} images in {trained:.0f} s "
              f"({done / trained:.1f} images/s)  dev mean IoU {dev * 100:.2f}" + ("  (best)" if improved else ""), flush=True)
        if improved:
            best, stale = dev, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            for group in opt.param_groups:
                group["lr"] *= 0.5
    train_s = time.perf_counter() - start
    model.load_state_dict(best_state)
    accuracy, iou, miou = score(model, xt, mt)
    result = {"variant": args.variant, "context": args.context, "threads": args.threads, "train_size": len(x),
              "epochs": epochs, "train_s": train_s, "train_images_per_s": seen / train_s, "dev_mean_iou": best,
              "test_mean_iou": miou, "test_pixel_accuracy": accuracy, "test_iou": iou,
              "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
