#!/usr/bin/env python3
"""LSTM speed, side by side: LSTMKit against PyTorch (CPU, default dispatch) and ONNX
Runtime (the same model exported with torch.onnx.export), in one run.

Usage:
    python3 bench/lstm_speed.py [--quick] [--configs c1,c2,c3,c4] [--threads 1,2]
                                [--rounds N] [--bench PATH] [--no-build]

Configurations (float32, batch-first, zero initial state, every sequence full length):
    c1  inference latency: B=1, T=50, input 128, hidden 256, 1 layer, unidirectional
    c2  inference throughput: B=64, T=100, input 128, hidden 256, 2 layers, bidirectional
    c3  training throughput: c2's model + Linear(512 -> 10) on every step, mean token
        cross-entropy, forward + backward + Adam step
    c4  tagger training: B=32, T=50, Embedding(5000, 100) -> 1-layer BiLSTM(128) ->
        Linear(256 -> 4), token cross-entropy, forward + backward + Adam step
    c4gru  c4 with a BiGRU(128) on both sides (torch.nn.GRU): issue 19's GRU bar; not in
        the default --configs (run: --configs c4gru,c4 --no-sgemm --out bench/results/gru_speed.json)
plus sgemm GFLOP/s of the OpenBLAS that LSTMKit loads (1024^3 and the c2 step shape
M=64, N=1024, K=256), with torch.matmul (MKL) beside it for reference.

Every engine runs in its own subprocess per (configuration, threads, round), so each
process's peak RSS is that engine's alone: VmHWM from /proc/self/status, read by the
subprocess at its end (the driver imports no engine; ru_maxrss from wait4 is kept as a
cross-check, but it includes the forked driver's RSS before exec). The engines alternate
within each round (the order rotates between rounds); each subprocess warms up before
it times. Reported: median and best over all timed iterations of all rounds, and the
ratio LSTMKit/peer of the medians. OPENBLAS_CORETYPE is removed from the environment
of every engine subprocess (this machine exports OPENBLAS_CORETYPE=Haswell, which would
pin OpenBLAS to its AVX2 kernels; a user's machine lets OpenBLAS pick).

Threads: LSTMKit BLAS.numThreads, torch.set_num_threads, ORT intra_op_num_threads.

Needs torch, onnx and onnxruntime (bench-only: `pip install onnx onnxruntime`) and the
release bench binary (built here with `swift build -c release --scratch-path .build-bench
--product lstmkit-bench` unless --no-build). Writes bench/results/lstm_speed.json.
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "lstm_speed.json")

CONFIGS = {
    "c1": dict(kind="infer", batch=1, steps=50, input=128, hidden=256, layers=1, bidirectional=False,
               unit="ms/seq", title="C1 latency B=1 T=50 1x256 uni"),
    "c2": dict(kind="infer", batch=64, steps=100, input=128, hidden=256, layers=2, bidirectional=True,
               unit="seq/s", title="C2 inference B=64 T=100 2x256 bi"),
    "c3": dict(kind="train", batch=64, steps=100, input=128, hidden=256, layers=2, bidirectional=True,
               classes=10, unit="seq/s", title="C3 training B=64 T=100 2x256 bi"),
    "c4": dict(kind="tagger", batch=32, steps=50, vocab=5000, input=100, hidden=128, layers=1,
               bidirectional=True, classes=4, unit="seq/s", title="C4 tagger training B=32 T=50"),
    "c4gru": dict(kind="tagger", cell="GRU", batch=32, steps=50, vocab=5000, input=100, hidden=128, layers=1,
                  bidirectional=True, classes=4, unit="seq/s", title="C4-GRU tagger training B=32 T=50"),
}
ENGINES = {"c1": ["lstmkit", "torch", "ort"], "c2": ["lstmkit", "torch", "ort"],
           "c3": ["lstmkit", "torch"], "c4": ["lstmkit", "torch"], "c4gru": ["lstmkit", "torch"]}
# (warm-up, timed iterations) per subprocess; full run and --quick.
ITERATIONS = {"c1": (30, 200), "c2": (2, 6), "c3": (2, 5), "c4": (5, 30), "c4gru": (5, 30)}
QUICK_ITERATIONS = {"c1": (10, 30), "c2": (1, 2), "c3": (1, 2), "c4": (2, 5), "c4gru": (2, 5)}
SGEMM_SHAPES = [(1024, 1024, 1024), (64, 1024, 256)]


def engine_env(threads):
    """The environment of every engine subprocess: OPENBLAS_CORETYPE removed."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    # Thread counts are set through each engine's own API; these only keep the
    # OpenMP/MKL pools from starting more threads than asked for before that call.
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def run_child(cmd, threads):
    """Runs one engine subprocess; returns its JSON output with its peak RSS in MiB."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=engine_env(threads), text=True)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["ru_maxrss_mib"] = usage.ru_maxrss / 1024   # KiB on Linux
    result["peak_rss_mib"] = result.pop("vmhwm_kib", 0) / 1024 or result["ru_maxrss_mib"]
    return result


def vmhwm_kib():
    """This process's peak RSS (VmHWM), in KiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- engine workers
# Each worker imports only its own engine, times warm-up + iterations, prints JSON.

def timed(body, warmup, iterations):
    for _ in range(warmup):
        body()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        body()
        times.append(time.perf_counter() - t0)
    return times


def torch_model(cfg):
    import torch
    torch.manual_seed(1)
    if cfg["kind"] == "tagger":
        emb = torch.nn.Embedding(cfg["vocab"], cfg["input"])
    else:
        emb = None
    lstm = getattr(torch.nn, cfg.get("cell", "LSTM"))(cfg["input"], cfg["hidden"], num_layers=cfg["layers"],
                                                      bidirectional=cfg["bidirectional"], batch_first=True)
    head = None
    if cfg["kind"] in ("train", "tagger"):
        head = torch.nn.Linear(cfg["hidden"] * (2 if cfg["bidirectional"] else 1), cfg["classes"])
    return emb, lstm, head


def worker_torch(name, threads, warmup, iterations):
    import torch
    torch.set_num_threads(threads)
    cfg = CONFIGS[name]
    emb, lstm, head = torch_model(cfg)
    b, t = cfg["batch"], cfg["steps"]
    g = torch.Generator().manual_seed(2)
    if cfg["kind"] == "infer":
        lstm.eval()
        x = torch.randn(b, t, cfg["input"], generator=g)

        def body():
            with torch.inference_mode():
                lstm(x)
    else:
        modules = [m for m in (emb, lstm, head) if m is not None]
        params = [p for m in modules for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        targets = torch.randint(0, cfg["classes"], (b * t,), generator=g)
        if emb is not None:
            ids = torch.randint(0, cfg["vocab"], (b, t), generator=g)
        else:
            x = torch.randn(b, t, cfg["input"], generator=g)

        def body():
            opt.zero_grad()
            inp = emb(ids) if emb is not None else x
            y, _ = lstm(inp)
            logits = head(y)
            loss = torch.nn.functional.cross_entropy(logits.reshape(b * t, -1), targets)
            loss.backward()
            opt.step()

    times = timed(body, warmup, iterations)
    return {"engine": "torch", "config": name, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "times_s": times, "vmhwm_kib": vmhwm_kib()}


def worker_torch_sgemm(threads, warmup, iterations, m, n, k):
    import torch
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(2)
    a, bt = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g)
    times = timed(lambda: torch.matmul(a, bt.t()), warmup, iterations)
    flops = 2.0 * m * n * k
    return {"engine": "torch", "config": "sgemm", "threads": threads, "times_s": times,
            "gflops_median": flops / statistics.median(times) / 1e9, "gflops_best": flops / min(times) / 1e9,
            "vmhwm_kib": vmhwm_kib()}


def export_onnx(name, path):
    """torch.onnx.export of the same torch model (legacy exporter: one ONNX LSTM op)."""
    import torch
    cfg = CONFIGS[name]
    _, lstm, _ = torch_model(cfg)
    lstm.eval()
    x = torch.zeros(cfg["batch"], cfg["steps"], cfg["input"])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(lstm, (x,), path, dynamo=False, input_names=["x"], output_names=["y", "h", "c"])


def worker_ort(name, threads, warmup, iterations, model_path):
    import numpy as np
    import onnxruntime as ort
    cfg = CONFIGS[name]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).standard_normal((cfg["batch"], cfg["steps"], cfg["input"]), dtype=np.float32)
    times = timed(lambda: sess.run(["y"], {"x": x}), warmup, iterations)
    return {"engine": "ort", "config": name, "threads": threads, "onnxruntime": ort.__version__, "times_s": times,
            "vmhwm_kib": vmhwm_kib()}


def worker_main(argv):
    if argv[0] == "export":   # export <config> <path>...: the ONNX files, then versions
        for name, path in zip(argv[1::2], argv[2::2]):
            export_onnx(name, path)
        import onnxruntime
        import torch
        print(json.dumps({"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}))
        return
    engine, name, threads, warmup, iterations = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    if engine == "torch" and name == "sgemm":
        out = worker_torch_sgemm(threads, warmup, iterations, *map(int, argv[5:8]))
    elif engine == "torch":
        out = worker_torch(name, threads, warmup, iterations)
    elif engine == "ort":
        out = worker_ort(name, threads, warmup, iterations, argv[5])
    else:
        raise SystemExit(f"unknown engine {engine}")
    print(json.dumps(out))


# ---------------------------------------------------------------- driver

def command(engine, name, threads, warmup, iterations, bench, onnx_paths, extra=()):
    if engine == "lstmkit":
        return [bench, name, str(threads), str(warmup), str(iterations), *map(str, extra)]
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine, name, str(threads), str(warmup), str(iterations)]
    if engine == "ort":
        cmd.append(onnx_paths[name])
    return cmd + [str(e) for e in extra]


def summarize(unit, batch, times):
    """Median and best in the row's unit (ms per sequence, or sequences per second)."""
    med, best = statistics.median(times), min(times)
    if unit == "ms/seq":
        return {"median": med * 1e3 / batch, "best": best * 1e3 / batch}
    return {"median": batch / med, "best": batch / best}


def lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return fields.get("Model name", "?").strip(), os.cpu_count()
    except OSError:
        return platform.processor() or "?", os.cpu_count()


def fmt(x, unit):
    if x is None:
        return "—"
    return f"{x:.3f}" if unit == "ms/seq" else f"{x:.1f}"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default="c1,c2,c3,c4")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of alternating engines (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="few iterations, one round: for development")
    ap.add_argument("--no-sgemm", action="store_true")
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    configs = args.configs.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    rounds = args.rounds or (1 if args.quick else 3)
    iters = QUICK_ITERATIONS if args.quick else ITERATIONS

    removed = os.environ.get("OPENBLAS_CORETYPE")
    print(f"OPENBLAS_CORETYPE: removed from every engine subprocess's environment"
          f" (this shell has {'OPENBLAS_CORETYPE=' + removed if removed else 'it unset'}), so OpenBLAS picks its own kernels",
          flush=True)
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", os.path.join(REPO, ".build-bench"),
                        "--product", "lstmkit-bench"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)

    cpu, cores = lscpu_model()
    report = {
        "machine": {"cpu": cpu, "cores": cores, "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "openblas_coretype": {"shell": removed, "engine_subprocesses": "unset"},
        "command": " ".join([os.path.basename(sys.executable), os.path.relpath(os.path.abspath(__file__), REPO)] + sys.argv[1:]),
        "lstmkit_bench": args.bench,
        "git_head": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip(),
        "rounds": rounds, "quick": args.quick, "configs": {}, "sgemm": [],
        "ratio": "LSTMKit / peer of the medians, in the row's unit (ms/seq: lower is better for LSTMKit; seq/s and GFLOP/s: higher is)",
    }

    with tempfile.TemporaryDirectory() as tmp:
        # The driver imports no engine (so it stays small); a subprocess exports the models.
        onnx_paths = {name: os.path.join(tmp, f"{name}.onnx") for name in configs if "ort" in ENGINES[name]}
        export = [sys.executable, os.path.abspath(__file__), "--worker", "export"]
        for name, path in onnx_paths.items():
            export += [name, path]
        versions = json.loads(subprocess.run(export, check=True, capture_output=True, text=True,
                                             env=engine_env(1)).stdout.strip().splitlines()[-1])
        report["versions"] = versions

        for name in configs:
            cfg = CONFIGS[name]
            warmup, iterations = iters[name]
            report["configs"][name] = {"title": cfg["title"], "unit": cfg["unit"], "spec": cfg, "threads": {}}
            for threads in thread_counts:
                times = {e: [] for e in ENGINES[name]}
                rss = {e: 0.0 for e in ENGINES[name]}
                for r in range(rounds):
                    order = ENGINES[name][r % len(ENGINES[name]):] + ENGINES[name][:r % len(ENGINES[name])]
                    for engine in order:
                        out = run_child(command(engine, name, threads, warmup, iterations, args.bench, onnx_paths), threads)
                        times[engine] += out["times_s"]
                        rss[engine] = max(rss[engine], out["peak_rss_mib"])
                        if engine == "lstmkit":
                            report["openblas"] = out["blas_config"]
                row = {}
                for engine in ENGINES[name]:
                    row[engine] = summarize(cfg["unit"], cfg["batch"], times[engine])
                    row[engine]["peak_rss_mib"] = rss[engine]
                    row[engine]["samples"] = len(times[engine])
                for peer in ENGINES[name][1:]:
                    row[f"ratio_{peer}"] = row["lstmkit"]["median"] / row[peer]["median"]
                    row[f"rss_ratio_{peer}"] = row["lstmkit"]["peak_rss_mib"] / row[peer]["peak_rss_mib"]
                report["configs"][name]["threads"][str(threads)] = row
                line = f"{cfg['title']:<36} t{threads}  " + "  ".join(
                    f"{e} {fmt(row[e]['median'], cfg['unit'])} (best {fmt(row[e]['best'], cfg['unit'])}, {row[e]['peak_rss_mib']:.0f} MiB)"
                    for e in ENGINES[name])
                line += f"  [{cfg['unit']}]  " + "  ".join(f"LSTMKit/{p} {row['ratio_' + p]:.2f}" for p in ENGINES[name][1:])
                print(line, flush=True)

    if not args.no_sgemm:
        for (m, n, k) in SGEMM_SHAPES:
            warmup, iterations = (2, 10) if m * n * k > 1e8 else (20, 200)
            if args.quick:
                warmup, iterations = max(1, warmup // 2), max(3, iterations // 10)
            for threads in thread_counts:
                entry = {"m": m, "n": n, "k": k, "threads": threads}
                for engine in ("lstmkit", "torch"):
                    out = run_child(command(engine, "sgemm", threads, warmup, iterations, args.bench, {}, (m, n, k)), threads)
                    entry[engine] = {"gflops_median": out["gflops_median"], "gflops_best": out["gflops_best"]}
                report["sgemm"].append(entry)
                print(f"sgemm M={m} N={n} K={k} t{threads}: OpenBLAS (LSTMKit) {entry['lstmkit']['gflops_median']:.1f} GFLOP/s"
                      f" (best {entry['lstmkit']['gflops_best']:.1f}); torch.matmul {entry['torch']['gflops_median']:.1f}"
                      f" (best {entry['torch']['gflops_best']:.1f})", flush=True)

    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["table"] = markdown_table(report, thread_counts)
    print()
    print(f"machine: {cpu}, {cores} cores; {report.get('openblas', '?')}; torch {versions['torch']}, "
          f"onnxruntime {versions['onnxruntime']}; OPENBLAS_CORETYPE unset for every engine; load average "
          f"{report['machine']['load_average_at_start'][0]:.2f} at start, {report['machine']['load_average_at_end'][0]:.2f} at end")
    print()
    print(report["table"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"\nwrote {os.path.relpath(args.out, REPO)}")


def markdown_table(report, thread_counts):
    lines = ["| config | threads | unit | LSTMKit median (best) | torch median (best) | ORT median (best) | LSTMKit/torch | LSTMKit/ORT |",
             "|---|---|---|---|---|---|---|---|"]
    for name, c in report["configs"].items():
        unit = c["unit"]
        for t in thread_counts:
            row = c["threads"].get(str(t))
            if row is None:
                continue
            cells = []
            for e in ("lstmkit", "torch", "ort"):
                cells.append(f"{fmt(row[e]['median'], unit)} ({fmt(row[e]['best'], unit)})" if e in row else "—")
            ratios = [f"{row['ratio_' + p]:.2f}" if f"ratio_{p}" in row else "—" for p in ("torch", "ort")]
            lines.append(f"| {c['title']} | {t} | {unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    for name in ("c2", "c3"):
        c = report["configs"].get(name)
        if c is None:
            continue
        for t in thread_counts:
            row = c["threads"].get(str(t))
            if row is None:
                continue
            cells = [f"{row[e]['peak_rss_mib']:.0f}" if e in row else "—" for e in ("lstmkit", "torch", "ort")]
            ratios = [f"{row['rss_ratio_' + p]:.2f}" if f"rss_ratio_{p}" in row else "—" for p in ("torch", "ort")]
            lines.append(f"| {c['title'].split(' ')[0]} peak RSS | {t} | MiB | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    for e in report["sgemm"]:
        lines.append(f"| sgemm {e['m']}x{e['n']}x{e['k']} (A·Bᵀ) | {e['threads']} | GFLOP/s | "
                     f"{e['lstmkit']['gflops_median']:.1f} ({e['lstmkit']['gflops_best']:.1f}) | "
                     f"{e['torch']['gflops_median']:.1f} ({e['torch']['gflops_best']:.1f}) | — | "
                     f"{e['lstmkit']['gflops_median'] / e['torch']['gflops_median']:.2f} | — |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
