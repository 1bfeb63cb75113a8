#!/usr/bin/env python3
"""Accuracy of int8-quantized models against their float32 originals (issue 18's bar:
every task model within 0.2 points of its float32 score; the LSTM within a documented
bound). docs/QUANTIZATION.md records the figures.

Usage:
    python3 bench/quant_accuracy.py [--cache DIR] [--model PATH] [--out FILE]

Runs the installed Python package (pip install ./bindings/python):
- the large bundled tokenizer (models/tokenizer-pku-large.safetensors, float16; or --model): F1, P, R and
  OOV recall on the People's Daily test split (bench/cws_data.py's data-cache/cws),
  scored by bench/cws_score.py, float32 and after quantize(); the int8 file's size; one
  timed pass of each at two threads (a side figure: run cws_bench.py for speed);
- the raw LSTM and GRU at C1's and C2's shapes (PyTorch's initialisation, inputs
  uniform in [-1, 1]): max |y_int8 - y_f32|.
- with --train (a few minutes): small task models trained here on the train splits the
  other benches cache in data-cache/ (--data): text classifiers on the
  English and Chinese reviews (bench/text_data.py; test accuracy), an image classifier
  on Fashion-MNIST (bench/image_data.py: rows LSTM, the first 10,000 training images, 2
  epochs; test accuracy) and a forecaster on Airline (bench/forecast_bench.py's split:
  train 70 %, scored from the test start; MASE and sMAPE). No model other than the
  tokenizer is bundled or recorded, so these are quick ones: the bar compares each with
  its own int8 form, not with the best model of its kind.
Each int8 model is scored as a user loads it: quantize(), save, load.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import cws_score  # noqa: E402


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def tokenizer(args):
    import lstmkit
    raw = read_lines(os.path.join(args.cache, "test.raw.txt"))
    gold = read_lines(os.path.join(args.cache, "test.txt"))
    vocab = cws_score.load_vocab(os.path.join(args.cache, "train.words.txt"))
    chars = sum(len(line) for line in raw)
    print(f"test split: {len(raw)} lines, {chars} characters", flush=True)
    tok = lstmkit.Tokenizer.load(args.model)
    rec = {"model": os.path.relpath(args.model, REPO), "float32_bytes": os.path.getsize(args.model)}
    for form in ("float32", "int8"):
        if form == "int8":
            tok.quantize()
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "int8.safetensors")
                tok.save(path)
                rec["int8_bytes"] = os.path.getsize(path)
                tok = lstmkit.Tokenizer.load(path)  # score the file as a user loads it
        t0 = time.perf_counter()
        words = tok.cut_many(raw, threads=2)
        seconds = time.perf_counter() - t0
        pred = [" ".join(w for w in ws if not w.isspace()) for ws in words]
        s = cws_score.score(gold, pred, vocab)
        rec[form] = {"F1": s["F1"], "P": s["P"], "R": s["R"], "oov_recall": s["oov_recall"],
                     "chars_per_s_t2": chars / seconds}
        print(f"tokenizer {form:7}  F1 {s['F1']:.4f}  P {s['P']:.4f}  R {s['R']:.4f}  OOV recall "
              f"{s['oov_recall']:.4f}  ({chars / seconds:,.0f} chars/s at 2 threads, one pass)", flush=True)
    rec["f1_points_lost"] = 100 * (rec["float32"]["F1"] - rec["int8"]["F1"])
    print(f"tokenizer: int8 F1 - float32 F1 = {-rec['f1_points_lost']:+.3f} points (bar: within 0.2); "
          f"file {rec['float32_bytes'] / 1e6:.1f} MB -> {rec['int8_bytes'] / 1e6:.1f} MB", flush=True)
    return rec


def int8_of(model, tmp):
    """The model quantized, through its file."""
    path = os.path.join(tmp, "int8.safetensors")
    model.quantize()
    model.save(path)
    return type(model).load(path)


def read_tsv(path):
    labels, texts = zip(*(line.split("\t", 1) for line in read_lines(path) if line))
    return list(texts), list(labels)


def trained(args):
    import lstmkit
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "zh"):
            d = os.path.join(args.data, "text", lang)
            train, dev, test = (read_tsv(os.path.join(d, f"{s}.tsv")) for s in ("train", "dev", "test"))
            t0 = time.perf_counter()
            clf = lstmkit.TextClassifier(embedding_dim=64, hidden_size=64, seed=1)
            clf.fit(*train, validation_data=dev, epochs=3, progress=False)
            rec = {"train_s": time.perf_counter() - t0, "float32": clf.evaluate(*test, threads=2)["accuracy"]}
            rec["int8"] = int8_of(clf, tmp).evaluate(*test, threads=2)["accuracy"]
            out[f"text_classifier_{lang}"] = rec
            report(f"text classifier ({lang}) accuracy", rec)
        d = os.path.join(args.data, "fashion")
        x, y = (np.load(os.path.join(d, f"train_{k}.npy")) for k in ("images", "labels"))
        dev = tuple(np.load(os.path.join(d, f"dev_{k}.npy")) for k in ("images", "labels"))
        test = tuple(np.load(os.path.join(d, f"test_{k}.npy")) for k in ("images", "labels"))
        t0 = time.perf_counter()
        img = lstmkit.ImageClassifier(kind="rows", hidden_size=64, seed=1)
        img.fit(x[:10000], y[:10000], validation_data=dev, epochs=2, verbose=False)
        rec = {"train_s": time.perf_counter() - t0, "float32": img.evaluate(*test, threads=2)["accuracy"]}
        rec["int8"] = int8_of(img, tmp).evaluate(*test, threads=2)["accuracy"]
        out["image_classifier_fashion"] = rec
        report("image classifier (Fashion-MNIST rows) accuracy", rec)
        series = np.loadtxt(os.path.join(args.data, "forecast", "airline.txt")).astype(np.float32)
        train_end, test_start = int(round(len(series) * 0.70)), int(round(len(series) * 0.85))
        f = lstmkit.Forecaster(context=24, horizon=12, season=12, seed=1)
        f.fit(series[:test_start], verbose=False)
        rec = {"float32": f.evaluate(series, start=test_start, season=12, threads=1)}
        rec["int8"] = int8_of(f, tmp).evaluate(series, start=test_start, season=12, threads=1)
        out["forecaster_airline"] = rec
        print(f"forecaster (Airline): float32 {rec['float32']}\n                      int8    {rec['int8']}", flush=True)
    return out


def report(what, rec):
    print(f"{what}: float32 {rec['float32']:.4f}  int8 {rec['int8']:.4f}  "
          f"({100 * (rec['int8'] - rec['float32']):+.2f} points; bar: within 0.2)", flush=True)


def recurrent():
    import lstmkit
    shapes = {"C1": dict(d=128, h=256, layers=1, bidir=False, b=1, t=50),
              "C2": dict(d=128, h=256, layers=2, bidir=True, b=8, t=20)}
    out = {}
    rng = np.random.default_rng(0)
    for cls in (lstmkit.LSTM, lstmkit.GRU):
        for name, s in shapes.items():
            layer = cls(s["d"], s["h"], num_layers=s["layers"], bidirectional=s["bidir"], seed=1)
            x = rng.uniform(-1, 1, (s["b"], s["t"], s["d"])).astype(np.float32)
            y32 = layer(x)[0]
            y8 = layer.quantize()(x)[0]
            err = float(np.max(np.abs(y8 - y32)))
            out[f"{cls.__name__} {name}"] = err
            print(f"{cls.__name__:4} {name}: max |y_int8 - y_f32| = {err:.4f}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=os.path.join(REPO, "data-cache", "cws"))
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tokenizer-pku-large.safetensors"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "quant_accuracy.json"))
    ap.add_argument("--train", action="store_true", help="also train and score small task models (minutes)")
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache"), help="the benches' data-cache (with --train)")
    args = ap.parse_args()
    for name in ("test.raw.txt", "test.txt", "train.words.txt"):
        if not os.path.exists(os.path.join(args.cache, name)):
            sys.exit(f"{args.cache}/{name} is missing: run python3 bench/cws_data.py first")
    import lstmkit
    print(f"lstmkit {lstmkit.__version__}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {"load_average_start": os.getloadavg()[0], "tokenizer": tokenizer(args), "recurrent": recurrent()}
    if args.train:
        results["trained"] = trained(args)
    write_results(results, args.out)


def write_results(results, out):
    """The run's results as JSON at `out`, with the load average at its end."""
    results["load_average_end"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {os.path.relpath(out, REPO)}")


if __name__ == "__main__":
    main()
