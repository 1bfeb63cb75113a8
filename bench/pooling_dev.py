#!/usr/bin/env python3
"""Pooling choices of the text classifier on DEV only (issue 20: does self_attention
help?): per seed and pooling, `lstmkit-cli train-classifier` on the English train split
minus its last --carve texts, which are the early-stopping dev set, then
`eval-classifier` on the fixed dev split (never the test split).

    python3 bench/pooling_dev.py --cli .build-dist/release/lstmkit-cli [--poolings attention,self_attention]
                                 [--seeds 1,2] [--corpus en] [-- extra train-classifier options]

Needs the splits from bench/text_data.py (data-cache/text). Prints one line per run and
the mean per pooling.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(REPO, ".build-dist", "release", "lstmkit-cli"))
    ap.add_argument("--corpus", default="en")
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache", "text"))
    ap.add_argument("--poolings", default="attention,self_attention")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--carve", type=int, default=1000, help="the train split's last texts: the early-stopping dev set")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("extra", nargs="*", help="options passed on to train-classifier")
    args = ap.parse_args()
    with open(os.path.join(args.data, args.corpus, "train.tsv"), encoding="utf-8") as f:
        lines = f.readlines()
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        train, stop = os.path.join(tmp, "train.tsv"), os.path.join(tmp, "stop.tsv")
        with open(train, "w", encoding="utf-8") as f:
            f.writelines(lines[:-args.carve])
        with open(stop, "w", encoding="utf-8") as f:
            f.writelines(lines[-args.carve:])
        for seed in args.seeds.split(","):
            for pooling in args.poolings.split(","):
                model = os.path.join(tmp, f"{pooling}-{seed}.safetensors")
                t0 = time.perf_counter()
                subprocess.run([args.cli, "train-classifier", "--train", train, "--dev", stop, "--output", model,
                                "--pooling", pooling, "--seed", seed, "--threads", str(args.threads), *args.extra],
                               check=True, env=env)   # its progress lines show
                seconds = time.perf_counter() - t0
                out = subprocess.run([args.cli, "eval-classifier", os.path.join(args.data, args.corpus, "dev.tsv"),
                                      "--model", model, "--threads", str(args.threads)],
                                     check=True, env=env, capture_output=True, text=True).stdout
                accuracy = float(re.search(r"accuracy ([\d.]+)", out).group(1))
                f1 = float(re.search(r"macro-F1 ([\d.]+)", out).group(1))
                scores.setdefault(pooling, []).append(accuracy)
                print(f"{pooling:15s} seed {seed}: dev accuracy {accuracy:.2f} %, macro-F1 {f1:.2f} % (trained {seconds:.0f} s)",
                      flush=True)
    for pooling, values in scores.items():
        print(f"{pooling:15s} mean dev accuracy {statistics.mean(values):.2f} % over seeds {args.seeds}")


if __name__ == "__main__":
    main()
