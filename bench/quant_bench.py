#!/usr/bin/env python3
"""int8 LSTM inference, side by side: LSTMKit int8 (LSTM.quantize()) and float32 against
PyTorch float32 and PyTorch int8 (torch.ao.quantization.quantize_dynamic of the same
nn.LSTM, qint8 weights), in one run, on docs/PERFORMANCE.md's C1 and C2.

Usage:
    env -u OPENBLAS_CORETYPE python3 bench/quant_bench.py [--quick] [--threads 1,2]
        [--rounds N] [--bench PATH] [--no-build] [--no-callgrind | --callgrind-only] [--out PATH]

    c1  latency: B=1, T=50, input 128, hidden 256, 1 layer, unidirectional (ms/seq)
    c2  throughput: B=64, T=100, input 128, hidden 256, 2 layers, bidirectional (seq/s)

Every engine runs in its own subprocess per (configuration, threads, round); the engines
alternate within a round (the order rotates between rounds); OPENBLAS_CORETYPE is removed
from every subprocess's environment (bench/lstm_speed.py's machinery, reused). Reported:
the median and best over all timed iterations, and the ratios of the medians.

With valgrind installed it also counts instructions (callgrind) of one C1 sequence at one
thread, float32 and int8: the difference between a run of 2 sequences and a run of 1, so
start-up and model construction cancel. Instruction counts do not depend on the machine's
load, unlike times.

Needs torch (PyTorch's int8 LSTM runs on its default quantized engine, fbgemm/x86 here).
Writes bench/results/quant_bench.json.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lstm_speed as ls  # noqa: E402  (the timing, subprocess and summary helpers)

REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "quant_bench.json")
CONFIGS = ["c1", "c2"]
ENGINES = ["lstmkit-int8", "lstmkit-f32", "torch-int8", "torch-f32"]


def worker_torch(name, threads, warmup, iterations, int8):
    import torch
    torch.set_num_threads(threads)
    cfg = ls.CONFIGS[name]
    _, lstm, _ = ls.torch_model(cfg)
    lstm.eval()
    if int8:
        lstm = torch.ao.quantization.quantize_dynamic(lstm, {torch.nn.LSTM}, dtype=torch.qint8)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(cfg["batch"], cfg["steps"], cfg["input"], generator=g)

    def body():
        with torch.inference_mode():
            lstm(x)

    times = ls.timed(body, warmup, iterations)
    return {"engine": "torch-int8" if int8 else "torch-f32", "config": name, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "quantized_engine": torch.backends.quantized.engine,
            "times_s": times, "vmhwm_kib": ls.vmhwm_kib()}


def command(engine, name, threads, warmup, iterations, bench):
    if engine.startswith("lstmkit"):
        return [bench, name + ("q8" if engine == "lstmkit-int8" else ""), str(threads), str(warmup), str(iterations)]
    return [sys.executable, os.path.abspath(__file__), "--worker", engine, name, str(threads), str(warmup), str(iterations)]


def callgrind_instructions(bench, config, sequences):
    """Instructions (callgrind's Ir) of `lstmkit-bench config 1 0 sequences`, on a copy of
    the binary stripped of debug info (valgrind 3.19 cannot read the toolchain's DWARF)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, stripped = os.path.join(tmp, "callgrind.out"), os.path.join(tmp, "lstmkit-bench")
        subprocess.run(["objcopy", "--strip-debug", bench, stripped], check=True)
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", stripped, config, "1", "0",
                            str(sequences)], capture_output=True, text=True, env=ls.engine_env(1))
        if p.returncode != 0:
            raise RuntimeError(f"valgrind failed:\n{p.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        return int(m.group(1))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        engine, name, threads, warmup, iterations = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
        print(json.dumps(worker_torch(name, threads, warmup, iterations, engine == "torch-int8")))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of alternating engines (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--callgrind-only", action="store_true", help="only the instruction counts (no timing)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    rounds = args.rounds or (1 if args.quick else 3)
    iters = ls.QUICK_ITERATIONS if args.quick else ls.ITERATIONS
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", os.path.join(REPO, ".build-bench"),
                        "--product", "lstmkit-bench"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    cpu, cores = ls.lscpu_model()
    report = {
        "machine": {"cpu": cpu, "cores": cores, "load_average_at_start": os.getloadavg()},
        "openblas_coretype": {"shell": os.environ.get("OPENBLAS_CORETYPE"), "engine_subprocesses": "unset"},
        "git_head": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                   text=True).stdout.strip(),
        "rounds": rounds, "quick": args.quick, "rows": [],
    }
    print(f"{cpu}, {cores} cores; load average {os.getloadavg()[0]:.2f}; OPENBLAS_CORETYPE unset for the engines", flush=True)
    for name in [] if args.callgrind_only else CONFIGS:
        cfg = ls.CONFIGS[name]
        warmup, iterations = iters[name]
        for threads in thread_counts:
            times = {e: [] for e in ENGINES}
            info = {}
            for r in range(rounds):
                order = ENGINES[r % len(ENGINES):] + ENGINES[:r % len(ENGINES)]
                for engine in order:
                    out = ls.run_child(command(engine, name, threads, warmup, iterations, args.bench), threads)
                    times[engine] += out["times_s"]
                    info[engine] = {k: out[k] for k in ("q8_isa", "quantized_engine", "torch") if k in out}
            row = {"config": name, "title": cfg["title"], "unit": cfg["unit"], "threads": threads, "info": info}
            for e in ENGINES:
                row[e] = ls.summarize(cfg["unit"], cfg["batch"], times[e])
            med = {e: row[e]["median"] for e in ENGINES}
            # Speed-ups > 1 mean LSTMKit int8 is faster, whatever the unit.
            faster = (lambda a, b: b / a) if cfg["unit"] == "ms/seq" else (lambda a, b: a / b)
            row["int8_vs_f32"] = faster(med["lstmkit-int8"], med["lstmkit-f32"])
            row["int8_vs_torch_int8"] = faster(med["lstmkit-int8"], med["torch-int8"])
            row["torch_int8_vs_torch_f32"] = faster(med["torch-int8"], med["torch-f32"])
            report["rows"].append(row)
            print(f"{cfg['title']}, {threads} thread(s), {cfg['unit']} median (best): "
                  + "; ".join(f"{e} {ls.fmt(row[e]['median'], cfg['unit'])} ({ls.fmt(row[e]['best'], cfg['unit'])})" for e in ENGINES)
                  + f" | speed-up int8/f32 {row['int8_vs_f32']:.2f}x, vs torch int8 {row['int8_vs_torch_int8']:.2f}x"
                  + f" (torch int8/f32 {row['torch_int8_vs_torch_f32']:.2f}x)", flush=True)
    write(report, args.out)
    if not args.no_callgrind:
        counts = {}
        for config in ("c1", "c1q8"):
            counts[config] = callgrind_instructions(args.bench, config, 2) - callgrind_instructions(args.bench, config, 1)
        report["callgrind_c1_one_sequence"] = counts
        print(f"callgrind, one C1 sequence at 1 thread: float32 {counts['c1'] / 1e6:.2f} M instructions, "
              f"int8 {counts['c1q8'] / 1e6:.2f} M ({counts['c1'] / counts['c1q8']:.2f}x fewer)", flush=True)
    write(report, args.out)
    print(f"wrote {os.path.relpath(args.out, REPO)}")


def write(report, path):
    report["load_average_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
