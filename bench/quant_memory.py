#!/usr/bin/env python3
"""Resident memory of a tokenizer, float32 against its int8 form (issue 18: an int8 model
should take about a quarter of the float model's memory, not more).

Usage:
    python3 bench/quant_memory.py [--model PATH] [--cache DIR | --text FILE] [--lines N] [--out FILE]

Runs the installed Python package (pip install ./bindings/python). The int8 file is the
model quantized by the package (quantize(), save) into a temporary directory. Each model
is measured in a fresh process: VmRSS from /proc/self/status after `import lstmkit`, after
Tokenizer.load and after cutting the first N lines of the text (default: the raw PKU test
split in --cache, data-cache/cws, if bench/cws_data.py fetched it, else Tests/Fixtures/cws/test.txt),
and VmHWM (the peak). The model's memory is RSS after segmenting minus RSS after the
import. Linux only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CHILD = r"""
import json, sys
def status():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}
import lstmkit
out = {"import": status()}
tok = lstmkit.Tokenizer.load(sys.argv[1])
out["load"] = status()
lines = [l.strip().replace(" ", "") for l in open(sys.argv[2], encoding="utf-8")][: int(sys.argv[3])]
chars = sum(len(l) for l in lines)
for l in lines:
    tok.cut(l)
out["segment"] = status()
out["characters"] = chars
print(json.dumps(out))
"""


def measure(model, text, lines):
    r = subprocess.run([sys.executable, "-c", CHILD, model, text, str(lines)], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tokenizer-pku-large.safetensors"))
    ap.add_argument("--text", default=None, help="UTF-8 text, one sentence a line (spaces are removed)")
    ap.add_argument("--cache", default=os.path.join(REPO, "data-cache", "cws"), help="bench/cws_data.py's cache")
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    text = args.text
    if text is None:
        cached = os.path.join(args.cache, "test.raw.txt")
        text = cached if os.path.exists(cached) else os.path.join(REPO, "Tests", "Fixtures", "cws", "test.txt")
    import lstmkit
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        int8 = os.path.join(tmp, "int8.safetensors")
        lstmkit.Tokenizer.load(args.model).quantize().save(int8)
        for name, path in (("float32", args.model), ("int8", int8)):
            m = measure(path, text, args.lines)
            m["file_bytes"] = os.path.getsize(path)
            m["model_kib"] = m["segment"]["VmRSS"] - m["import"]["VmRSS"]
            results[name] = m
            print(f"{name:8s} file {m['file_bytes'] / 1e6:5.1f} MB  RSS: import {m['import']['VmRSS'] / 1024:6.1f} MiB, "
                  f"+load {(m['load']['VmRSS'] - m['import']['VmRSS']) / 1024:6.1f}, "
                  f"+segment ({m['characters']} chars) {m['model_kib'] / 1024:6.1f} MiB; peak {m['segment']['VmHWM'] / 1024:6.1f} MiB",
                  flush=True)
    ratio = results["int8"]["model_kib"] / results["float32"]["model_kib"]
    print(f"int8 / float32 memory after load + segment: {ratio:.2f}")
    results.update(model=args.model, text=text, lines=args.lines, ratio=ratio, lstmkit=lstmkit.__file__)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
