#!/usr/bin/env python3
"""Does NumPy's own BLAS thread pool slow a LSTMKit call, with and without LSTMKit's limit?

Issue 6: "NumPy's own BLAS pool must not oversubscribe the cores during a LSTMKit call".
NumPy wheels ship their own OpenBLAS, whose pool takes every core. The Python binding
holds it at one thread during LSTMKit calls (lstmkit.limit_other_blas, on by default).
This times C1 of bench/lstm_speed.py (B=1, T=50, input 128, hidden 256,
unidirectional) through the Python binding at 2 threads, medians of 300 calls:

- alone;
- right after a 512x512 float32 NumPy matmul in the same thread (NumPy's workers still
  spinning);
- while another Python thread runs 256x256 NumPy matmuls without pause (a NumPy-heavy
  program that also calls LSTMKit), and how many matmuls that thread got done;

each with the limit on and off, in alternating order, 3 rounds.

Usage: env -u OPENBLAS_CORETYPE python3 bench/numpy_pool.py [--out FILE.json]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import threading
import time

import numpy as np

import lstmkit

CALLS = 300


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the medians and the setting to this JSON file")
    args = parser.parse_args()

    lstmkit.set_num_threads(2)
    pools = lstmkit.other_blas_pools()
    print(f"NumPy {np.__version__}; other OpenBLAS pools found: {pools}")
    if not pools:
        print("NumPy uses no OpenBLAS of its own here: nothing to limit")
    lstm = lstmkit.LSTM(128, 256)
    x = np.random.default_rng(0).standard_normal((1, 50, 128)).astype(np.float32)
    a = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((256, 256)).astype(np.float32)
    for _ in range(50):
        lstm(x)

    def timed(before_each=None):
        times = []
        for _ in range(CALLS):
            if before_each:
                before_each()
            t = time.perf_counter()
            lstm(x)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    def beside_numpy_thread():
        stop, done = threading.Event(), [0]

        def numpy_work():
            while not stop.is_set():
                b @ b
                done[0] += 1
        worker = threading.Thread(target=numpy_work)
        worker.start()
        time.sleep(0.05)
        start, d0 = time.perf_counter(), done[0]
        ms = timed()
        rate = (done[0] - d0) / (time.perf_counter() - start)
        stop.set()
        worker.join()
        return ms, rate

    results = {"alone": {}, "after_matmul": {}, "beside_numpy_thread": {}, "numpy_matmuls_per_s": {}}
    for r in range(3):
        for limit in ([True, False] if r % 2 == 0 else [False, True]):
            lstmkit.limit_other_blas(limit)
            key = "on" if limit else "off"
            beside, rate = beside_numpy_thread()
            for name, value in [("alone", timed()), ("after_matmul", timed(lambda: a @ a)),
                                ("beside_numpy_thread", beside), ("numpy_matmuls_per_s", rate)]:
                results[name].setdefault(key, []).append(value)
            print(f"round {r + 1}, limit {key:3}: C1 at 2 threads alone {results['alone'][key][-1]:.3f} ms, "
                  f"right after a NumPy matmul {results['after_matmul'][key][-1]:.3f} ms, "
                  f"beside a NumPy thread {beside:.3f} ms (that thread: {rate:.0f} matmuls/s)", flush=True)
    lstmkit.limit_other_blas(True)

    medians = {name: {k: statistics.median(v) for k, v in by.items()} for name, by in results.items()}
    print("\nmedians of the 3 rounds     limit on   limit off")
    for name, by in medians.items():
        unit = "/s" if name == "numpy_matmuls_per_s" else " ms"
        print(f"  {name:24} {by['on']:9.3f}{unit} {by['off']:9.3f}{unit}")
    if args.out:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"command": "env -u OPENBLAS_CORETYPE python3 bench/numpy_pool.py",
                       "head": head, "numpy": np.__version__, "other_blas_pools": pools,
                       "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                       "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                       "rounds": results, "medians": medians}, f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
