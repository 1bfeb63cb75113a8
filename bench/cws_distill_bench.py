#!/usr/bin/env python3
"""A distilled tokenizer against the bundled ensemble and jieba, in one run.

Usage:
    python3 bench/cws_distill_bench.py --model STUDENT [--teacher MODEL] [--peers jieba]
                                       [--repeat N] [--out FILE] [--max-isa avx2]

For the student and then the teacher (default: the large bundled ensemble, models/tokenizer-pku-large), as
bench/cws_bench.py measures one model: the test split's P/R/F1/OOV recall and cut_many
throughput on 1 and 2 threads (median of --repeat runs, model loaded); then the peers
(bench/cws_peers.py) in the same process, and the ratios. The test split scores the
student chosen on dev, once. OPENBLAS_CORETYPE is unset as in cws_bench.py; --max-isa avx2
runs an AVX2 machine's paths on this one (cws_bench.set_kernels).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cws_bench  # noqa: E402  (re-executes the script in its kernels' environment: cws_bench.set_kernels)
import cws_score  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the student")
    ap.add_argument("--teacher", default=os.path.join(cws_bench.REPO, "models", "tokenizer-pku-large.safetensors"))
    ap.add_argument("--cache", default=cws_bench.DEFAULT_CACHE)
    ap.add_argument("--peers", default="jieba")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cws_distill_bench.json"))
    ap.add_argument("--max-isa", choices=sorted(cws_bench.OPENBLAS_CORE_FOR), help="run a smaller machine's kernels")
    args = ap.parse_args()
    raw = cws_bench.read_lines(os.path.join(args.cache, "test.raw.txt"))
    gold = cws_bench.read_lines(os.path.join(args.cache, "test.txt"))
    vocab = cws_score.load_vocab(os.path.join(args.cache, "train.words.txt"))
    nchars = sum(len(line) for line in raw)
    print(f"test split: {len(raw)} lines, {nchars} characters; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {"models": [], "peers": []}
    for role, path in (("student", args.model), ("teacher", args.teacher)):
        r = cws_bench.measure_lstmkit(argparse.Namespace(model=path, cache=args.cache, repeat=args.repeat),
                                      raw, gold, vocab, nchars)
        r["role"] = role
        results["models"].append(r)
        s = r["score"]
        print(f"{role:8} F1 {s['F1']:.4f}  OOV recall {s['oov_recall']:.4f}  IV recall {s['iv_recall']:.4f}  "
              f"{r['chars_per_s_t1']:,.0f} chars/s (1 thread)  {r['chars_per_s_t2']:,.0f} (2 threads)  "
              f"model {r['model_mb']:.1f} MB  ({r['model']})", flush=True)
    if args.peers:
        import cws_peers
        results["peers"] = cws_peers.run_peers(args.peers, args.cache, args.repeat, raw, gold, vocab, nchars)
        for p in results["peers"]:
            if "error" in p:
                continue
            for r in results["models"]:
                print(f"ratio {r['role']} / {p['name']}: {r['chars_per_s_t1'] / p['chars_per_s']:.2f}x (1 thread), "
                      f"{r['chars_per_s_t2'] / max(p['chars_per_s'], p.get('parallel', {}).get('chars_per_s', 0)):.2f}x "
                      f"(2 threads vs its best of 1 and 2 processes)")
    student, teacher = results["models"]
    print(f"student / teacher: {student['chars_per_s_t1'] / teacher['chars_per_s_t1']:.2f}x (1 thread), "
          f"{student['chars_per_s_t2'] / teacher['chars_per_s_t2']:.2f}x (2 threads)")
    cws_bench.write_results(results, args.out)


if __name__ == "__main__":
    main()
