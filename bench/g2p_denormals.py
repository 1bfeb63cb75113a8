#!/usr/bin/env python3
"""Why the G2P training slows down as it goes (docs/SEQ2SEQ.md, "The 90-minute
side-by-side run"): denormal floats. Times forward + backward of the same 150 training
batches, one thread, on a fresh model and on a trained one (an LSTMKit model file loaded
into the PyTorch peer, bench/g2p_peer.py: the same architecture), with
torch.set_flush_denormal off and on, twice each.

--bench BIN...: also LSTMKit's training step, per lstmkit-bench binary (bench/swift/G2P.swift;
`swift build -c release --scratch-path .build-bench --product lstmkit-bench`, and one
built from an earlier commit to compare): 300 batches of 32 on one thread (one core,
`taskset -c 0`), from a fresh model and from the trained one (`init=`), twice each; its
tokens/s. LSTMKit flushes denormals in its training steps since withDenormalsFlushed
(Sources/LSTMKitCore/FloatingPointMode.swift); a binary from before that shows the
slowdown.

Usage:
    python bench/g2p_denormals.py [--model data-cache/runs/g2p-bench-lstmkit.safetensors] [--bench BIN...]

A Python with torch; the split from bench/g2p_data.py; the model from bench/g2p_bench.py.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import g2p_peer as gp  # noqa: E402


def lstmkit_steps(binary, model, data):
    """Prints `binary`'s training speed from a fresh model and from `model`, twice each."""
    layers = gp.load_lstmkit(model)[3]["num_layers"]
    for round in (1, 2):
        for init in ([], [f"init={model}"]):
            cmd = ["taskset", "-c", "0", binary, "g2p", "train", os.path.join(data, "train.tsv"), os.path.join(data, "dev.tsv"),
                   os.path.join(tempfile.gettempdir(), "g2p_denormals.safetensors"), "1", "epochs=1", "max_batches_per_epoch=300", "log_every=300", f"num_layers={layers}"] + init
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            rate = re.search(r"batch 300/300 .* (\d+) tokens/s", p.stderr)
            if p.returncode != 0 or not rate:
                sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
            print(f"lstmkit {os.path.relpath(binary, REPO)} round {round}: {'trained' if init else 'fresh'} model "
                  f"{int(rate.group(1))} tokens/s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "data-cache", "runs", "g2p-bench-lstmkit.safetensors"))
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache", "g2p"))
    ap.add_argument("--bench", nargs="*", default=[], help="lstmkit-bench binaries to time too")
    args = ap.parse_args()
    for binary in args.bench:
        lstmkit_steps(binary, args.model, args.data)
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
            loss = gp.batch_loss(model, [s[j] for j in b], [t[j] for j in b])
            model.zero_grad()
            loss.backward()
        return time.perf_counter() - t0

    print(f"torch {torch.__version__}; {len(batches)} batches of 32; model {os.path.relpath(args.model, REPO)}")
    for flush in (False, True, False, True):
        torch.set_flush_denormal(flush)
        print(f"flush_denormal={flush}: fresh model {seconds(fresh):.2f} s, trained model {seconds(trained):.2f} s", flush=True)


if __name__ == "__main__":
    main()
