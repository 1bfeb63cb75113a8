#!/usr/bin/env python3
"""The image segmenter's benchmark (issue 5) on the canvases of bench/seg_data.py: the LSTM
model and its conv ablation (`--context conv`) trained by the CLI concurrently, one thread
each (`--train-threads`), for the same time; then each scored on the test split (mean IoU, pixel accuracy, IoU
per class) and its prediction throughput measured (64x64 images/s, median of 3, at 1 and
2 threads). With --peer, bench/seg_peers.py (the same network in PyTorch) then trains both
contexts the same way for the same time.

Usage:
    python3 bench/seg_bench.py --variant big|base [--minutes 42] [--peer] [--train-size N]
                               [--contexts lstm,conv] [--tag NAME] [--no-speed] [--cli PATH]
                               [--train-threads N]
                               [-- extra train-segmenter options, e.g. --schedule cosine]

The bars: "big" LSTM test mean IoU >= 0.62 and >= 0.06 above the ablation; "base" LSTM
>= 0.70; each model trained within 45 minutes (--minutes is the trainer's time limit: the
epoch under way stops there, then the dev set is scored and the model written).
Generates the canvases if missing (bench/seg_data.py). Needs the release CLI (`swift build
-c release --product lstmkit-cli`). OPENBLAS_CORETYPE is unset for every engine, as on a
user's machine. Writes bench/results/seg_bench_<variant>.json (seg_bench_<variant>-<N>.json
with --train-size N, -<NAME> added with --tag); models and logs go to
data-cache/seg-models/<variant>/. --contexts lstm trains the LSTM model alone (then no
comparison with the ablation is made).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "data-cache", "seg")
CONTEXTS = ("lstm", "conv")
BUDGET_S = 45 * 60


def engine_env(threads):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def git_head():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def ensure_data(variant):
    folder = os.path.join(DATA, variant)
    if not all(os.path.exists(f"{folder}/{split}_{kind}.npy") for split in ("train", "dev", "test") for kind in ("images", "masks")):
        subprocess.run([sys.executable, os.path.join(HERE, "seg_data.py"), "--variant", variant], check=True)
    return folder


def training_set(folder, workdir, size):
    """The training images and masks: the full files, or their first `size` canvases."""
    if not size:
        return f"{folder}/train_images.npy", f"{folder}/train_masks.npy"
    paths = [os.path.join(workdir, f"train_{kind}_{size}.npy") for kind in ("images", "masks")]
    for kind, path in zip(("images", "masks"), paths):
        if not os.path.exists(path):
            full = np.load(f"{folder}/train_{kind}.npy", mmap_mode="r")
            if size > len(full):
                sys.exit(f"--train-size {size} is larger than the {len(full)} training canvases")
            np.save(path, np.ascontiguousarray(full[:size]))
    return paths[0], paths[1]


def train_all(commands, logs, env):
    """Runs the commands concurrently; returns each one's wall time in seconds."""
    started, running, seconds = time.perf_counter(), {}, {}
    for name, command in commands.items():
        running[name] = subprocess.Popen(command, env=env, stdout=open(logs[name], "w"), stderr=subprocess.STDOUT)
    while running:
        for name, process in list(running.items()):
            if process.poll() is not None:
                seconds[name] = time.perf_counter() - started
                del running[name]
                if process.returncode != 0:
                    sys.exit(f"{name} failed (exit {process.returncode}); see {logs[name]}")
        time.sleep(0.5)
    return seconds


def read_log(path):
    """Epochs, training images/s per epoch and the best dev mean IoU from a train-segmenter log."""
    epochs = [line for line in open(path) if re.match(r"epoch \d+ done in", line)]
    speeds = [int(re.search(r"\((\d+) images/s\)", line).group(1)) for line in epochs]
    ious = [float(re.search(r"mean IoU ([\d.]+)", line).group(1)) / 100 for line in epochs]
    return {"epochs": len(epochs), "train_images_per_s": speeds, "dev_mean_iou": max(ious) if ious else None,
            "stopped_by_time_limit": any("time limit" in line for line in open(path))}


def evaluate(cli, model, images, masks, threads):
    out = subprocess.run([cli, "eval-segmenter", images, "--masks", masks, "--model", model, "--threads", str(threads)],
                         check=True, env=engine_env(threads), capture_output=True, text=True).stdout
    iou = {int(c): (None if v == "n/a" else float(v) / 100) for c, v in re.findall(r"^\s+(\d+): (n/a|[\d.]+)", out, re.M)}
    return {"images_per_s": float(re.search(r"([\d.]+) images/s", out).group(1)),
            "pixel_accuracy": float(re.search(r"pixel accuracy ([\d.]+)", out).group(1)) / 100,
            "mean_iou": float(re.search(r"mean IoU ([\d.]+)", out).group(1)) / 100,
            "iou": [iou[c] for c in sorted(iou)]}


def measure(cli, model, folder, speed=True):
    """Test scores, and (with `speed`) the median throughput of 3 runs at 1 and 2 threads."""
    images, masks = f"{folder}/test_images.npy", f"{folder}/test_masks.npy"
    scores = evaluate(cli, model, images, masks, 2)
    result = {"test_mean_iou": scores["mean_iou"], "test_pixel_accuracy": scores["pixel_accuracy"], "test_iou": scores["iou"],
              "images_per_s": {"1": float("nan"), "2": float("nan")}}
    if speed:
        result["images_per_s"] = {str(t): statistics.median(evaluate(cli, model, images, masks, t)["images_per_s"] for _ in range(3))
                                  for t in (1, 2)}
    return result


def bars(variant, results):
    """The issue's bars this run can check (the comparison needs both models)."""
    met = {"trained_within_45_min": all(r["train_s"] <= BUDGET_S for r in results.values())}
    if "lstm" in results:
        floor = 0.62 if variant == "big" else 0.70
        met[f"lstm_mean_iou_at_least_{floor}"] = results["lstm"]["test_mean_iou"] >= floor
    if variant == "big" and len(results) == 2:
        met["lstm_beats_conv_by_0.06"] = results["lstm"]["test_mean_iou"] - results["conv"]["test_mean_iou"] >= 0.06
    return met


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=["base", "big"], required=True)
    ap.add_argument("--minutes", type=float, default=42, help="training time limit of each model")
    ap.add_argument("--peer", action="store_true", help="then train the PyTorch equivalent for the same time")
    ap.add_argument("--train-size", type=int, help="use only the first N training canvases (quick checks)")
    ap.add_argument("--contexts", default="lstm,conv", help="which models to train: lstm, conv or both")
    ap.add_argument("--no-speed", action="store_true",
                    help="skip the throughput measurement (when another job shares the machine)")
    ap.add_argument("--train-threads", type=int, default=1,
                    help="threads for each training (default 1: the models train side by side, one core each)")
    ap.add_argument("--tag", help="names this run's models and results (e.g. a schedule tried), so no run replaces another")
    ap.add_argument("--cli", default=os.path.join(REPO, ".build", "release", "lstmkit-cli"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "data-cache", "seg-models"))
    ap.add_argument("extra", nargs="*", help="options passed on to train-segmenter")
    args = ap.parse_args()
    if not os.path.exists(args.cli):
        sys.exit(f"{args.cli} not found: build it with `swift build -c release --product lstmkit-cli` (or pass --cli)")
    folder = ensure_data(args.variant)
    workdir = os.path.join(args.workdir, args.variant)
    os.makedirs(workdir, exist_ok=True)
    train_images, train_masks = training_set(folder, workdir, args.train_size)
    contexts = [c for c in CONTEXTS if c in args.contexts.split(",")]
    if not contexts or set(args.contexts.split(",")) - set(CONTEXTS):
        sys.exit(f"--contexts must name lstm, conv or both, got {args.contexts}")
    suffix = (f"-{args.train_size}" if args.train_size else "") + (f"-{args.tag}" if args.tag else "")
    models = {c: os.path.join(workdir, f"seg-{c}{suffix}.safetensors") for c in contexts}
    logs = {c: os.path.join(workdir, f"seg-{c}{suffix}.log") for c in contexts}
    commands = {c: [args.cli, "train-segmenter", "--train", train_images, "--train-masks", train_masks,
                    "--dev", f"{folder}/dev_images.npy", "--dev-masks", f"{folder}/dev_masks.npy",
                    "--output", models[c], "--context", c, "--num-classes", "11", "--epochs", "1000",
                    "--time-limit", str(args.minutes), "--threads", str(args.train_threads), "--log-every", "250", *args.extra]
                for c in contexts}
    for c in contexts:
        print(f"[{args.variant} {c}] OPENBLAS_NUM_THREADS={args.train_threads} " + " ".join(commands[c]), flush=True)
    seconds = train_all(commands, logs, engine_env(args.train_threads))
    results = {}
    for c in contexts:
        results[c] = {"context": c, "train_s": seconds[c], **read_log(logs[c]), **measure(args.cli, models[c], folder, not args.no_speed),
                      "model_bytes": os.path.getsize(models[c]), "command": commands[c][1:]}
        r = results[c]
        print(f"[{args.variant} {c}] test mean IoU {r['test_mean_iou']:.4f}, pixel accuracy {r['test_pixel_accuracy']:.4f}; "
              f"{r['epochs']} epochs in {r['train_s'] / 60:.1f} min; {r['images_per_s']['1']:.0f} images/s on 1 thread, "
              f"{r['images_per_s']['2']:.0f} on 2", flush=True)
    report = {"variant": args.variant, "minutes": args.minutes, "train_size": args.train_size or 20000,
              "train_threads": args.train_threads,
              "head": git_head(), "cli": os.path.relpath(args.cli, REPO), "cpu": cpu_model(), "cores": os.cpu_count(),
              "results": results, "extra_options": args.extra}
    if len(results) == 2:
        report["lstm_minus_conv"] = results["lstm"]["test_mean_iou"] - results["conv"]["test_mean_iou"]
    report["bars"] = bars(args.variant, results)
    if args.peer:
        peer = {}
        outs = {c: os.path.join(workdir, f"torch-{c}{suffix}.json") for c in contexts}
        peer_logs = {c: os.path.join(workdir, f"torch-{c}{suffix}.log") for c in contexts}
        peer_commands = {c: [sys.executable, os.path.join(HERE, "seg_peers.py"), "--variant", args.variant, "--context", c,
                             "--minutes", str(args.minutes), "--threads", "1", "--out", outs[c]]
                         + (["--train-size", str(args.train_size)] if args.train_size else []) for c in contexts}
        for c in contexts:
            print(f"[{args.variant} torch {c}] " + " ".join(peer_commands[c][1:]), flush=True)
        train_all(peer_commands, peer_logs, engine_env(1))
        for c in contexts:
            with open(outs[c]) as f:
                peer[c] = json.load(f)
        report["torch"] = peer

    print(f"\n{args.variant}: {report['train_size']} training canvases, {args.minutes:g} min per model, one thread each\n")
    print("| model | test mean IoU | pixel accuracy | training | epochs | train images/s | images/s t1 | images/s t2 |")
    print("|---|---|---|---|---|---|---|---|")
    for c in contexts:
        r = results[c]
        speed = statistics.median(r["train_images_per_s"]) if r["train_images_per_s"] else float("nan")
        print(f"| LSTMKit {c} | {r['test_mean_iou']:.4f} | {r['test_pixel_accuracy']:.4f} | {r['train_s'] / 60:.1f} min "
              f"| {r['epochs']} | {speed:.0f} | {r['images_per_s']['1']:.0f} | {r['images_per_s']['2']:.0f} |")
    for c, t in report.get("torch", {}).items():
        print(f"| PyTorch {c} | {t['test_mean_iou']:.4f} | {t['test_pixel_accuracy']:.4f} | {t['train_s'] / 60:.1f} min "
              f"| {t['epochs']} | {t['train_images_per_s']:.0f} | – | – |")
    if "lstm_minus_conv" in report:
        print(f"\nLSTM - conv: {report['lstm_minus_conv']:+.4f} mean IoU")
    print(f"per-class test IoU ({' / '.join(contexts)}): " + ", ".join(
        f"{i}: " + " / ".join("–" if results[c]["test_iou"][i] is None else f"{results[c]['test_iou'][i]:.3f}" for c in contexts)
        for i in range(len(results[contexts[0]]["test_iou"]))))
    for bar, ok in report["bars"].items():
        print(f"bar {bar}: {'met' if ok else 'NOT met'}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"seg_bench_{args.variant}{suffix}.json")   # quick checks never replace a run
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
