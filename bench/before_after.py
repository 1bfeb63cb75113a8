#!/usr/bin/env python3
"""Two builds' runs of lstm_speed.py and cws_bench.py side by side: medians over rounds
and the after/before ratios.

    python3 bench/before_after.py --before before-d38691e --after after-c216723

Reads bench/results/lstm_speed-LABEL-rN.json and cws_bench-LABEL-rN.json for both labels
(one file per round; the rounds ran alternating builds, so the machine's load hit both
alike). For lstm_speed, LSTMKit's median of each round, and its ratio to torch measured in
the same run (a load-normalised figure: torch is the same in every run), and its best
iteration. For cws_bench,
LSTMKit's characters/s at 1 and 2 threads, load time, peak RSS and F1. Prints a Markdown
table; the ratio column is after/before of the medians over rounds.
"""
import argparse
import glob
import json
import os
import statistics

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def runs(script, label):
    paths = sorted(glob.glob(os.path.join(RESULTS, f"{script}-{label}-r*.json")))
    if not paths:
        raise SystemExit(f"no {script}-{label}-r*.json in {RESULTS}")
    return [json.load(open(p, encoding="utf-8")) for p in paths]


def lstm_rows(data):
    """{row name: [value per round]} from lstm_speed results."""
    rows = {}
    for d in data:
        for name, cfg in d["configs"].items():
            for threads, r in cfg["threads"].items():
                key = f"{cfg['title']}, t{threads} ({cfg['unit']})"
                rows.setdefault(key, []).append(r["lstmkit"]["median"])
                # best iteration: on a loaded machine, the closest to the unloaded speed
                rows.setdefault(f"{cfg['title']}, t{threads}, best ({cfg['unit']})", []).append(r["lstmkit"]["best"])
                rows.setdefault(f"{cfg['title']}, t{threads}: LSTMKit/torch same run", []).append(r["ratio_torch"])
    return rows


def cws_rows(data):
    rows = {}
    for d in data:
        r = d["lstmkit"]
        for key, value in (("cws cut_many, 1 thread (chars/s)", r["chars_per_s_t1"]),
                           ("cws cut_many, 2 threads (chars/s)", r["chars_per_s_t2"]),
                           ("cws load (s)", r["load_s"]), ("cws peak RSS (MB)", r["peak_rss_mb"]),
                           ("cws F1", r["score"]["F1"])):
            rows.setdefault(key, []).append(value)
        for p in d["peers"]:
            if "chars_per_s" in p:
                # one thread against the peer's one process: the fair figure when the run
                # was pinned to one core (the two-thread figure then measures nothing)
                rows.setdefault(f"cws cut_many 1 thread / {p['name']} same run", []).append(
                    r["chars_per_s_t1"] / p["chars_per_s"])
                rows.setdefault(f"cws cut_many 2 threads / {p['name']} same run", []).append(
                    r["chars_per_s_t2"] / p["chars_per_s"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    args = ap.parse_args()
    print(f"| measure | {args.before}: median (rounds) | {args.after}: median (rounds) | after/before |")
    print("|---|---|---|---|")
    for script, rows in (("lstm_speed", lstm_rows), ("cws_bench", cws_rows)):
        before, after = rows(runs(script, args.before)), rows(runs(script, args.after))
        for key in before:
            if key not in after:
                continue
            b, a = statistics.median(before[key]), statistics.median(after[key])
            fmt = (lambda v: f"{v:.4f}") if abs(b) < 10 else (lambda v: f"{v:,.1f}")
            print(f"| {key} | {fmt(b)} ({', '.join(map(fmt, before[key]))}) | {fmt(a)} ({', '.join(map(fmt, after[key]))}) "
                  f"| {a / b:.3f} |")


if __name__ == "__main__":
    main()
