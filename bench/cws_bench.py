#!/usr/bin/env python3
"""The word segmenter's benchmark: accuracy, speed and memory on the test split,
with the peers measured in the same run.

Usage:
    python3 bench/cws_bench.py [--model PATH] [--cache DIR] [--peers pkuseg,fmm,...]
                               [--repeat N] [--out FILE] [--max-isa avx2]

Runs LSTMKit's Tokenizer (the Python binding, as installed by `pip install
./bindings/python`) on test.raw.txt of the fixed People's Daily split (made by
bench/cws_data.py), scores it with bench/cws_score.py against test.txt and the training
words, and reports:
  - P, R, F1, OOV recall, IV recall;
  - cut_many throughput (characters/s) with 1 and 2 threads, the median of --repeat
    runs, model already loaded;
  - model load time; peak resident memory of a process that loads the model and
    segments the whole test split (measured in a child process);
then runs the peers (default: pkuseg and forward maximum matching, via
bench/cws_peers.py) in the same run.

OpenBLAS: this machine exports OPENBLAS_CORETYPE=Haswell, which pins OpenBLAS to its
AVX2 kernels; a user's machine picks its best (AVX-512 here). The script re-executes
itself without that variable so the figures are what users get. --max-isa avx2 (or
plain) instead runs a smaller machine's paths on this one: LSTMKIT_MAX_ISA for LSTMKit's
kernels, OPENBLAS_CORETYPE=Haswell (Prescott) for OpenBLAS's (docs/PERFORMANCE.md,
"Kernels"); the results record the kernels that ran (lstmkit.kernels()).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

#: OpenBLAS's core for a --max-isa cap.
OPENBLAS_CORE_FOR = {"avx2": "Haswell", "plain": "Prescott"}


def set_kernels(argv):
    """Re-executes the script, before anything loads OpenBLAS, in the environment its
    kernels need: OPENBLAS_CORETYPE unset (OpenBLAS picks its best core, as users get),
    or with `--max-isa ISA` in argv LSTMKIT_MAX_ISA=ISA and OpenBLAS's matching core.
    Child processes inherit it."""
    isa = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--max-isa"), None)
    if isa is not None and isa not in OPENBLAS_CORE_FOR:
        sys.exit(f"--max-isa must be one of {', '.join(OPENBLAS_CORE_FOR)}, got {isa!r}")
    want = {"LSTMKIT_MAX_ISA": isa, "OPENBLAS_CORETYPE": OPENBLAS_CORE_FOR.get(isa)}
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    env = {k: v for k, v in os.environ.items() if k not in want}
    env.update({k: v for k, v in want.items() if v is not None})
    print(f"(re-running with {' '.join(f'{k}={v}' for k, v in want.items() if v) or 'OPENBLAS_CORETYPE unset'}, "
          f"so {'the kernels are capped' if isa else 'OpenBLAS picks its own kernels'})", flush=True)
    os.execve(sys.executable, [sys.executable] + argv, env)


if "--child" not in sys.argv:
    set_kernels(sys.argv)

import cws_score  # noqa: E402

DEFAULT_MODEL = os.path.join(REPO, "models", "tokenizer-pku.safetensors")
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "cws")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def child(args):
    """Load, segment the test split once, report timings and peak memory as JSON."""
    import lstmkit
    lstmkit.set_num_threads(1)  # workers split the batches; BLAS stays single-threaded
    raw = read_lines(os.path.join(args.cache, "test.raw.txt"))
    t0 = time.perf_counter()
    tok = lstmkit.Tokenizer.load(args.model)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    words = tok.cut_many(raw, threads=2)
    seg_s = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"load_s": load_s, "seg_s": seg_s, "peak_rss_mb": peak_kb / 1024,
                      "lines": [" ".join(w for w in ws if not w.isspace()) for ws in words]}))


def measure_lstmkit(args, raw, gold, vocab, nchars):
    import lstmkit
    lstmkit.set_num_threads(1)
    out = subprocess.run([sys.executable, __file__, "--child", "--model", args.model, "--cache", args.cache],
                         check=True, capture_output=True, text=True)
    first = json.loads(out.stdout)
    tok = lstmkit.Tokenizer.load(args.model)
    rec = {"name": "lstmkit", "version": lstmkit.__version__, "kernels": lstmkit.kernels(),
           "model": os.path.relpath(args.model, REPO),
           "model_mb": os.path.getsize(args.model) / 1e6,
           "load_s": first["load_s"], "peak_rss_mb": first["peak_rss_mb"]}
    for threads in (1, 2):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            words = tok.cut_many(raw, threads=threads)
            times.append(time.perf_counter() - t0)
        rec[f"chars_per_s_t{threads}"] = nchars / statistics.median(times)
        rec[f"seg_s_t{threads}_runs"] = times
    pred = [" ".join(w for w in ws if not w.isspace()) for ws in words]
    if pred != first["lines"]:
        raise RuntimeError("the child process segmented differently")
    rec["score"] = cws_score.score(gold, pred, vocab)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--peers", default="pkuseg,fmm", help="comma-separated, from bench/cws_peers.py; '' for none")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cws_bench.json"))
    ap.add_argument("--max-isa", choices=sorted(OPENBLAS_CORE_FOR), help="run a smaller machine's kernels (set_kernels)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    for name in ("test.raw.txt", "test.txt", "train.words.txt"):
        if not os.path.exists(os.path.join(args.cache, name)):
            sys.exit(f"{args.cache}/{name} is missing: run python3 bench/cws_data.py first")
    raw = read_lines(os.path.join(args.cache, "test.raw.txt"))
    gold = read_lines(os.path.join(args.cache, "test.txt"))
    vocab = cws_score.load_vocab(os.path.join(args.cache, "train.words.txt"))
    nchars = sum(len(l) for l in raw)
    print(f"test split: {len(raw)} lines, {nchars} characters; machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)

    results = {"lstmkit": measure_lstmkit(args, raw, gold, vocab, nchars), "peers": []}
    r = results["lstmkit"]
    s = r["score"]
    print(f"lstmkit  F1 {s['F1']:.4f}  P {s['P']:.4f}  R {s['R']:.4f}  OOV recall {s['oov_recall']:.4f}  "
          f"IV recall {s['iv_recall']:.4f}", flush=True)
    print(f"lstmkit  {r['chars_per_s_t1']:,.0f} chars/s (1 thread)  {r['chars_per_s_t2']:,.0f} chars/s (2 threads)  "
          f"load {r['load_s']:.3f} s  peak RSS {r['peak_rss_mb']:.0f} MB  model {r['model_mb']:.1f} MB", flush=True)

    if args.peers:
        import cws_peers
        results["peers"] = cws_peers.run_peers(args.peers, args.cache, args.repeat, raw, gold, vocab, nchars)
        for p in results["peers"]:
            if "error" in p:
                continue
            best = max(p["chars_per_s"], p.get("parallel", {}).get("chars_per_s", 0))
            print(f"ratio lstmkit(2 threads) / {p['name']}(best of 1 and 2 processes): "
                  f"{r['chars_per_s_t2'] / best:.2f}x speed, F1 {s['F1'] - p['score']['F1']:+.4f}")
    write_results(results, args.out)


def write_results(results, out):
    """The run's results as JSON at `out`, with the load average at its end."""
    results["load_average_end"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
