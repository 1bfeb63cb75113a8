#!/usr/bin/env python3
"""Training speed on G2P (issue 20: the 90-minute budget is spent on training steps):
LSTMKit's Seq2Seq and its PyTorch peer (bench/g2p_peer.py, the same architecture), the
same 300 batches' worth of training from a fresh model at 1 and 2 threads, target
tokens (EOS included) per second of training steps, 3 rounds, medians.

  lstmkit  `lstmkit-bench g2p train ... <threads> epochs=1 max_batches_per_epoch=300`
           (bench/swift/G2P.swift): its progress line's rate. At 2 threads each batch
           is cut in two shards trained at once (docs/SEQ2SEQ.md, "Threads").
  pytorch  300 batches of 32 through g2p_peer's loss, backward, clipping and Adam with
           torch.set_num_threads(threads) (its intra-op threads), denormals flushed as in
           its training loop.
Both draw length-bucketed batches of 32 of the training split (each its own order);
neither scores the dev set in the time. Run on an otherwise idle machine.

    python bench/g2p_train_speed.py [--layers 2] [--bench .build-bench/release/lstmkit-bench]

A Python with torch; the split from bench/g2p_data.py. Writes bench/results/g2p_train_speed.json.
"""
import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import g2p_peer as gp  # noqa: E402

BATCHES = 300


def lstmkit_rate(binary, data, threads, layers):
    cmd = [binary, "g2p", "train", os.path.join(data, "train.tsv"), os.path.join(data, "dev.tsv"),
           os.path.join(tempfile.gettempdir(), "g2p_train_speed.safetensors"), str(threads), "epochs=1",
           f"max_batches_per_epoch={BATCHES}", f"log_every={BATCHES}", f"num_layers={layers}"]
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rate = re.search(rf"batch {BATCHES}/{BATCHES} .* (\d+) tokens/s", p.stderr)
    if p.returncode != 0 or not rate:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return float(rate.group(1))


def peer_rate(sources, targets, threads, layers, vocab_sizes):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = gp.Seq2Seq(*vocab_sizes, layers=layers)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    batches = gp.length_bucketed_batches([len(s) for s in sources], 32, random.Random(1))[:BATCHES]
    flushing = torch.set_flush_denormal(True)
    tokens, t0 = 0, time.perf_counter()
    for b in batches:
        tgt = [targets[j] for j in b]
        loss = gp.batch_loss(model, [sources[j] for j in b], tgt)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        tokens += sum(len(t) + 1 for t in tgt)
    seconds = time.perf_counter() - t0
    if flushing:
        torch.set_flush_denormal(False)
    return tokens / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache", "g2p"))
    ap.add_argument("--layers", type=int, default=2, help="the encoder's layers (g2p_bench.py --layers)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    words, prons = gp.read_pairs(os.path.join(args.data, "train.tsv"))
    source, target = gp.Vocabulary(words, list), gp.Vocabulary(prons, str.split)
    sources, targets = [source.encode(w) for w in words], [target.encode(p) for p in prons]
    vocab_sizes = (len(source.tokens), len(target.tokens))
    rates = {}
    for round in range(1, args.rounds + 1):
        for threads in (1, 2):
            for engine in ("lstmkit", "pytorch"):
                r = (lstmkit_rate(args.bench, args.data, threads, args.layers) if engine == "lstmkit"
                     else peer_rate(sources, targets, threads, args.layers, vocab_sizes))
                rates.setdefault(f"{engine} {threads}", []).append(r)
                print(f"round {round}: {engine} {threads} thread(s) {r:,.0f} tokens/s", flush=True)
    result = {"command": " ".join(sys.argv), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
              "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count()},
              "batches": BATCHES, "layers": args.layers, "rates": rates,
              "medians": {k: statistics.median(v) for k, v in rates.items()}}
    print("\n| threads | LSTMKit tokens/s | PyTorch tokens/s | ratio |\n|---|---|---|---|")
    for threads in (1, 2):
        a, b = result["medians"][f"lstmkit {threads}"], result["medians"][f"pytorch {threads}"]
        print(f"| {threads} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "g2p_train_speed.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
