#!/usr/bin/env python3
"""Does NumPy's own BLAS thread pool slow a LSTMKit call that follows a NumPy matmul?

Issue 6: "NumPy's own BLAS pool must not oversubscribe the cores during a LSTMKit call".
NumPy ships its own OpenBLAS, whose worker threads spin for a while after each call; a
2-thread LSTMKit call made right then shares its second core with them. This times C1 of
bench/lstm_speed.py (B=1, T=50, input 128, hidden 256, unidirectional) through the
Python binding at 2 threads, alone and right after a 512x512 float32 NumPy matmul:
medians of 300 calls, 3 rounds.

Usage: env -u OPENBLAS_CORETYPE python3 bench/numpy_pool.py
"""
import statistics
import time

import numpy as np

import lstmkit


def main():
    lstmkit.set_num_threads(2)
    lstm = lstmkit.LSTM(128, 256)
    x = np.random.default_rng(0).standard_normal((1, 50, 128)).astype(np.float32)
    a = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32)
    for _ in range(50):
        lstm(x)

    def median_ms(after_matmul):
        times = []
        for _ in range(300):
            if after_matmul:
                a @ a
            t = time.perf_counter()
            lstm(x)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    for r in range(3):
        print(f"round {r + 1}: LSTMKit C1 at 2 threads alone {median_ms(False):.3f} ms, "
              f"right after a NumPy 512x512 matmul {median_ms(True):.3f} ms", flush=True)


if __name__ == "__main__":
    main()
