#!/usr/bin/env python3
"""Tokenizer.cut against Tokenizer.cut_offsets (token end offsets in characters instead of
a string per token; issue 18, the C-to-Python crossing), one text at a time, one thread.

Usage:
    python3 bench/cut_offsets_bench.py [--model PATH] [--cache DIR] [--repeat N]

Runs the installed Python package on the raw PKU test split (bench/cws_data.py's
data-cache/cws/test.raw.txt, or --cache); the same tokenizer, interleaved rounds, best
and median of --repeat passes each. Checks that both give the same segmentation.
"""
import argparse
import itertools
import os
import statistics
import time

import lstmkit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tokenizer-pku.safetensors"))
    ap.add_argument("--cache", default=os.path.join(REPO, "data-cache", "cws"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with open(os.path.join(args.cache, "test.raw.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    chars = sum(len(line) for line in lines)
    tok = lstmkit.Tokenizer.load(args.model)
    assert all(tok.cut_offsets(t) == list(itertools.accumulate(map(len, tok.cut(t)))) for t in lines[:200])
    times = {"cut": [], "cut_offsets": []}
    for _ in range(args.repeat):
        for name in times:
            fn = getattr(tok, name)
            start = time.perf_counter()
            for line in lines:
                fn(line)
            times[name].append(time.perf_counter() - start)
    for name, t in times.items():
        print(f"{name:12s} {chars / min(t):9,.0f} chars/s best, {chars / statistics.median(t):9,.0f} median "
              f"({len(lines)} lines, {chars} characters)")
    print(f"cut_offsets / cut time: {min(times['cut_offsets']) / min(times['cut']):.3f} (best), "
          f"{statistics.median(times['cut_offsets']) / statistics.median(times['cut']):.3f} (median)")


if __name__ == "__main__":
    main()
