#!/usr/bin/env python3
"""Why the G2P training slows down as it goes (docs/SEQ2SEQ.md, "The 90-minute
side-by-side run"): denormal floats. Times forward + backward of the same 150 training
batches, one thread, on a fresh model and on a trained one (an LSTMKit model file loaded
into the PyTorch peer, bench/g2p_peer.py: the same architecture), with
torch.set_flush_denormal off and on, twice each.

Usage:
    python bench/g2p_denormals.py [--model data-cache/runs/g2p-bench-lstmkit.safetensors]

A Python with torch; the split from bench/g2p_data.py; the model from bench/g2p_bench.py.
"""
import argparse
import os
import random
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import g2p_peer as gp  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "data-cache", "runs", "g2p-bench-lstmkit.safetensors"))
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache", "g2p"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    trained, source, target, meta = gp.load_lstmkit(args.model)
    torch.manual_seed(1)
    fresh = gp.Seq2Seq(len(source.tokens), len(target.tokens), embedding=int(meta["embedding_size"]),
                       hidden=int(meta["hidden_size"]), dropout=float(meta["dropout"]), layers=int(meta["num_layers"]))
    sources, targets = gp.read_pairs(os.path.join(args.data, "train.tsv"))
    s = [source.encode(x) for x in sources[:20000]]
    t = [target.encode(y) for y in targets[:20000]]
    batches = gp.length_bucketed_batches([len(x) for x in s], 32, random.Random(1))[:150]

    def seconds(model):
        model.train()
        t0 = time.perf_counter()
        for b in batches:
            src, tgt = [s[j] for j in b], [t[j] for j in b]
            loss = model.loss(gp.pad(src), torch.tensor([len(x) for x in src]), gp.pad([[gp.BOS] + y for y in tgt]),
                              gp.pad([y + [gp.EOS] for y in tgt]), 0.1)
            model.zero_grad()
            loss.backward()
        return time.perf_counter() - t0

    print(f"torch {torch.__version__}; {len(batches)} batches of 32; model {os.path.relpath(args.model, REPO)}")
    for flush in (False, True, False, True):
        torch.set_flush_denormal(flush)
        print(f"flush_denormal={flush}: fresh model {seconds(fresh):.2f} s, trained model {seconds(trained):.2f} s", flush=True)


if __name__ == "__main__":
    main()
