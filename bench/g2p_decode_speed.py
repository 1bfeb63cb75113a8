#!/usr/bin/env python3
"""Issue 20's decoding-speed bar on equal weights: beam-5 G2P words/s of LSTMKit against
its PyTorch peer (bench/g2p_peer.py) at 1 and 2 threads, both decoding ONE model file.

No training: the model file (default the bundled models/g2p-cmudict.safetensors, or any
Seq2Seq G2P file of the peer's architecture) is decoded by `lstmkit-bench g2p decode`
(as bench/g2p_bench.py does) and loaded into the peer under the file's names
(g2p_peer.load_lstmkit, as bench/g2p_peer_test.py checks; F16/BF16 tensors are widened
to F32). Both decode the dev words (data-cache/g2p/dev.tsv, bench/g2p_data.py), in
batches of 64 words of similar length, greedily and with beam --beam (length penalty 1,
the model's max_length_ratio). Reported:
  - agreement: the share of words whose outputs are the same in both engines (greedy and
    beam; 100 % up to float ties is the expected figure: the same model and search);
  - words/s: each engine's decoding time only (the model loaded, the words read), over
    --rounds rounds; in each round every (threads, decoding) runs once per engine, the
    engine going first alternating from round to round; the medians and their ratio.
OPENBLAS_CORETYPE is removed (OpenBLAS picks its own kernels, as in g2p_bench.py and
lstm_speed.py). The peer runs in this process (torch.set_num_threads), LSTMKit in a
subprocess per run (BLAS.numThreads and `threads` batches at once).

    /tmp/venv-g2p-bench/bin/python bench/g2p_decode_speed.py [--rounds 3] [--model M] [--data DIR] [--words N]

The Python running it needs torch. Writes bench/results/g2p_decode_speed.json (--out) and
prints the table. Takes a few minutes on an idle two-core machine.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_bench  # noqa: E402
import g2p_data  # noqa: E402
import g2p_peer  # noqa: E402

REPO = g2p_data.REPO


def log(msg):
    print(f"[g2p_decode_speed] {msg}", flush=True)


def agreement(a, b):
    """The share of positions where the two lists of outputs are equal."""
    return sum(x == y for x, y in zip(a, b)) / len(a)


def table(report):
    rows = [f"{'decoding':<8} {'threads':>7} {'lstmkit w/s':>11} {'pytorch w/s':>11} {'ratio':>6} {'same outputs':>12}"]
    for name, by_threads in report["speed"].items():
        for t, s in by_threads.items():
            rows.append(f"{name:<8} {t:>7} {s['lstmkit_median']:>11.0f} {s['pytorch_median']:>11.0f} {s['ratio']:>6.2f} "
                        f"{100 * report['agreement'][name]:>11.2f}%")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "g2p-cmudict.safetensors"))
    ap.add_argument("--data", default=g2p_data.DEFAULT_CACHE, help="bench/g2p_data.py's folder (default data-cache/g2p)")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per engine, threads and decoding (default 3)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--words", type=int, default=0, help="only the first N dev words (default: all)")
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "g2p_decode_speed.json"))
    args = ap.parse_args()
    if args.rounds < 1 or args.beam < 2 or args.words < 0:
        sys.exit("[g2p_decode_speed] --rounds must be >= 1, --beam >= 2, --words >= 0")
    threads = [int(t) for t in args.threads.split(",")]
    coretype = os.environ.pop("OPENBLAS_CORETYPE", None)   # before the peer's OpenBLAS loads

    if not os.path.exists(os.path.join(args.data, "dev.tsv")):
        g2p_data.prepare(args.data)
    if not args.no_build:
        g2p_bench.build_bench()
    peer, source, target, meta = g2p_peer.load_lstmkit(args.model)
    ratio = float(meta["max_length_ratio"])
    with open(os.path.join(args.data, "dev.tsv"), encoding="utf-8") as f:
        words = [line.split("\t")[0] for line in f if line.strip()]
    words = words[:args.words] if args.words else words
    sources = [source.encode(w) for w in words]
    tmp = tempfile.TemporaryDirectory()
    words_tsv = os.path.join(tmp.name, "words.tsv")
    with open(words_tsv, "w", encoding="utf-8") as f:
        f.writelines(w + "\n" for w in words)
    g2p_peer.timed_decode(peer, sources[:64], args.beam, 1, ratio)   # warms torch up (first-call costs)

    modes = {"greedy": 1, f"beam{args.beam}": args.beam}
    times = {name: {t: {"lstmkit": [], "pytorch": []} for t in threads} for name in modes}
    outputs = {name: {} for name in modes}   # (engine, threads) → outputs of the first round

    def run(engine, name, t):
        if engine == "lstmkit":
            out = g2p_bench.decode(args.bench, args.model, words_tsv, t, modes[name])
            if out is None:
                sys.exit("[g2p_decode_speed] ERROR: lstmkit-bench g2p decode failed")
            wps, predictions = out["words_per_second"], out["predictions"]
        else:
            wps, ids = g2p_peer.timed_decode(peer, sources, modes[name], t, ratio)
            predictions = [g2p_peer.texts(target, i) for i in ids]
        times[name][t][engine].append(wps)
        outputs[name].setdefault((engine, t), predictions)
        log(f"round {r + 1}: {engine:<7} {name:<7} {t} thread{'s' if t > 1 else ''}: {wps:.0f} words/s")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, stdout=subprocess.PIPE, text=True).stdout.strip()
    report = {"command": " ".join([os.path.basename(sys.executable), "bench/g2p_decode_speed.py"] + sys.argv[1:]),
              "commit": commit, "model": os.path.relpath(os.path.abspath(args.model), REPO), "words": len(words),
              "beam": args.beam, "rounds": args.rounds, "openblas_coretype_removed": coretype,
              "torch": g2p_peer.torch.__version__,
              "machine": {"python": platform.python_version(), "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()},
              "note": "the same weights in both engines; words/s = dev words / decoding seconds (model loading excluded); "
                      "medians over the rounds, engines alternating"}
    t0 = time.monotonic()
    for r in range(args.rounds):
        engines = ("lstmkit", "pytorch") if r % 2 == 0 else ("pytorch", "lstmkit")
        for t in threads:
            for name in modes:
                for engine in engines:
                    run(engine, name, t)
    report["seconds"] = time.monotonic() - t0
    report["machine"]["load_average_at_end"] = os.getloadavg()

    # The same outputs: across engines (the agreement reported), and within an engine
    # across thread counts (a decoding must not depend on them).
    report["agreement"] = {name: agreement(outputs[name][("lstmkit", threads[0])], outputs[name][("pytorch", threads[0])])
                           for name in modes}
    report["thread_independent"] = {name: all(outputs[name][(e, t)] == outputs[name][(e, threads[0])]
                                              for e in ("lstmkit", "pytorch") for t in threads) for name in modes}
    report["disagreements"] = {name: [(w, a, b) for w, a, b in zip(words, outputs[name][("lstmkit", threads[0])],
                                                                   outputs[name][("pytorch", threads[0])]) if a != b][:20]
                               for name in modes}
    report["speed"] = {}
    for name in modes:
        report["speed"][name] = {}
        for t in threads:
            s = times[name][t]
            lk, pt = statistics.median(s["lstmkit"]), statistics.median(s["pytorch"])
            report["speed"][name][str(t)] = {"lstmkit": s["lstmkit"], "pytorch": s["pytorch"], "lstmkit_median": lk,
                                             "pytorch_median": pt, "ratio": lk / pt}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(table(report))
    if not all(report["thread_independent"].values()):
        log(f"WARNING: an engine's outputs depend on the thread count: {report['thread_independent']}")
    log(f"load average {report['machine']['load_average_at_start'][0]:.1f} at the start, "
        f"{report['machine']['load_average_at_end'][0]:.1f} at the end; wrote {os.path.relpath(os.path.abspath(args.out), REPO)}")


if __name__ == "__main__":
    main()
