"""Do two builds train the same model? Trains with each build's CLI on the same slice of
the data, seeded, on one thread, and compares the two model files tensor by tensor
(and their metadata) and their scores on a test slice.

    python3 bench/same_training.py --before OLD/lstmkit-cli --after NEW/lstmkit-cli \
        --task cnn|segmenter-plateau|segmenter-cosine [--train N --dev N --test N --epochs E]

For issue 16's retraining bar where a recorded run ends on the clock (CNN+LSTM image
classifier, segmenter): a time-limited rerun on a slower or loaded machine trains fewer
epochs, so it cannot show the trainer unchanged; identical weights after the same
epochs can. Data: data-cache/fashion (bench/image_data.py) and data-cache/seg/base
(bench/seg_data.py --variant base). Prints one JSON object; exit 1 if anything differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = {
    "cnn": ("fashion", ("images", "labels")),
    "segmenter-plateau": ("seg/base", ("images", "masks")),
    "segmenter-cosine": ("seg/base", ("images", "masks")),
}


def tensors(path: str) -> tuple[dict, dict]:
    """(metadata, {name: raw bytes}) of a safetensors file."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    return meta, {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def run(cli: str, task: str, d: str, out: str, epochs: int) -> tuple[str, str]:
    """Trains and scores with one build; returns (model path, score lines)."""
    model = os.path.join(out, "model.safetensors")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    common = ["--threads", "1", "--epochs", str(epochs), "--seed", "1", "--output", model]
    if task == "cnn":
        train = [cli, "train-classifier", "--kind", "cnn", "--train", f"{d}/train_images.npy", "--train-labels",
                 f"{d}/train_labels.npy", "--dev", f"{d}/dev_images.npy", "--dev-labels", f"{d}/dev_labels.npy"]
        score = [cli, "eval-classifier", f"{d}/test_images.npy", "--model", model, "--labels", f"{d}/test_labels.npy"]
    else:
        train = [cli, "train-segmenter", "--train", f"{d}/train_images.npy", "--train-masks", f"{d}/train_masks.npy",
                 "--dev", f"{d}/dev_images.npy", "--dev-masks", f"{d}/dev_masks.npy", "--schedule", task.split("-")[1]]
        score = [cli, "eval-segmenter", f"{d}/test_images.npy", "--masks", f"{d}/test_masks.npy", "--model", model]
    subprocess.run(train + common, check=True, env=env, stdout=subprocess.DEVNULL)
    lines = subprocess.run(score + ["--threads", "1"], check=True, env=env, stdout=subprocess.PIPE, text=True).stdout
    return model, "\n".join(line for line in lines.splitlines() if "/s" not in line)   # drop the speed line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--task", choices=sorted(TASKS), required=True)
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--dev", type=int, default=1000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    source, kinds = TASKS[args.task]
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        for split, n in (("train", args.train), ("dev", args.dev), ("test", args.test)):
            for kind in kinds:
                x = np.load(os.path.join(REPO, "data-cache", source, f"{split}_{kind}.npy"))
                np.save(os.path.join(data, f"{split}_{kind}.npy"), x[:n])
        results = {}
        for build in ("before", "after"):
            out = os.path.join(tmp, build)
            os.mkdir(out)
            model, scores = run(getattr(args, build), args.task, data, out, args.epochs)
            results[build] = (tensors(model), scores)
        (meta_b, t_b), scores_b = results["before"]
        (meta_a, t_a), scores_a = results["after"]
        report = {
            "task": args.task, "train": args.train, "dev": args.dev, "test": args.test, "epochs": args.epochs,
            "tensors": len(t_b), "same_names": sorted(t_b) == sorted(t_a),
            "identical_tensors": sum(t_b[k] == t_a.get(k) for k in t_b),
            "metadata_differences": {k: [meta_b.get(k), meta_a.get(k)] for k in set(meta_b) | set(meta_a)
                                     if meta_b.get(k) != meta_a.get(k)},
            # as numbers: builds may print them with different decimals (76.1 vs 76.10)
            "same_scores": numbers(scores_b) == numbers(scores_a), "scores": scores_a.splitlines()[:2],
        }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    same = report["same_names"] and report["identical_tensors"] == report["tensors"] and report["same_scores"]
    sys.exit(0 if same and not report["metadata_differences"] else 1)


if __name__ == "__main__":
    main()
