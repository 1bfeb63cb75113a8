#!/usr/bin/env python3
"""The LSTM image classifiers' benchmark on Fashion-MNIST (official split, dev = last
5,000 of train): LSTMKit's row LSTM and CNN+LSTM trained by the CLI for a fixed time on
one thread, with the PyTorch equivalent (bench/image_peers.py) trained for the same time
on the other core in the same run; test accuracy and macro-F1 of the best dev epoch;
LSTMKit's prediction throughput (images/s, median of 3) at 1 and 2 threads.

Usage:
    python3 bench/image_bench.py [--kinds rows,cnn] [--minutes 26] [--no-peer] [--cli PATH]
                                 [-- extra train-classifier options]
    python3 bench/image_bench.py --eval-only   # re-measure the trained models (accuracy,
                                               # throughput) with the current CLI

Needs Debian's dataset-fashion-mnist and the release CLI (`swift build -c release
--product lstmkit-cli`). Writes bench/results/image_bench.json. OPENBLAS_CORETYPE is
unset for every engine, as on a user's machine.
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
CACHE = os.path.join(REPO, "data-cache", "fashion")


def engine_env(threads):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def evaluate(cli, model, threads):
    out = subprocess.run([cli, "eval-classifier", f"{CACHE}/test_images.npy", "--labels", f"{CACHE}/test_labels.npy",
                          "--model", model, "--threads", str(threads)],
                         check=True, env=engine_env(threads), capture_output=True, text=True).stdout
    return (float(re.search(r"accuracy ([\d.]+)", out).group(1)) / 100,
            float(re.search(r"macro-F1 ([\d.]+)", out).group(1)) / 100,
            float(re.search(r"([\d.]+) images/s", out).group(1)))


def measure(cli, model):
    """Test accuracy and macro-F1, and the median throughput of 3 runs at 1 and 2 threads."""
    accuracy, macro_f1, _ = evaluate(cli, model, 2)
    speed = {t: statistics.median(evaluate(cli, model, t)[2] for _ in range(3)) for t in (1, 2)}
    return accuracy, macro_f1, speed


def run_kind(args, kind, workdir):
    model = os.path.join(workdir, f"fashion-{kind}.safetensors")
    log_path = os.path.join(workdir, f"fashion-{kind}.log")
    train = [args.cli, "train-classifier", "--kind", kind,
             "--train", f"{CACHE}/train_images.npy", "--train-labels", f"{CACHE}/train_labels.npy",
             "--dev", f"{CACHE}/dev_images.npy", "--dev-labels", f"{CACHE}/dev_labels.npy",
             "--output", model, "--threads", "1", "--epochs", "40", "--time-limit", str(args.minutes), *args.extra]
    print(f"[{kind}] " + " ".join(train[1:]), flush=True)
    peer_json = os.path.join(workdir, f"fashion-{kind}-torch.json")
    peer = None
    if not args.no_peer:
        peer = subprocess.Popen([sys.executable, os.path.join(HERE, "image_peers.py"), "--kind", kind, "--minutes",
                                 str(args.minutes), "--threads", "1", "--out", peer_json],
                                env=engine_env(1), stdout=open(log_path + ".torch", "w"), stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        subprocess.run(train, check=True, env=engine_env(1), stdout=log, stderr=subprocess.STDOUT)
    train_s = time.perf_counter() - t0
    epochs = sum(1 for line in open(log_path) if " done in " in line)
    if peer:
        peer.wait()
    accuracy, macro_f1, speed = measure(args.cli, model)
    result = {"kind": kind, "test_accuracy": accuracy, "test_macro_f1": macro_f1, "train_s": train_s, "epochs": epochs,
              "images_per_s": {"1": speed[1], "2": speed[2]}, "command": train[1:], "model_bytes": os.path.getsize(model)}
    if peer:
        with open(peer_json) as f:
            result["torch"] = json.load(f)
    torch_text = (f"; torch same time: {result['torch']['test_accuracy']:.4f} ({result['torch']['train_s']:.0f} s)"
                  if peer else "")
    print(f"[{kind}] test accuracy {accuracy:.4f}, macro-F1 {macro_f1:.4f}, {epochs} epochs in {train_s:.0f} s; "
          f"{speed[1]:.0f} images/s on 1 thread, {speed[2]:.0f} on 2{torch_text}", flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default="rows,cnn")
    ap.add_argument("--minutes", type=float, default=26)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--cli", default=os.path.join(REPO, ".build", "release", "lstmkit-cli"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "data-cache", "image-models"))
    ap.add_argument("--eval-only", action="store_true", help="re-measure the models of the last run")
    ap.add_argument("extra", nargs="*", help="options passed on to train-classifier")
    args = ap.parse_args()
    results_path = os.path.join(HERE, "results", "image_bench.json")
    if not os.path.exists(f"{CACHE}/test_labels.npy"):
        subprocess.run([sys.executable, os.path.join(HERE, "image_data.py")], check=True)
    os.makedirs(args.workdir, exist_ok=True)
    if args.eval_only:
        with open(results_path) as f:
            report = json.load(f)
        for r in report["results"]:
            model = os.path.join(args.workdir, f"fashion-{r['kind']}.safetensors")
            accuracy, macro_f1, speed = measure(args.cli, model)
            assert abs(accuracy - r["test_accuracy"]) < 0.002, f"{model} is not the model of the last run"
            r.update(test_accuracy=accuracy, test_macro_f1=macro_f1, images_per_s={"1": speed[1], "2": speed[2]})
    else:
        report = {"minutes": args.minutes, "results": [run_kind(args, k, args.workdir) for k in args.kinds.split(",")]}
    print("\n| model | test accuracy | macro-F1 | training | images/s t1 | images/s t2 | torch, same time |")
    print("|---|---|---|---|---|---|---|")
    for r in report["results"]:
        t = r.get("torch")
        print(f"| {r['kind']} | {r['test_accuracy'] * 100:.2f} % | {r['test_macro_f1'] * 100:.2f} % | {r['train_s'] / 60:.1f} min "
              f"| {r['images_per_s']['1']:.0f} | {r['images_per_s']['2']:.0f} | "
              + (f"{t['test_accuracy'] * 100:.2f} % |" if t else "– |"))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(results_path, "w") as f:
        json.dump(report, f, indent=1)
    print("wrote bench/results/image_bench.json")


if __name__ == "__main__":
    main()
